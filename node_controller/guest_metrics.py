"""The NC's guest samples for CloudWatch (docs/metrics.md, "CloudWatch").

Every `[nc] metrics_seconds` the sampler reads each running guest's cumulative
counters from the hypervisor (one thread hop for all of them) and keeps the
difference from the guest's previous reading as one sample, in a small ring per
guest (`[nc] metrics_ring` samples; the oldest goes first, counted). Samples go
up with the CC's polls (describe_resource): each carries a sequence number, the
CC acks the last one it holds with its next poll, and the NC sends only what
is newer. The epoch (a fresh token per NC start) tells a CC that the numbers
began again.

A sample on the wire is a list of ints (SAMPLE_FIELDS): its sequence number,
when it ended (Unix seconds), how long it covers (ms), then the counters'
growth over that time: CPU time in microseconds, network bytes and packets in
and out (the guest's view), disk bytes and operations read and written.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from typing import Callable

from node_controller.hypervisor.protocol import GuestCounters, Hypervisor

log = logging.getLogger(__name__)

SAMPLE_FIELDS = ("seq", "time", "ms", "cpu_us", "net_in_bytes", "net_out_bytes",
                 "net_in_packets", "net_out_packets", "disk_read_bytes", "disk_write_bytes",
                 "disk_read_ops", "disk_write_ops")


def _growth(now: GuestCounters, before: GuestCounters | None) -> list[int]:
    """What each counter grew by; a counter that went back (the guest was powered
    off and on, its counters began again) counts from zero."""
    def grew(a: int, b: int | None) -> int:
        return a - b if b is not None and a >= b else a
    b = before or GuestCounters()
    fresh = before is None or now.cpu_ns < b.cpu_ns
    pairs = ((now.cpu_ns // 1000, None if fresh else b.cpu_ns // 1000),
             (now.net_rx_bytes, b.net_rx_bytes), (now.net_tx_bytes, b.net_tx_bytes),
             (now.net_rx_packets, b.net_rx_packets), (now.net_tx_packets, b.net_tx_packets),
             (now.disk_read_bytes, b.disk_read_bytes),
             (now.disk_write_bytes, b.disk_write_bytes),
             (now.disk_read_ops, b.disk_read_ops), (now.disk_write_ops, b.disk_write_ops))
    return [grew(a, None if fresh else p) for a, p in pairs]


class GuestSampler:
    def __init__(self, driver: Hypervisor, running: Callable[[], list[str]],
                 interval: float, ring: int, clock=time.monotonic, wall=time.time):
        self.driver = driver
        self.running = running  # the ids of the instances that should be running
        self.interval = interval
        self.ring = max(1, ring)
        self.epoch = secrets.token_hex(4)
        self.dropped = 0  # samples the rings pushed out before a CC took them
        self._clock, self._wall = clock, wall
        self._seq = 0
        self._last: dict[str, tuple[float, GuestCounters]] = {}  # id -> (monotonic, counters)
        self._rings: dict[str, deque[list[int]]] = {}

    async def sample(self) -> None:
        """One reading of every running guest: a sample each, from its last reading."""
        names = self.running()
        counters = await asyncio.to_thread(self.driver.guest_counters, names)
        now, wall = self._clock(), int(self._wall())
        for name, value in counters.items():
            last = self._last.get(name)
            self._last[name] = (now, value)
            if last is None:
                continue  # the first reading only sets where the next sample starts
            ms = int((now - last[0]) * 1000)
            if ms <= 0:
                continue
            self._seq += 1
            ring = self._rings.setdefault(name, deque(maxlen=self.ring))
            if len(ring) == ring.maxlen:
                self.dropped += 1
            ring.append([self._seq, wall, ms, *_growth(value, last[1])])
        for gone in set(self._last) - set(counters):  # stopped or ended: forget its reading
            del self._last[gone]
        for name in [n for n, r in self._rings.items() if not r and n not in counters]:
            del self._rings[name]

    def report(self, ack: dict | None) -> dict:
        """The samples a CC has not acked ({"epoch", "seq"} from its last poll's
        answer: acked ones are dropped here), for describe_resource's answer."""
        if ack and ack.get("epoch") == self.epoch:
            upto = int(ack.get("seq") or 0)
            for ring in self._rings.values():
                while ring and ring[0][0] <= upto:
                    ring.popleft()
        guests = {name: list(ring) for name, ring in self._rings.items() if ring}
        return {"epoch": self.epoch, "dropped": self.dropped, "guests": guests}

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # one bad reading must not end the sampling
                log.exception("guest sampling failed")
            await asyncio.sleep(self.interval)
