"""The CC's relay of guest samples from its nodes to the CLC (docs/metrics.md).

Each poll of a node brings the samples it has that the CC did not ack
(node_controller/guest_metrics.py); the next poll acks the last one taken.
Here they wait, each with a sequence number of the CC's own, until the CLC
acks them with its next describe_resources the same way. Soft state, bounded:
past `[cc] metrics_buffer` samples the oldest go first, counted (the CLC has
been away that long); a CC restart loses what was waiting, as a new epoch
tells the CLC.
"""
from __future__ import annotations

import secrets
from collections import deque

# At most this many samples in one answer to the CLC (the rest come with the next polls).
MAX_PER_ANSWER = 5000


class MetricsRelay:
    def __init__(self, capacity: int):
        self.epoch = secrets.token_hex(4)
        self.dropped = 0
        self._seq = 0
        self._samples: deque[list] = deque(maxlen=max(1, capacity))

    def take(self, node, batch: dict | None) -> None:
        """A node's poll answered with `batch` (its "metrics"): keep its new
        samples, and ack them on the node's next poll."""
        if not batch:
            return
        acked = node.metrics_ack if (node.metrics_ack or {}).get("epoch") == batch["epoch"] \
            else {"epoch": batch["epoch"], "seq": 0}
        upto = acked["seq"]
        for instance_id, rows in batch.get("guests", {}).items():
            for row in rows:
                if row[0] <= upto:  # already taken from an answer whose ack was lost
                    continue
                if len(self._samples) == self._samples.maxlen:
                    self.dropped += 1
                self._seq += 1
                self._samples.append([self._seq, instance_id, *row[1:]])
                acked = {"epoch": batch["epoch"], "seq": max(acked["seq"], row[0])}
        node.metrics_ack = acked

    def report(self, ack: dict | None) -> dict:
        """What the CLC has not acked ({"epoch", "seq"}), oldest first, bounded."""
        if ack and ack.get("epoch") == self.epoch:
            upto = int(ack.get("seq") or 0)
            while self._samples and self._samples[0][0] <= upto:
                self._samples.popleft()
        rows = [row for _, row in zip(range(MAX_PER_ANSWER), self._samples)]
        return {"epoch": self.epoch, "dropped": self.dropped, "samples": rows}

    def __len__(self) -> int:
        return len(self._samples)
