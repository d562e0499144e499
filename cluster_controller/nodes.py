"""The CC's node registry: the nodes named in its configuration, polled.

Soft state only: everything here is rebuilt from the next poll. A node that
does not answer is marked unreachable with the reason, logged once per change.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from mallee.polling import Poller
from mallee.errors import ApiError
from node_controller.client import NodeClient

log = logging.getLogger(__name__)


@dataclass
class Node:
    endpoint: str
    client: NodeClient
    status: str = "unknown"  # up | unreachable | unknown
    reason: str | None = "not polled yet"
    resource: dict = field(default_factory=dict)
    polled_at: float = 0.0

    def describe(self) -> dict:
        r = self.resource
        return {"endpoint": self.endpoint, "name": r.get("name", self.endpoint),
                "status": self.status, "reason": self.reason, "polled_at": self.polled_at,
                "hypervisor": r.get("hypervisor"),
                "cores_total": r.get("cores_total", 0), "cores_free": r.get("cores_free", 0),
                "memory_total_mb": r.get("memory_total_mb", 0),
                "memory_free_mb": r.get("memory_free_mb", 0),
                "disk_total_gb": r.get("disk_total_gb", 0),
                "disk_free_gb": r.get("disk_free_gb", 0),
                "instances": r.get("instances", [])}


FAST_POLL = 0.25  # seconds between polls while a change we asked for is under way


class NodeRegistry:
    def __init__(self, nodes: list[Node], interval: float):
        self.nodes = nodes
        self.interval = interval
        self.after_poll = []  # async callbacks run after every round
        self.busy = lambda: False  # True while launches or terminations are in flight
        self._poller = Poller(self.poll_all,
                              lambda: FAST_POLL if self.in_flight() else self.interval)

    async def poll(self, node: Node) -> None:
        try:
            node.resource = await node.client.describe_resource()
            if node.status != "up":
                log.info("node %s is up", node.endpoint)
            node.status, node.reason = "up", None
        except ApiError as err:  # unreachable, or refused by the far side
            if node.reason != err.message:
                log.warning("node %s unreachable: %s", node.endpoint, err.message)
            node.status, node.reason = "unreachable", err.message
        node.polled_at = time.time()

    async def poll_all(self) -> None:
        await asyncio.gather(*(self.poll(n) for n in self.nodes))
        for callback in self.after_poll:
            try:
                await callback()
            except Exception:  # one bad round must not stop the polling
                log.exception("after-poll step failed")

    def in_flight(self) -> bool:
        return self.busy() or any(i["state"] in ("pending", "shutting-down")
                                  for n in self.nodes for i in n.resource.get("instances", []))

    def wake(self) -> None:
        """Poll now: a change was just asked for."""
        self._poller.wake()

    async def run(self) -> None:
        await self._poller.run()

    async def close(self) -> None:
        for node in self.nodes:
            await node.client.close()
