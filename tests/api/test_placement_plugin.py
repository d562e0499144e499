"""A placement policy named as module:Class runs in a real cloud (issue 16 items 2
and 4): the CC loads it from MALLEE_CC_SCHEDULER and RunInstances places by it
across three FakeDriver nodes; its rebalance's power-off is honoured (the node
takes nothing, DescribeAvailabilityZones verbose and the CC's node listing show
it off) and its migrations are refused with the reason."""
from __future__ import annotations

import json

import pytest

from cluster_controller.placement import NO_LIVE_MIGRATION
from tests import placement_plugin
from tests.api.network_view import cc_admin_call
from tests.harness import Cloud, available_components

FAST = {"Delay": 1, "MaxAttempts": 60}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    placement_plugin.POWER_OFF.clear()
    env = {"MALLEE_CC_SCHEDULER": "tests.placement_plugin:Backwards",
           "MALLEE_CC_REBALANCE_SECONDS": "0.2"}
    c = Cloud(tmp_path_factory.mktemp("cloud"), available_components(), env=env,
              nodes=3).start()
    yield c
    c.stop()
    placement_plugin.POWER_OFF.clear()


@pytest.fixture(scope="module")
def ec2(cloud):
    return cloud.client("ec2")


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]


def cc_resources(cloud) -> dict:
    """The CC's describe_resources, as `mallee status` reads it (admin certificate)."""
    return cc_admin_call(cloud, "describe_resources")


def endpoints(cloud) -> list[str]:
    return list(cloud.settings.cc.nodes)


def node_of(cloud, instance_id) -> str | None:
    return next((n["endpoint"] for n in cc_resources(cloud)["nodes"]
                 if any(i["instance_id"] == instance_id for i in n["instances"])), None)


def launch(ec2, image) -> str:
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small")["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    return instance_id


def test_the_plugin_places_powers_off_and_has_its_migrations_refused(cloud, ec2, image):
    n0, n1, n2 = endpoints(cloud)
    first = launch(ec2, image)
    assert node_of(cloud, first) == n2  # the plug-in's choice; every built-in takes n0
    # Its rebalance wants the guest on n0: refused on real nodes, with the reason.
    placement = cloud.wait_for(
        lambda: (p := cc_resources(cloud)["placement"])["migrations_refused"] and p)
    assert placement["policy"] == "Backwards"
    assert NO_LIVE_MIGRATION in placement["last_refusal"] and first in placement["last_refusal"]
    assert node_of(cloud, first) == n2

    placement_plugin.POWER_OFF.update({n1, n2})  # n2 runs an instance: it stays on
    assert cloud.wait_for(lambda: {n["endpoint"]: n["power"] for n in
                                   cc_resources(cloud)["nodes"]} == {n0: "on", n1: "off",
                                                                     n2: "on"}, timeout=15)
    second = launch(ec2, image)
    assert node_of(cloud, second) == n0  # n1, the least loaded, is off
    third = launch(ec2, image)
    assert node_of(cloud, third) in (n0, n2)
    nodes = {n["endpoint"]: n for n in cc_resources(cloud)["nodes"]}
    assert nodes[n1]["instances"] == [] and nodes[n1]["status"] == "up"
    saved = cloud.home / "data" / "cc" / cloud.settings.cc.name / "power.json"
    assert json.loads(saved.read_text()) == {"off": [n1]}

    lines = cloud.wait_for(lambda: (z := {
        z["ZoneName"]: z["State"] for z in ec2.describe_availability_zones(
            ZoneNames=["verbose"])["AvailabilityZones"]})["|- nodes"].startswith("2 up") and z)
    assert lines["|- nodes"] == "2 up, 1 powered off, 0 unreachable"
    # The CLC counts no room on n1: 3 nodes x 8 m1.small, 3 running, n1's 8 off.
    assert lines["|- m1.small"].startswith("0013 / 0024")
    status = json.loads(cloud.mallee("status", "--output", "json").stdout)
    assert {n["endpoint"]: n["power"] for n in status["nodes"]}[n1] == "off"

    # The admin's side: `mallee admin node-power`, through the same path.
    placement_plugin.POWER_OFF.clear()
    busy = cloud.mallee("admin", "node-power", n2, "off")
    assert busy.returncode == 1 and f"power off of {n2} refused: it runs" in busy.stderr
    unknown = cloud.mallee("admin", "node-power", "10.9.9.9:1", "off")
    assert unknown.returncode == 1 and "No node '10.9.9.9:1'" in unknown.stderr
    on = cloud.mallee("admin", "node-power", n1, "on")
    assert on.returncode == 0 and on.stdout.strip() == f"{n1} powered on", on.stderr
    assert json.loads(saved.read_text()) == {"off": []}
    fourth = launch(ec2, image)
    assert node_of(cloud, fourth) == n1  # back on, and the least loaded
    ec2.terminate_instances(InstanceIds=[first, second, third, fourth])
