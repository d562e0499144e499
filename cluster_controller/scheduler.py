"""Choosing a node: the configured placement policy's filters, then its weighers
(mallee/placement.py: the contract and the built-in policies ROUNDROBIN,
GREEDY, POWERSAVE and BESTFIT; docs/placement.md).

Whatever the policy says, a node that is powered off takes no instances.
"""
from __future__ import annotations

from typing import Iterable

from mallee.placement import Demand, NodeView, Policy, fits, load_policy

Candidate = NodeView  # the name the CC's launch code has used all along

__all__ = ["Candidate", "Demand", "Scheduler", "fits"]


class Scheduler:
    def __init__(self, policy: str | Policy):
        """policy: a Policy, or its name as [cc] scheduler gives it (PolicyError,
        a ValueError, when it names nothing loadable)."""
        self.policy = load_policy(policy) if isinstance(policy, str) else policy

    def rank(self, nodes: Iterable[Candidate], demand: Demand,
             exclude: set[str] = frozenset()) -> list[Candidate]:
        """Nodes that can take the demand, best first."""
        usable = [n for n in nodes if n.endpoint not in exclude and n.powered_on
                  and self.policy.accepts(n, demand)]
        return list(self.policy.weigh(usable, demand))
