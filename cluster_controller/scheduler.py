"""Choosing a node: filters, then weighers (Eucalyptus's policies as weighers).

- ROUNDROBIN (default): spread launches across nodes in turn.
- GREEDY: fill the first node that fits before using the next.
- POWERSAVE: prefer the busiest node that fits, so idle nodes stay idle.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass(frozen=True)
class Demand:
    cpu: int
    memory_mb: int
    disk_gb: int


@dataclass(frozen=True)
class Candidate:
    endpoint: str
    order: int  # position in the cluster's configuration
    cores_free: int
    memory_free_mb: int
    disk_free_gb: int
    cores_total: int
    instances: int


Filter = Callable[[Candidate, Demand], bool]


def fits(node: Candidate, demand: Demand) -> bool:
    return (node.cores_free >= demand.cpu and node.memory_free_mb >= demand.memory_mb
            and node.disk_free_gb >= demand.disk_gb)


FILTERS: tuple[Filter, ...] = (fits,)


class Scheduler:
    def __init__(self, policy: str):
        policy = policy.upper()
        if policy not in ("ROUNDROBIN", "GREEDY", "POWERSAVE"):
            raise ValueError(f"unknown scheduling policy {policy!r}")
        self.policy = policy
        self._turn = itertools.count()

    def _weigh(self, nodes: list[Candidate]) -> list[Candidate]:
        if self.policy == "GREEDY":
            return sorted(nodes, key=lambda n: n.order)
        if self.policy == "POWERSAVE":
            return sorted(nodes, key=lambda n: (-(n.cores_total - n.cores_free), n.order))
        if not nodes:
            return nodes
        start = next(self._turn) % len(nodes)
        ordered = sorted(nodes, key=lambda n: n.order)
        return ordered[start:] + ordered[:start]

    def rank(self, nodes: Iterable[Candidate], demand: Demand,
             exclude: set[str] = frozenset()) -> list[Candidate]:
        """Nodes that can take the demand, best first."""
        usable = [n for n in nodes if n.endpoint not in exclude
                  and all(f(n, demand) for f in FILTERS)]
        return self._weigh(usable)
