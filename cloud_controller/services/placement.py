"""The CLC's half of scheduling: pick the cluster (zone); the CC picks the node.

Capacity comes from the last poll of each CC. Launches made since that poll
are held as reservations so two quick RunInstances cannot both take the
last slot.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from cloud_controller.services.clusters import ClusterState
from mallee import errors
from mallee.settings import VmType


@dataclass
class Reservations:
    """Instances sent to a cluster that its last poll may not show yet."""
    entries: list[tuple[float, VmType, int]] = field(default_factory=list)

    def add(self, vmtype: VmType, count: int) -> None:
        self.entries.append((time.time(), vmtype, count))

    def since(self, polled_at: float) -> list[tuple[VmType, int]]:
        self.entries = [e for e in self.entries if e[0] > polled_at - 1.0]
        return [(v, n) for _, v, n in self.entries]


def free_slots(cluster: ClusterState, vmtype: VmType, held: list[tuple[VmType, int]]) -> int:
    free, _ = cluster.capacity(vmtype)
    for other, count in held:
        # Approximate: a held instance of another type uses its share of cores.
        free -= count * max(1, -(-other.cpu // vmtype.cpu))
    return max(0, free)


def choose_cluster(clusters: list[ClusterState], reservations: dict[str, Reservations],
                   vmtype: VmType, zone: str | None, min_count: int,
                   max_count: int) -> tuple[ClusterState, int]:
    """The cluster to launch on and how many instances it takes (>= min_count)."""
    candidates = [c for c in clusters if zone in (None, c.ref.zone)]
    if zone and not candidates:
        raise errors.InvalidParameterValue(f"Invalid availability zone: [{zone}]")
    best, best_free = None, -1
    for cluster in candidates:
        if not cluster.available:
            continue
        held = reservations.setdefault(cluster.ref.name, Reservations()).since(cluster.polled_at)
        free = free_slots(cluster, vmtype, held)
        if free > best_free:
            best, best_free = cluster, free
    if best is None or best_free < min_count:
        where = f"zone {zone}" if zone else "any zone"
        raise errors.InsufficientInstanceCapacity(
            f"There is not enough capacity to fulfill your request: {max(best_free, 0)} "
            f"{vmtype.name} instance(s) available in {where}, {min_count} requested.")
    count = min(max_count, best_free)
    reservations[best.ref.name].add(vmtype, count)
    return best, count
