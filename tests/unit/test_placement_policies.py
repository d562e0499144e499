"""Placement as a plug-in (issue 16 items 2 and 4): the built-in policies'
orderings, BestFit's packing and its rebalance proposals, the loader of
[cc] scheduler, and the CC's side of rebalance on real nodes (power states,
the power command, migrations refused)."""
import asyncio
import json
import logging

import pytest

from cluster_controller.app import scheduler_of
from cluster_controller.launches import LaunchTracker
from cluster_controller.nodes import Node, NodeRegistry
from cluster_controller.placement import NO_LIVE_MIGRATION, PowerStates, Rebalancer
from cluster_controller.scheduler import Scheduler
from mallee import settings as settings_mod
from mallee.placement import (BestFit, Demand, Greedy, Guest, Migrate, NodeView, Policy,
                              Power, PowerSave, PolicyError, RoundRobin, View, load_policy)
from tests.unit.test_cc_launches import MemoryNode, spec

SMALL = Demand(1, 256, 5)


def node(endpoint, order, cores_free=8, cores_total=8, guests=(), memory_free=8192,
         powered_on=True):
    return NodeView(endpoint, order, cores_free, memory_free, 200, cores_total, len(guests),
                    8192, 200, powered_on, tuple(guests))


def guest(instance_id, cpu=1, state="running"):
    return Guest(instance_id, cpu, 256, 5, state)


def names(nodes):
    return [n.endpoint for n in nodes]


def test_roundrobin_takes_turns_greedy_keeps_the_order():
    nodes = [node("b", 1), node("a", 0), node("c", 2)]
    rr = RoundRobin()
    assert [names(rr.weigh(nodes, SMALL))[0] for _ in range(4)] == ["a", "b", "c", "a"]
    assert names(Greedy().weigh(nodes, SMALL)) == ["a", "b", "c"]


def test_powersave_prefers_the_busiest():
    nodes = [node("idle", 0), node("busy", 1, cores_free=2), node("half", 2, cores_free=4)]
    assert names(PowerSave().weigh(nodes, SMALL)) == ["busy", "half", "idle"]


def test_bestfit_prefers_the_tightest_remaining_resource():
    roomy = node("roomy", 0)
    few_cores = node("few-cores", 1, cores_free=2)
    little_memory = node("little-memory", 2, memory_free=512)  # 256 left of 8192: tightest
    assert names(BestFit().weigh([roomy, few_cores, little_memory], SMALL)) == [
        "little-memory", "few-cores", "roomy"]


def placed(policy, sizes):
    """Launch instances of these core counts on two 4-core nodes; where each went."""
    nodes = [MemoryNode(4), MemoryNode(4)]
    registry = NodeRegistry([Node(f"n{i}", c) for i, c in enumerate(nodes)], 60)
    asyncio.run(registry.poll_all())
    launches = LaunchTracker(registry, Scheduler(policy))
    results = asyncio.run(launches.run([spec(i, cpu) for i, cpu in enumerate(sizes)]))
    return [r["accepted"] for r in results], [sorted(i["cpu"] for i in n.instances.values())
                                              for n in nodes]


def test_bestfit_packs_where_spreading_or_first_fit_cannot():
    sizes = [2, 3, 1, 2]  # 8 cores in all, exactly the two nodes' room
    assert placed("BESTFIT", sizes) == ([True] * 4, [[2, 2], [1, 3]])
    for policy in ("ROUNDROBIN", "GREEDY"):
        accepted, _ = placed(policy, sizes)
        assert accepted == [True, True, True, False], policy


def test_bestfit_consolidates_a_light_node_and_keeps_one_spare():
    view = View((node("busy", 0, cores_free=3, guests=[guest("i-b", 5)]),
                 node("light", 1, cores_free=6, guests=[guest("i-1"), guest("i-2")]),
                 node("empty1", 2), node("empty2", 3), node("off", 4, powered_on=False)))
    actions = BestFit().rebalance(view)
    assert actions == [Migrate("i-1", "busy"), Migrate("i-2", "busy"),
                       Power("empty2", on=False)]  # empty1 stays on: the spare


def test_bestfit_moves_all_of_a_node_or_nothing():
    view = View((node("busy", 0, cores_free=1, guests=[guest("i-b", 7)]),
                 node("light", 1, cores_free=6, guests=[guest("i-1"), guest("i-2")]),
                 node("spare", 2)))
    assert BestFit().rebalance(view) == []  # only one of the two fits: neither moves
    pending = View((node("busy", 0, cores_free=3, guests=[guest("i-b", 5)]),
                    node("light", 1, cores_free=7, guests=[guest("i-1", state="pending")]),
                    node("spare", 2)))
    assert BestFit().rebalance(pending) == []  # not moved while it is starting


def test_never_below_one_spare_and_power_back_on_when_none_is_left():
    all_empty = View(tuple(node(f"n{i}", i) for i in range(3)))
    assert BestFit().rebalance(all_empty) == [Power("n1", False), Power("n2", False)]
    assert PowerSave().rebalance(all_empty) == [Power("n1", False), Power("n2", False)]
    full = View((node("n0", 0, cores_free=0, guests=[guest("i-1", 8)]),
                 node("n1", 1, powered_on=False), node("n2", 2, powered_on=False)))
    assert PowerSave().rebalance(full) == [Power("n1", True)]
    assert RoundRobin().rebalance(full) == [] and Greedy().rebalance(full) == []


def test_a_powered_off_node_takes_nothing_whatever_the_policy():
    class Anything(Policy):
        filters = ()
    nodes = [node("off", 0, powered_on=False), node("on", 1)]
    for policy in (Anything(), Greedy(), BestFit()):
        assert names(Scheduler(policy).rank(nodes, SMALL)) == ["on"]


class Reversed(Policy):
    def weigh(self, nodes, demand):
        return sorted(nodes, key=lambda n: -n.order)


def test_load_policy_by_builtin_name_or_module_class():
    assert type(load_policy("roundrobin")) is RoundRobin
    assert type(load_policy("BESTFIT")) is BestFit
    assert type(load_policy(f"{__name__}:Reversed")) is Reversed
    for name, says in [("FANCY", "unknown policy 'FANCY'"),
                       ("no.such.module:X", "cannot import no.such.module"),
                       (f"{__name__}:Missing", "has no class Missing"),
                       (f"{__name__}:Demand", "subclasses mallee.placement.Policy")]:
        with pytest.raises(PolicyError, match=says):
            load_policy(name)


def test_an_unloadable_policy_is_a_startup_error_naming_the_setting(tmp_path):
    env = {"MALLEE_CC_SCHEDULER": "no.such.module:Policy"}
    settings = settings_mod.load(home=tmp_path, env=env)
    with pytest.raises(settings_mod.SettingsError, match=r"\[cc\] scheduler .*no.such.module"):
        scheduler_of(settings)
    bad = settings_mod.load(home=tmp_path, env={"MALLEE_CC_POWER_COMMAND": "echo,{host}"})
    with pytest.raises(settings_mod.SettingsError, match=r"power_command.*\{node\}"):
        scheduler_of(bad)


class Scripted(Policy):
    """Proposes whatever the test sets."""
    actions: list = []

    def rebalance(self, view):
        return list(self.actions)


def cluster(tmp_path, *, command=(), timeout=5.0, count=3):
    nodes = [MemoryNode(4) for _ in range(count)]
    members = [Node(f"n{i}", c) for i, c in enumerate(nodes)]
    power = PowerStates(tmp_path / "power.json")
    power.apply(members)
    registry = NodeRegistry(members, 60)
    policy = Scripted()
    launches = LaunchTracker(registry, Scheduler(policy))
    rebalancer = Rebalancer(policy, registry, launches, power, command, timeout)
    asyncio.run(registry.poll_all())
    return nodes, members, launches, rebalancer


def test_power_off_is_honoured_kept_and_refused_for_a_busy_node(tmp_path):
    nodes, members, launches, rebalancer = cluster(tmp_path)
    asyncio.run(launches.run([spec(1)]))  # Greedy order: on n0
    rebalancer.policy.actions = [Power("n0", False), Power("n1", False)]
    asyncio.run(rebalancer.rebalance())
    assert [m.power for m in members] == ["on", "off", "on"]  # n0 runs an instance
    assert json.loads((tmp_path / "power.json").read_text()) == {"off": ["n1"]}
    asyncio.run(launches.run([spec(i, cpu=2) for i in range(2, 5)]))
    assert [len(n.instances) for n in nodes] == [2, 0, 2]  # n1 took nothing
    assert members[1].describe()["power"] == "off"
    again = [Node(f"n{i}", c) for i, c in enumerate(nodes)]  # a CC restart
    PowerStates(tmp_path / "power.json").apply(again)
    assert [m.power for m in again] == ["on", "off", "on"]
    rebalancer.policy.actions = [Power("n1", True)]
    asyncio.run(rebalancer.rebalance())
    assert members[1].power == "on" and rebalancer.counts["powered_on"] == 1
    assert json.loads((tmp_path / "power.json").read_text()) == {"off": []}


def test_the_power_command_runs_and_its_failure_changes_nothing(tmp_path):
    log = tmp_path / "bmc.log"
    command = ("sh", "-c", 'echo "$0 $1 $2" >> ' + str(log), "{node}", "{endpoint}",
               "{action}")
    _, members, _, rebalancer = cluster(tmp_path, command=command)
    rebalancer.policy.actions = [Power("n2", False)]
    asyncio.run(rebalancer.rebalance())
    assert log.read_text() == "n2 n2 off\n" and members[2].power == "off"
    _, members, _, rebalancer = cluster(tmp_path / "f", command=(
        "sh", "-c", "echo no BMC answers for $0; exit 3", "{node}"))
    rebalancer.policy.actions = [Power("n2", False)]
    asyncio.run(rebalancer.rebalance())
    assert members[2].power == "on" and rebalancer.counts["power_failures"] == 1
    assert not (tmp_path / "f" / "power.json").exists()
    _, members, _, rebalancer = cluster(tmp_path / "t", command=("sleep", "30"), timeout=0.2)
    rebalancer.policy.actions = [Power("n2", False)]
    asyncio.run(asyncio.wait_for(rebalancer.rebalance(), 5))  # killed at the timeout
    assert members[2].power == "on" and rebalancer.counts["power_failures"] == 1


def test_migrations_are_refused_on_real_nodes_with_the_reason(tmp_path, caplog):
    nodes, _, launches, rebalancer = cluster(tmp_path)
    asyncio.run(launches.run([spec(1)]))
    iid = spec(1)["instance_id"]
    rebalancer.policy.actions = [Migrate(iid, "n2")]
    with caplog.at_level(logging.WARNING, logger="cluster_controller.placement"):
        asyncio.run(rebalancer.rebalance())
        asyncio.run(rebalancer.rebalance())
    assert rebalancer.counts["migrations_refused"] == 2
    assert NO_LIVE_MIGRATION in rebalancer.describe()["last_refusal"]
    assert sum(NO_LIVE_MIGRATION in r.getMessage() for r in caplog.records) == 1  # once each
    assert iid in nodes[0].instances and not nodes[2].instances


def test_a_failing_policy_does_not_stop_the_cc(tmp_path):
    class Broken(Policy):
        def rebalance(self, view):
            raise RuntimeError("bug in a plug-in")
    _, _, _, rebalancer = cluster(tmp_path)
    rebalancer.policy = Broken()
    asyncio.run(rebalancer.rebalance())
    assert rebalancer.counts["policy_errors"] == 1


def test_the_view_shows_guests_and_powered_off_nodes(tmp_path):
    nodes, members, launches, rebalancer = cluster(tmp_path)
    asyncio.run(launches.run([spec(1, cpu=3)]))
    members[2].power = "off"
    members[2].error = "connection refused"  # a node really powered off stops answering
    view = launches.view()
    assert [(n.endpoint, n.powered_on, n.instances) for n in view.nodes] == [
        ("n0", True, 1), ("n1", True, 0), ("n2", False, 0)]
    assert view.nodes[0].guests[0].cpu == 3 and view.nodes[0].cores_free == 1
