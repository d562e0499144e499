"""The CLC's view of its clusters, refreshed by polling each CC.

State flows upward by polling: the last answer (or the reason there was
none) is what DescribeAvailabilityZones and `mallee status` show.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cluster_controller.client import ClusterClient
from mallee.polling import PolledSet
from mallee.settings import ClusterRef, VmType


@dataclass
class ClusterState:
    ref: ClusterRef
    client: ClusterClient
    nodes: list[dict] = field(default_factory=list)
    instances: dict[str, dict] = field(default_factory=dict)  # id -> what the CC reports
    network: dict = field(default_factory=dict)  # the CC's subnet, pool, view version
    error: str | None = "not polled yet"
    polled_at: float = 0.0
    # Guest samples from the last poll, until stored (services/metrics.py), and the
    # last one stored ({"epoch", "seq"}; None: not read from the database yet).
    metrics: dict | None = None
    metrics_ack: dict | None = None

    @property
    def label(self) -> str:
        return f"cluster {self.ref.name}"

    @property
    def available(self) -> bool:
        return self.error is None and any(takes_instances(n) for n in self.nodes)

    def capacity(self, vmtype: VmType) -> tuple[int, int]:
        """(free, max) instances of this type the cluster's live nodes can hold:
        free on those powered on, max on all that answer (off ones can come back on)."""
        free = total = 0
        for node in self.nodes:
            if node.get("status") != "up":
                continue
            if takes_instances(node):
                free += fits(vmtype, *node_free(node))
            total += fits(vmtype, node["cores_total"], node["memory_total_mb"],
                          node["disk_total_gb"])
        return free, total

    def node_counts(self) -> dict[str, int]:
        """How many nodes take instances, are powered off, or do not answer."""
        off = sum(1 for n in self.nodes if n.get("power", "on") == "off")
        up = sum(1 for n in self.nodes if takes_instances(n))
        return {"up": up, "off": off, "unreachable": len(self.nodes) - up - off}


def takes_instances(node: dict) -> bool:
    """A node the CC can place on: it answers its polls and is not powered off
    (a placement policy's, or the admin's, decision; docs/placement.md)."""
    return node.get("status") == "up" and node.get("power", "on") == "on"


def fits(vmtype: VmType, cores: int, memory_mb: int, disk_gb: int) -> int:
    """How many instances of the type fit in that much room."""
    return max(0, min(cores // vmtype.cpu, memory_mb // vmtype.memory, disk_gb // vmtype.disk))


def node_free(node: dict) -> tuple[int, int, int]:
    """A node's free (cores, MiB, GiB), counting every instance its report lists: the
    node sums its figures and lists its instances at two moments, and a launch that
    lands in between is in the list only."""
    listed = node.get("instances", ())
    used = [sum(i.get(k, 0) for i in listed) for k in ("cpu", "memory_mb", "disk_gb")]
    return (min(node["cores_free"], node["cores_total"] - used[0]),
            min(node["memory_free_mb"], node["memory_total_mb"] - used[1]),
            min(node["disk_free_gb"], node["disk_total_gb"] - used[2]))


async def ask(cluster: ClusterState) -> None:
    """One poll of a CC: its nodes, network and instances (ApiError: no answer)."""
    answer = await cluster.client.describe_resources(cluster.metrics_ack)
    instances = await cluster.client.describe_instances()
    cluster.metrics = answer.get("metrics")
    cluster.nodes = answer["nodes"]
    cluster.network = answer.get("network") or {}
    cluster.instances = {i["instance_id"]: i for i in instances}


class ClusterMonitor(PolledSet[ClusterState]):
    """The clusters, polled; after-poll steps (e.g. the reconciler) get each
    cluster after its poll."""

    def __init__(self, clusters: list[ClusterState], interval: float):
        super().__init__(clusters, ask, interval, busy=lambda: self.busy)
        # Set by the reconciler while instances are pending or ending (it
        # learns that from the database each round): poll fast meanwhile.
        self.busy = False

    @property
    def clusters(self) -> list[ClusterState]:
        return self.members
