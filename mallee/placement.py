"""Placement policies: the contract a policy class meets, the four built-in
ones, and the loader for the `[cc] scheduler` setting (docs/placement.md).

A policy sees read-only views (frozen dataclasses, tuples) and answers with
an ordering or a list of proposed actions; it changes nothing itself. The
cluster controller carries the actions out (or refuses them, as it does any
Migrate on real nodes until live migration exists), so one class runs the
same in a simulation and on the real cloud. This module imports no tier.
"""
from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence


@dataclass(frozen=True)
class Demand:
    """What one instance needs."""
    cpu: int
    memory_mb: int
    disk_gb: int


class Guest(NamedTuple):
    """An instance on a node (or a launch sent there that it does not list yet).
    A named tuple, not a dataclass: every placement decision makes one per guest
    of the cluster, and a tuple is made 3-4 times faster."""
    instance_id: str
    cpu: int
    memory_mb: int
    disk_gb: int
    state: str = "running"


@dataclass(frozen=True)
class NodeView:
    """A node as a policy sees it: its free room (less the launches it does not
    report yet), its totals, its power state and its guests."""
    endpoint: str
    order: int  # position in the cluster's configuration
    cores_free: int
    memory_free_mb: int
    disk_free_gb: int
    cores_total: int
    instances: int  # how many guests (len(guests) when guests are given)
    memory_total_mb: int = 0
    disk_total_gb: int = 0
    powered_on: bool = True
    guests: tuple[Guest, ...] = ()

    @property
    def free(self) -> tuple[int, int, int]:
        return (self.cores_free, self.memory_free_mb, self.disk_free_gb)

    @property
    def total(self) -> tuple[int, int, int]:
        return (self.cores_total, self.memory_total_mb, self.disk_total_gb)

    def load(self) -> float:
        """The fullest resource's used fraction (0 idle, 1 full)."""
        return max((1 - f / t for f, t in zip(self.free, self.total) if t > 0), default=0.0)


@dataclass(frozen=True)
class View:
    """The cluster for `rebalance`: every node that is up or powered off."""
    nodes: tuple[NodeView, ...]


@dataclass(frozen=True)
class Migrate:
    instance_id: str
    to_node: str  # endpoint


@dataclass(frozen=True)
class Power:
    node: str  # endpoint
    on: bool


Action = Migrate | Power
Filter = Callable[[NodeView, Demand], bool]


def fits(node: NodeView, demand: Demand) -> bool:
    return (node.cores_free >= demand.cpu and node.memory_free_mb >= demand.memory_mb
            and node.disk_free_gb >= demand.disk_gb)


def leftover(free: Sequence[int], total: Sequence[int], demand: Demand) -> float:
    """The tightest resource's fraction left after placing the demand there."""
    need = (demand.cpu, demand.memory_mb, demand.disk_gb)
    return min(((f - n) / t for f, t, n in zip(free, total, need) if t > 0), default=0.0)


class Policy:
    """Subclass this. `filters` are all asked of each node (a powered-off node
    is refused before them, whatever they say); `weigh` orders the nodes that
    passed, best first; `rebalance`, run every [cc] rebalance_seconds, may
    propose Migrate and Power actions."""

    filters: tuple[Filter, ...] = (fits,)

    def accepts(self, node: NodeView, demand: Demand) -> bool:
        return all(f(node, demand) for f in self.filters)

    def weigh(self, nodes: list[NodeView], demand: Demand) -> list[NodeView]:
        return sorted(nodes, key=lambda n: n.order)

    def rebalance(self, view: View) -> list[Action]:
        return []


class RoundRobin(Policy):
    """Eucalyptus's ROUNDROBIN (the default): spread launches across nodes in turn."""

    def __init__(self):
        self._turn = itertools.count()

    def weigh(self, nodes, demand):
        if not nodes:
            return nodes
        start = next(self._turn) % len(nodes)
        ordered = sorted(nodes, key=lambda n: n.order)
        return ordered[start:] + ordered[:start]


class Greedy(Policy):
    """GREEDY: fill the first node that fits before using the next (Policy's weigh)."""


def power_actions(view: View, spare: int = 1, busy: frozenset[str] = frozenset()) -> list[Power]:
    """Keep `spare` empty nodes powered on (at least one node on in all): power
    the other empty ones off, or power nodes that are off back on while too few
    are spare.
    `busy`: nodes about to be emptied by migrations, neither counted nor touched."""
    spare = max(spare, 1)
    empty = sorted((n for n in view.nodes if n.powered_on and n.instances == 0
                    and n.endpoint not in busy), key=lambda n: n.order)
    if len(empty) > spare:
        return [Power(n.endpoint, on=False) for n in empty[spare:]]
    off = sorted((n for n in view.nodes if not n.powered_on), key=lambda n: n.order)
    return [Power(n.endpoint, on=True) for n in off[:spare - len(empty)]]


class PowerSave(Policy):
    """POWERSAVE: prefer the busiest node that fits, so idle nodes stay idle, and
    power idle nodes off (keeping `spare` on), as Eucalyptus's did."""

    spare = 1

    def weigh(self, nodes, demand):
        return sorted(nodes, key=lambda n: (-(n.cores_total - n.cores_free), n.order))

    def rebalance(self, view):
        return power_actions(view, self.spare)


class BestFit(Policy):
    """Best-fit bin packing: the node the demand leaves tightest (the smallest
    fraction of its scarcest resource left). Rebalance consolidates: a node
    loaded under `light` has its guests moved (all of them or none) to busier
    nodes where they fit best; then empty nodes are powered off, `spare` kept."""

    light = 0.5
    spare = 1

    def weigh(self, nodes, demand):
        return sorted(nodes, key=lambda n: (leftover(n.free, n.total, demand), n.order))

    def rebalance(self, view):
        on = [n for n in view.nodes if n.powered_on]
        free = {n.endpoint: list(n.free) for n in on}
        total = {n.endpoint: n.total for n in on}
        drained: set[str] = set()
        receiving: set[str] = set()
        actions: list[Action] = []
        for node in sorted(on, key=lambda n: (n.load(), -n.order)):
            if (not node.guests or node.load() >= self.light or node.endpoint in receiving
                    or any(g.state != "running" for g in node.guests)):
                continue
            targets = [n.endpoint for n in on if n.instances and n.endpoint != node.endpoint
                       and n.endpoint not in drained]
            plan = self._plan(node, targets, {e: list(f) for e, f in free.items()}, total)
            if plan is None:
                continue
            free, moves = plan
            drained.add(node.endpoint)
            receiving.update(m.to_node for m in moves)
            actions += moves
        return actions + power_actions(view, self.spare, frozenset(drained))

    @staticmethod
    def _plan(node, targets, free, total):
        moves = []
        for guest in sorted(node.guests, key=lambda g: (-g.cpu, -g.memory_mb, g.instance_id)):
            demand = Demand(guest.cpu, guest.memory_mb, guest.disk_gb)
            room = [e for e in targets if all(f >= n for f, n in zip(
                free[e], (demand.cpu, demand.memory_mb, demand.disk_gb)))]
            if not room:
                return None
            best = min(room, key=lambda e: leftover(free[e], total[e], demand))
            free[best] = [f - n for f, n in zip(free[best], (guest.cpu, guest.memory_mb,
                                                               guest.disk_gb))]
            moves.append(Migrate(guest.instance_id, best))
        return free, moves


BUILTIN = {"ROUNDROBIN": RoundRobin, "GREEDY": Greedy, "POWERSAVE": PowerSave,
           "BESTFIT": BestFit}


class PolicyError(ValueError):
    """A policy name that names no built-in and no importable Policy class."""


def load_policy(name: str) -> Policy:
    """A built-in's name (any case) or `package.module:Class`, made into a policy."""
    if name.upper() in BUILTIN:
        return BUILTIN[name.upper()]()
    module_name, colon, class_name = name.partition(":")
    if not colon or not module_name or not class_name:
        raise PolicyError(f"unknown policy {name!r}: one of {', '.join(BUILTIN)} "
                          "or module:Class")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # a plug-in's own import error, whatever it is
        raise PolicyError(f"policy {name!r}: cannot import {module_name} "
                          f"({type(err).__name__}: {err})") from err
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise PolicyError(f"policy {name!r}: {module_name} has no class {class_name} "
                          "that subclasses mallee.placement.Policy")
    return cls()
