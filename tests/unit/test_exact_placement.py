"""Capacity under concurrency is exact (issue 11, defect 23): the CLC holds
each instance it sent until a node's report counts it, never by the clock,
and the CLC and the CC both count what a node's report lists."""
import asyncio

import pytest

from cloud_controller.services.clusters import ClusterState
from cloud_controller.services.placement import Reservations, choose_cluster
from cluster_controller.launches import LaunchTracker
from cluster_controller.nodes import Node, NodeRegistry
from cluster_controller.scheduler import Scheduler
from mallee import errors
from mallee.settings import ClusterRef, VmType

SMALL = VmType("m1.small", 1, 256, 5)


def _node(cores_free, listed=()):
    return {"endpoint": "n1", "status": "up", "cores_total": 2, "cores_free": cores_free,
            "memory_total_mb": 1024, "memory_free_mb": 1024 - 256 * len(listed),
            "disk_total_gb": 100, "disk_free_gb": 100 - 5 * len(listed),
            "instances": [{"instance_id": i, "state": "pending", "cpu": 1, "memory_mb": 256,
                           "disk_gb": 5} for i in listed]}


def _cluster(node, instances=()):
    cluster = ClusterState(ClusterRef("c1", "z1", "127.0.0.1", 1), client=None)
    cluster.nodes, cluster.error = [node], None
    cluster.instances = {i: {"instance_id": i, "state": "pending", "node": "n1"}
                         for i in instances}
    return cluster


def _launch(cluster, reservations, instance_id):
    chosen, count = choose_cluster([cluster], reservations, SMALL, None, 1, 1)
    reservations[chosen.ref.name].hold([instance_id], SMALL)
    return count


def _full(cluster):
    """Reservations of a cluster whose two slots were just taken by i-1 and i-2."""
    reservations: dict[str, Reservations] = {}
    for instance_id in ("i-1", "i-2"):
        _launch(cluster, reservations, instance_id)
    return reservations


def test_a_poll_that_counts_a_held_instance_does_not_count_it_twice():
    reservations: dict[str, Reservations] = {}
    cluster = _cluster(_node(2))
    assert _launch(cluster, reservations, "i-1") == 1
    # The next poll, a moment later: the node already counts i-1 in its figures.
    cluster.nodes, cluster.instances = [_node(1, ["i-1"])], {}
    assert _launch(cluster, reservations, "i-2") == 1  # room for two: the second fits
    with pytest.raises(errors.InsufficientInstanceCapacity):
        _launch(cluster, reservations, "i-3")


def test_a_stale_poll_does_not_forget_what_was_sent():
    cluster = _cluster(_node(2))
    reservations = _full(cluster)
    # Polls that do not show them yet, however late they come: still held.
    cluster.polled_at += 60
    with pytest.raises(errors.InsufficientInstanceCapacity):
        _launch(cluster, reservations, "i-3")


def test_a_node_listing_an_instance_its_figures_miss_still_counts_it():
    reservations: dict[str, Reservations] = {}
    # The node summed its figures before i-1 landed and listed it after.
    cluster = _cluster(_node(2, ["i-1"]))
    _launch(cluster, reservations, "i-2")
    with pytest.raises(errors.InsufficientInstanceCapacity):
        _launch(cluster, reservations, "i-3")


def test_a_terminated_or_failed_launch_gives_its_room_back():
    cluster = _cluster(_node(2))
    reservations = _full(cluster)
    reservations["c1"].release(["i-1"])  # terminated before it landed
    cluster.instances = {"i-2": {"instance_id": "i-2", "state": "failed", "node": None}}
    _launch(cluster, reservations, "i-3")
    _launch(cluster, reservations, "i-4")


class _Reporting:
    """A node whose report lists an instance its free figures do not count yet."""

    async def describe_resource(self, metrics_ack=None):
        return {"cores_total": 2, "cores_free": 2, "memory_total_mb": 1024,
                "memory_free_mb": 1024, "disk_total_gb": 100, "disk_free_gb": 100,
                "instances": [{"instance_id": "i-x", "state": "pending", "cpu": 1,
                               "memory_mb": 256, "disk_gb": 5}]}

    async def run_instance(self, spec):
        return {"state": "pending"}

    async def close(self):
        pass


def test_the_cc_counts_what_a_node_lists():
    async def scenario():
        registry = NodeRegistry([Node("n1", _Reporting())], 60)
        await registry.poll_all()
        launches = LaunchTracker(registry, Scheduler("GREEDY"))
        spec = {"instance_type": "m1.small", "cpu": 1, "memory_mb": 256, "disk_gb": 5}
        first = await launches.run([{**spec, "instance_id": "i-1"}])
        second = await launches.run([{**spec, "instance_id": "i-2"}])
        return first[0]["accepted"], second[0]["accepted"]
    assert asyncio.run(scenario()) == (True, False)  # i-x and i-1 fill its two cores
