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
from mallee.rpc import RpcError
from mallee.settings import ClusterRef, VmType

log = logging.getLogger(__name__)


@dataclass
class ClusterState:
    ref: ClusterRef
    client: ClusterClient
    nodes: list[dict] = field(default_factory=list)
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

    def by_zone(self, zone: str) -> ClusterState | None:
        return next((c for c in self.clusters if c.ref.zone == zone), None)

    async def poll(self, cluster: ClusterState) -> None:
        try:
            answer = await cluster.client.describe_resources()
            cluster.nodes, cluster.error = answer["nodes"], None
        except RpcError as err:
            if cluster.error != err.message:
                log.warning("cluster %s unreachable: %s", cluster.ref.name, err.message)
            cluster.error = err.message
        cluster.polled_at = time.time()

    async def poll_all(self) -> None:
        await asyncio.gather(*(self.poll(c) for c in self.clusters))

    async def run(self) -> None:
        while True:
            await self.poll_all()
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        for c in self.clusters:
            await c.client.close()
