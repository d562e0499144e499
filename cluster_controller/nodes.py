"""The CC's node registry: the nodes named in its configuration, polled.

Soft state only: everything here is rebuilt from the next poll. A node that
does not answer is marked unreachable with the reason, logged once per change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from cluster_controller.metrics_relay import MetricsRelay
from mallee.metrics import TierMetrics
from mallee.polling import PolledSet
from node_controller.client import NodeClient


@dataclass
class Node:
    endpoint: str
    client: NodeClient
    status: str = "unknown"  # up | unreachable | unknown
    reason: str | None = "not polled yet"
    resource: dict = field(default_factory=dict)
    polled_at: float = 0.0
    power: str = "on"  # on | off: a node marked off takes no instances (placement.py)
    metrics_ack: dict | None = None  # the node's last guest sample taken (metrics_relay.py)

    @property
    def label(self) -> str:
        return f"node {self.endpoint}"

    @property
    def error(self) -> str | None:
        """Why the last poll got no answer (None: it got one)."""
        return self.reason

    @error.setter
    def error(self, reason: str | None) -> None:
        self.status, self.reason = ("up", None) if reason is None else ("unreachable", reason)

    def describe(self) -> dict:
        r = self.resource
        return {"endpoint": self.endpoint, "name": r.get("name", self.endpoint),
                "status": self.status, "reason": self.reason, "polled_at": self.polled_at,
                "power": self.power,
                "hypervisor": r.get("hypervisor"),
                "cores_total": r.get("cores_total", 0), "cores_free": r.get("cores_free", 0),
                "memory_total_mb": r.get("memory_total_mb", 0),
                "memory_free_mb": r.get("memory_free_mb", 0),
                "disk_total_gb": r.get("disk_total_gb", 0),
                "disk_free_gb": r.get("disk_free_gb", 0),
                "instances": r.get("instances", [])}


def asker(relay: MetricsRelay | None) -> Callable[[Node], Awaitable[None]]:
    async def ask(node: Node) -> None:
        """One poll of an NC: its capacity, instances, network and guest samples,
        which go to the relay (ApiError: no answer)."""
        resource = await node.client.describe_resource(node.metrics_ack)
        batch = resource.pop("metrics", None)
        node.resource = resource
        if relay is not None:
            relay.take(node, batch)
    return ask


class NodeRegistry(PolledSet[Node]):
    """The nodes, polled; after-poll steps get each node after its poll.
    Polls fast while `launching()` (launches the CC has placed but not yet
    seen land) or while any node reports an instance pending or shutting down."""

    def __init__(self, nodes: list[Node], interval: float,
                 launching: Callable[[], bool] = lambda: False,
                 relay: MetricsRelay | None = None):
        self._launching = launching
        self.relay = relay
        super().__init__(nodes, asker(relay), interval, busy=self.in_flight)

    @property
    def nodes(self) -> list[Node]:
        return self.members

    def in_flight(self) -> bool:
        return self._launching() or any(
            i["state"] in ("pending", "shutting-down")
            for n in self.nodes for i in n.resource.get("instances", []))


# What each node last reported, as the CC's gauges (docs/metrics.md): the metric,
# the key of the node's describe_resource answer, and its unit in bytes (1: a count).
NODE_GAUGES = (
    ("mallee_cc_node_capacity_cores", "cores_total", 1, "Cores the node offers to instances"),
    ("mallee_cc_node_free_cores", "cores_free", 1, "Cores no instance holds"),
    ("mallee_cc_node_capacity_memory_bytes", "memory_total_mb", 2**20,
     "Memory the node offers to instances"),
    ("mallee_cc_node_free_memory_bytes", "memory_free_mb", 2**20, "Memory no instance holds"),
    ("mallee_cc_node_capacity_disk_bytes", "disk_total_gb", 2**30,
     "Disk the node offers to instances"),
    ("mallee_cc_node_free_disk_bytes", "disk_free_gb", 2**30, "Disk no instance holds"),
)


def add_node_gauges(metrics: TierMetrics, registry: NodeRegistry) -> None:
    """Per node (the endpoints in the CC's configuration: a bounded label): whether its
    last poll was answered, its instances and its capacity, from that last answer."""
    def per_node(fn):
        return lambda: {(n.endpoint,): fn(n) for n in registry.nodes}
    metrics.add_gauge("mallee_cc_node_up", "1 if the node answered its last poll",
                      ("node",), per_node(lambda n: 1.0 if n.status == "up" else 0.0))
    metrics.add_gauge("mallee_cc_node_instances", "Instances the node last reported",
                      ("node",), per_node(lambda n: len(n.resource.get("instances", []))))
    if registry.relay is not None:
        relay = registry.relay
        metrics.add_gauge("mallee_cc_metrics_waiting", "Guest samples waiting for the CLC",
                          (), lambda: {(): len(relay)})
        metrics.add_gauge("mallee_cc_metrics_dropped", "Guest samples dropped, the "
                          "buffer full while the CLC was away", (),
                          lambda: {(): relay.dropped})
    for name, key, unit, doc in NODE_GAUGES:
        metrics.add_gauge(name, doc, ("node",),
                          per_node(lambda n, key=key, unit=unit: n.resource.get(key, 0) * unit))
