"""The CC's placement logic with in-memory nodes: filters, the three
policies, a refusing node, a node that fails a launch after accepting it, and
(issue 11 #13) a node that gives no answer and a terminate racing a launch:
one instance id is at most one domain, anywhere, always."""
import asyncio

import pytest

from cluster_controller.launches import LaunchTracker
from cluster_controller.nodes import Node, NodeRegistry
from cluster_controller.scheduler import Candidate, Demand, Scheduler
from mallee import errors
from mallee.rpc import Unreachable


class MemoryNode:
    """Stands in for a NodeClient: accepts launches until full, or refuses all."""

    def __init__(self, cores=2, refuse=False):
        self.cores, self.refuse = cores, refuse
        self.instances: dict[str, dict] = {}
        self.terminated: list[str] = []

    async def run_instance(self, spec):
        if self.refuse:
            raise errors.InsufficientInstanceCapacity("node refuses")
        self.instances[spec["instance_id"]] = {"instance_id": spec["instance_id"],
                                               "state": "pending", "cpu": spec["cpu"]}
        return {"state": "pending"}

    async def terminate_instance(self, instance_id):
        self.instances.pop(instance_id, None)
        self.terminated.append(instance_id)
        return {"state": "terminated"}

    async def describe_resource(self, metrics_ack=None):
        used = sum(i["cpu"] for i in self.instances.values())
        return {"cores_total": self.cores, "cores_free": self.cores - used,
                "memory_total_mb": 4096, "memory_free_mb": 4096, "disk_total_gb": 100,
                "disk_free_gb": 100, "instances": list(self.instances.values())}

    async def close(self):
        pass


def spec(n, cpu=1):
    return {"instance_id": f"i-{n:017x}", "instance_type": "m1.small", "cpu": cpu,
            "memory_mb": 256, "disk_gb": 5}


def tracker(nodes, policy="ROUNDROBIN"):
    registry = NodeRegistry([Node(f"n{i}", client) for i, client in enumerate(nodes)], 60)
    asyncio.run(registry.poll_all())
    launches = LaunchTracker(registry, Scheduler(policy))
    registry.after_poll.append(launches.after_poll)  # as the CC app wires it
    return registry, launches


def where(nodes, instance_id):
    return next(i for i, n in enumerate(nodes) if instance_id in n.instances)


def test_roundrobin_spreads_and_greedy_fills_first():
    nodes = [MemoryNode(4), MemoryNode(4)]
    registry, launches = tracker(nodes, "ROUNDROBIN")
    asyncio.run(launches.run([spec(i) for i in range(4)]))
    assert sorted(len(n.instances) for n in nodes) == [2, 2]
    nodes = [MemoryNode(4), MemoryNode(4)]
    registry, launches = tracker(nodes, "GREEDY")
    asyncio.run(launches.run([spec(i) for i in range(4)]))
    assert [len(n.instances) for n in nodes] == [4, 0]


def test_powersave_prefers_the_busy_node():
    scheduler = Scheduler("POWERSAVE")
    idle = Candidate("idle", 0, 8, 4096, 100, 8, 0)
    busy = Candidate("busy", 1, 2, 4096, 100, 8, 3)
    assert [c.endpoint for c in scheduler.rank([idle, busy], Demand(1, 256, 5))] == ["busy", "idle"]


def test_capacity_held_for_launches_the_node_has_not_reported():
    nodes = [MemoryNode(2)]
    registry, launches = tracker(nodes)
    results = asyncio.run(launches.run([spec(i) for i in range(3)]))
    assert [r["accepted"] for r in results] == [True, True, False]
    assert "Insufficient capacity" in results[2]["error"]


def test_a_refusing_node_is_skipped():
    nodes = [MemoryNode(4, refuse=True), MemoryNode(4)]
    registry, launches = tracker(nodes, "GREEDY")
    results = asyncio.run(launches.run([spec(1)]))
    assert results[0]["accepted"] and where(nodes, spec(1)["instance_id"]) == 1


def test_a_launch_failed_on_one_node_is_placed_on_another_and_cleaned_up():
    nodes = [MemoryNode(4), MemoryNode(4)]
    registry, launches = tracker(nodes, "GREEDY")
    iid = spec(7)["instance_id"]
    asyncio.run(launches.run([spec(7)]))
    assert where(nodes, iid) == 0
    nodes[0].instances[iid]["state"] = "failed"
    nodes[0].instances[iid]["reason"] = "disk full"
    asyncio.run(registry.poll_all())
    assert nodes[0].terminated == [iid]  # nothing left behind on the failing node
    assert where(nodes, iid) == 1
    view = {v["instance_id"]: v for v in launches.describe()}
    assert view[iid]["state"] == "pending" and view[iid]["node"] == "n1"
    # It fails there too: no node is left, so the cluster reports it failed.
    nodes[1].instances[iid].update(state="failed", reason="bad image")
    asyncio.run(registry.poll_all())
    view = {v["instance_id"]: v for v in launches.describe()}
    assert view[iid]["state"] == "failed" and "bad image" in view[iid]["reason"]
    assert nodes[1].terminated == [iid]


def test_running_instances_are_left_to_their_node():
    nodes = [MemoryNode(4)]
    registry, launches = tracker(nodes)
    iid = spec(9)["instance_id"]
    asyncio.run(launches.run([spec(9)]))
    nodes[0].instances[iid]["state"] = "running"
    asyncio.run(registry.poll_all())
    assert iid not in launches.launches
    assert {v["instance_id"]: v["state"] for v in launches.describe()} == {iid: "running"}
    asyncio.run(launches.terminate([iid]))
    assert nodes[0].instances == {}


class SilentNode(MemoryNode):
    """run_instance gives no answer (the RPC times out): `started` says whether the
    node started the guest all the same; `down` makes its polls time out too."""

    def __init__(self, cores=4, started=True):
        super().__init__(cores)
        self.started, self.down, self.runs = started, False, 0

    async def run_instance(self, spec):
        self.runs += 1
        if self.started:
            await super().run_instance(spec)
        raise Unreachable("https://127.0.0.1:1: timed out")

    async def describe_resource(self, metrics_ack=None):
        if self.down:
            raise Unreachable("https://127.0.0.1:1: timed out")
        return await super().describe_resource()


def domains(nodes, instance_id):
    return sum(instance_id in n.instances for n in nodes)


def test_a_run_that_timed_out_after_the_node_started_it_is_not_placed_again():
    nodes = [SilentNode(), MemoryNode(4)]
    registry, launches = tracker(nodes, "GREEDY")
    iid = spec(11)["instance_id"]
    results = asyncio.run(launches.run([spec(11)]))
    assert results == [{"instance_id": iid, "accepted": True}]
    for _ in range(3):
        asyncio.run(registry.poll_all())
    assert domains(nodes, iid) == 1 and where(nodes, iid) == 0
    view = {v["instance_id"]: v for v in launches.describe()}
    assert view[iid]["state"] == "pending" and view[iid]["node"] == "n0"
    nodes[0].instances[iid]["state"] = "running"
    asyncio.run(registry.poll_all())
    assert iid not in launches.launches and domains(nodes, iid) == 1


def test_a_run_lost_on_the_way_is_sent_to_the_same_node_again():
    nodes = [SilentNode(started=False), MemoryNode(4)]
    registry, launches = tracker(nodes, "GREEDY")
    iid = spec(12)["instance_id"]
    asyncio.run(launches.run([spec(12)]))
    assert domains(nodes, iid) == 0
    nodes[0].started = True  # the node answers its polls without it: send it there again
    asyncio.run(registry.poll_all())
    assert nodes[0].runs == 2 and domains(nodes, iid) == 1 and where(nodes, iid) == 0


def test_a_node_that_refuses_the_second_send_lets_the_launch_move():
    nodes = [SilentNode(started=False), MemoryNode(4)]
    registry, launches = tracker(nodes, "GREEDY")
    iid = spec(13)["instance_id"]
    asyncio.run(launches.run([spec(13)]))
    nodes[0].refuse = True  # now a definite answer: it does not run it
    nodes[0].run_instance = MemoryNode.run_instance.__get__(nodes[0])
    asyncio.run(registry.poll_all())
    assert domains(nodes, iid) == 1 and where(nodes, iid) == 1


def test_a_silent_node_fails_the_launch_after_the_grace_and_ends_it_when_back():
    nodes = [SilentNode(), MemoryNode(4)]
    registry = NodeRegistry([Node(f"n{i}", c) for i, c in enumerate(nodes)], 60)
    asyncio.run(registry.poll_all())
    launches = LaunchTracker(registry, Scheduler("GREEDY"), unconfirmed_grace=0)
    registry.after_poll.append(launches.after_poll)
    iid = spec(14)["instance_id"]
    asyncio.run(launches.run([spec(14)]))
    nodes[0].down = True
    asyncio.run(registry.poll_all())
    view = {v["instance_id"]: v for v in launches.describe()}
    assert view[iid]["state"] == "failed" and "no answer" in view[iid]["reason"]
    assert domains(nodes, iid) == 1 and where(nodes, iid) == 0  # never a second one
    nodes[0].down = False  # back, with the guest nobody wants any more
    asyncio.run(registry.poll_all())
    assert nodes[0].terminated == [iid] and domains(nodes, iid) == 0
    asyncio.run(registry.poll_all())
    assert domains(nodes, iid) == 0 and nodes[0].runs == 1


async def terminate_during_launch(registry, launches, n, let_go):
    """Launch spec(n), terminate it while the launch is held up, then let_go():
    the terminate answers terminated, and so it must stay."""
    iid = spec(n)["instance_id"]
    run = asyncio.create_task(launches.run([spec(n)]))
    await asyncio.sleep(0.01)
    assert (await launches.terminate([iid]))[0]["state"] == "terminated"
    let_go()
    await run
    await registry.poll_all()
    assert iid not in launches.launches and launches.describe() == []


def test_a_terminate_while_the_launch_waits_for_the_placing_lock_wins():
    nodes = [MemoryNode(4)]
    registry, launches = tracker(nodes)

    async def scenario():
        await launches._placing.acquire()  # another placement is under way
        await terminate_during_launch(registry, launches, 15, launches._placing.release)
    asyncio.run(scenario())
    assert nodes[0].instances == {}


class SlowNode(MemoryNode):
    """run_instance lands only once `go` is set: a terminate can overtake it."""

    def __init__(self):
        super().__init__(4)
        self.go = asyncio.Event()

    async def run_instance(self, spec):
        await self.go.wait()
        return await super().run_instance(spec)


def test_a_terminate_that_overtakes_the_run_leaves_no_domain():
    async def scenario():
        node = SlowNode()
        registry = NodeRegistry([Node("n0", node)], 60)
        await registry.poll_all()
        launches = LaunchTracker(registry, Scheduler("GREEDY"))
        await terminate_during_launch(registry, launches, 16, node.go.set)
        return node
    assert asyncio.run(scenario()).instances == {}


@pytest.mark.parametrize("policy", ["nonsense"])
def test_unknown_policy(policy):
    with pytest.raises(ValueError):
        Scheduler(policy)


class DelayedNode(MemoryNode):
    """Answers run_instance after `delay` seconds; counts the calls in flight."""

    in_flight = 0
    most = 0

    def __init__(self, cores=16, refuse=False, delay=0.05):
        super().__init__(cores, refuse)
        self.delay = delay

    async def run_instance(self, spec):
        DelayedNode.in_flight += 1
        DelayedNode.most = max(DelayedNode.most, DelayedNode.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await super().run_instance(spec)
        finally:
            DelayedNode.in_flight -= 1


def test_a_batch_is_sent_to_its_nodes_at_once_bounded_and_refusals_move_on():
    """One batch: the choices are made first, the runs go out together (not one node's
    answer after another), at most SEND_CONCURRENCY at a time; a refused launch goes
    to a node it has not tried, and fails with the refusal when none is left."""
    from cluster_controller.launches import SEND_CONCURRENCY
    DelayedNode.in_flight = DelayedNode.most = 0
    nodes = [DelayedNode(refuse=True)] + [DelayedNode() for _ in range(9)]
    registry, launches = tracker(nodes, "ROUNDROBIN")
    batch = [spec(i) for i in range(100)]

    async def go():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await launches.run(batch)
        return results, loop.time() - t0
    results, took = asyncio.run(go())
    assert all(r["accepted"] for r in results)
    assert sum(len(n.instances) for n in nodes) == 100 and not nodes[0].instances
    assert DelayedNode.most == SEND_CONCURRENCY
    assert took < 100 * 0.05 / 4  # one at a time would take 5 s
    assert {where(nodes, s["instance_id"]) for s in batch} == set(range(1, 10))

    alone = [DelayedNode(refuse=True)]
    registry, launches = tracker(alone)
    [result] = asyncio.run(launches.run([spec(999)]))
    assert not result["accepted"] and result["error"] == "n0: node refuses"
