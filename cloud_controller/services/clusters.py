"""The CLC's view of its clusters, refreshed by polling each CC.

State flows upward by polling: the last answer (or the reason there was
none) is what DescribeAvailabilityZones and `mallee status` show.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from cluster_controller.client import ClusterClient
from mallee.errors import ApiError
from mallee.polling import Poller
from mallee.settings import ClusterRef, VmType

log = logging.getLogger(__name__)

FAST_POLL = 0.25  # seconds between polls while instances are changing state


@dataclass
class ClusterState:
    ref: ClusterRef
    client: ClusterClient
    nodes: list[dict] = field(default_factory=list)
    instances: dict[str, dict] = field(default_factory=dict)  # id -> what the CC reports
    network: dict = field(default_factory=dict)  # the CC's subnet, pool, view version
    error: str | None = "not polled yet"
    polled_at: float = 0.0

    @property
    def available(self) -> bool:
        return self.error is None and any(n.get("status") == "up" for n in self.nodes)

    def capacity(self, vmtype: VmType) -> tuple[int, int]:
        """(free, max) instances of this type the cluster's live nodes can hold."""
        free = total = 0
        for node in self.nodes:
            if node.get("status") != "up":
                continue
            free += _fits(vmtype, node["cores_free"], node["memory_free_mb"], node["disk_free_gb"])
            total += _fits(vmtype, node["cores_total"], node["memory_total_mb"],
                           node["disk_total_gb"])
        return free, total


def _fits(vmtype: VmType, cores: int, memory_mb: int, disk_gb: int) -> int:
    return max(0, min(cores // vmtype.cpu, memory_mb // vmtype.memory, disk_gb // vmtype.disk))


class ClusterMonitor:
    def __init__(self, clusters: list[ClusterState], interval: float):
        self.clusters = clusters
        self.interval = interval
        self.after_poll = []  # async callbacks(cluster), e.g. the reconciler
        self.busy = False  # set while instances are pending or ending: poll faster
        self._poller = Poller(self.poll_all,
                              lambda: FAST_POLL if self.busy else self.interval)

    def by_zone(self, zone: str) -> ClusterState | None:
        return next((c for c in self.clusters if c.ref.zone == zone), None)

    async def poll(self, cluster: ClusterState) -> None:
        started = time.time()
        try:
            answer = await cluster.client.describe_resources()
            instances = await cluster.client.describe_instances()
            cluster.nodes, cluster.error = answer["nodes"], None
            cluster.network = answer.get("network") or {}
            cluster.instances = {i["instance_id"]: i for i in instances}
        except ApiError as err:  # unreachable, or refused by the far side
            if cluster.error != err.message:
                log.warning("cluster %s unreachable: %s", cluster.ref.name, err.message)
            cluster.error = err.message
        cluster.polled_at = started
        for callback in self.after_poll:
            try:
                await callback(cluster)
            except Exception:  # one bad round must not stop the polling
                log.exception("after-poll step failed for %s", cluster.ref.name)

    async def poll_all(self) -> None:
        await asyncio.gather(*(self.poll(c) for c in self.clusters))

    def wake(self) -> None:
        """Poll now: a change was just asked for."""
        self._poller.wake()

    async def run(self) -> None:
        await self._poller.run()

    async def close(self) -> None:
        for c in self.clusters:
            await c.client.close()
