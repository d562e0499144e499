"""The CLC's half of scheduling: pick the cluster (zone); the CC picks the node.

Capacity comes from the last poll of each CC: each node's free cores, memory
and disk and the instances counted in them (the node's own report, passed
on by the CC). An instance sent to a cluster is held here, by id, until a
node's report lists it (from then on the node's figures count it) or the CC
gives up on it, or it is terminated. Held instances are taken off the node
the CC says it is placed on (any node that fits, before the CC says), so the
count is exact: as many launches succeed as fit, however they interleave
with the polls. RunInstances chooses and holds inside its unit of work, so
two launches never choose on the same figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from cloud_controller.services.clusters import ClusterState, fits, node_free, takes_instances
from mallee import errors
from mallee.settings import VmType


@dataclass
class Reservations:
    """Instances sent to one cluster that no node's report counts yet."""
    held: dict[str, VmType] = field(default_factory=dict)

    def hold(self, instance_ids: Iterable[str], vmtype: VmType) -> None:
        self.held.update((i, vmtype) for i in instance_ids)

    def release(self, instance_ids: Iterable[str]) -> None:
        for instance_id in instance_ids:
            self.held.pop(instance_id, None)

    def outstanding(self, cluster: ClusterState) -> list[tuple[VmType, str | None]]:
        """(type, node endpoint if the CC has placed it) of each instance the cluster's
        last poll does not count yet; forgets those it counts or gave up on."""
        counted = {i["instance_id"] for n in cluster.nodes for i in n.get("instances", ())}
        failed = {i for i, r in cluster.instances.items() if r.get("state") == "failed"}
        self.release(counted | failed)
        return [(vmtype, (cluster.instances.get(i) or {}).get("node"))
                for i, vmtype in self.held.items()]


def free_slots(cluster: ClusterState, vmtype: VmType,
               held: list[tuple[VmType, str | None]]) -> int:
    free = {n["endpoint"]: list(node_free(n)) for n in cluster.nodes if takes_instances(n)}
    for other, endpoint in held:
        room = free.get(endpoint) if endpoint in free else next(
            (r for r in free.values() if fits(other, *r)), None)
        if room is not None:  # one that fits nowhere will be refused; it takes nothing
            room[0] -= other.cpu
            room[1] -= other.memory
            room[2] -= other.disk
    return sum(fits(vmtype, *room) for room in free.values())


def launchable(cluster: ClusterState, reservations: dict[str, Reservations],
               vmtype: VmType) -> int:
    """How many `vmtype` RunInstances could place on this cluster now: none while it
    is unavailable, else its free room less what launches hold there."""
    if not cluster.available:
        return 0
    held = reservations.setdefault(cluster.ref.name, Reservations()).outstanding(cluster)
    return free_slots(cluster, vmtype, held)


def choose_cluster(clusters: list[ClusterState], reservations: dict[str, Reservations],
                   vmtype: VmType, zone: str | None, min_count: int,
                   max_count: int) -> tuple[ClusterState, int]:
    """The cluster to launch on and how many instances it takes (>= min_count).
    The caller holds the instances it makes there (Reservations.hold)."""
    candidates = [c for c in clusters if zone in (None, c.ref.zone)]
    if zone and not candidates:
        raise errors.InvalidParameterValue(f"Invalid availability zone: [{zone}]")
    best, best_free = None, -1
    for cluster in candidates:
        if not cluster.available:
            continue
        free = launchable(cluster, reservations, vmtype)
        if free > best_free:
            best, best_free = cluster, free
    if best is None or best_free < min_count:
        where = f"zone {zone}" if zone else "any zone"
        raise errors.InsufficientInstanceCapacity(
            f"There is not enough capacity to fulfill your request: {max(best_free, 0)} "
            f"{vmtype.name} instance(s) available in {where}, {min_count} requested.")
    return best, min(max_count, best_free)
