"""What the control-plane kill -9 tests check after every restart: every
instance the API returned reaches running or terminated (with a reason),
the node runs exactly the instances the CLC thinks run, and no address is
held twice."""
from __future__ import annotations

import time
from collections import Counter

from mallee.rpc import client_ssl_context
from node_controller.client import NodeClient
from tests.harness import Cloud

SETTLED = ("running", "terminated")
CONVERGE_TIMEOUT = 90.0  # seconds: polls (0.5 s), resends (2 s) and a restart's first polls


def wait_for_room(cloud: Cloud, ec2, vmtype: str = "m1.small", timeout: float = 30.0) -> None:
    """Until the CLC sees room for one `vmtype` again (`euca-describe-availability-zones
    verbose`): after a restart RunInstances is rightly refused until the polls tell."""
    def room() -> bool:
        zones = ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
        line = next((z for z in zones if z["ZoneName"] == f"|- {vmtype}"), None)
        return line is not None and int(line["State"].split("/")[0]) > 0
    assert cloud.wait_for(room, timeout=timeout), (
        f"no room for {vmtype} came back: "
        f"{ec2.describe_availability_zones(ZoneNames=['verbose'])['AvailabilityZones']}")


def every_instance(ec2) -> dict[str, dict]:
    pages = ec2.get_paginator("describe_instances").paginate()
    return {i["InstanceId"]: i for page in pages for r in page["Reservations"]
            for i in r["Instances"]}


def node_instances(cloud: Cloud) -> dict[str, str]:
    """What each node itself reports: instance id -> state (all nodes)."""
    async def ask():
        out = {}
        for settings in cloud.node_settings:
            client = NodeClient("127.0.0.1", settings.nc.port,
                                client_ssl_context(cloud.settings.pki_dir, "cc"))
            try:
                report = await client.describe_resource()
            finally:
                await client.close()
            out.update({i["instance_id"]: i["state"] for i in report["instances"]})
        return out
    return cloud.run(ask())


def converge(cloud: Cloud, ec2, returned: set[str]) -> Counter:
    """Wait (bounded) until nothing is pending or ending, then check the whole
    picture. Returns how many instances (returned by the API or not) are in each state."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        seen = every_instance(ec2)
        unsettled = {i: v["State"]["Name"] for i, v in seen.items()
                     if v["State"]["Name"] not in SETTLED}
        if not unsettled:
            break
        assert time.monotonic() < deadline, f"never settled: {unsettled}"
        time.sleep(0.5)
    missing = returned - seen.keys()
    assert not missing, f"instances the API returned are gone: {missing}"
    for instance_id, inst in seen.items():
        if inst["State"]["Name"] == "terminated":
            assert inst.get("StateReason", {}).get("Message"), f"{instance_id} ended, no reason"
    running = {i for i, v in seen.items() if v["State"]["Name"] == "running"}
    # The node is told of ends by the CC's next round: give it that long.
    deadline = time.monotonic() + 30
    while (on_node := set(node_instances(cloud))) != running and time.monotonic() < deadline:
        time.sleep(0.5)
    assert on_node == running, (f"orphans on the node: {on_node - running}; "
                                f"running but not on the node: {running - on_node}")
    for field in ("PrivateIpAddress", "PublicIpAddress"):
        held = Counter(seen[i].get(field) for i in running if seen[i].get(field))
        twice = [a for a, n in held.items() if n > 1]
        assert not twice, f"{field} held by two running instances: {twice}"
    return Counter(v["State"]["Name"] for v in seen.values())
