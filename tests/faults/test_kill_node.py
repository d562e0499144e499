"""Kill -9 the NC at every step of a real guest's launch (spec written,
domain defined, started paused, plugged but not resumed) and of its
terminate (domain gone, network not yet), and from outside while a guest
boots; start it again: every instance reaches running or terminated, and
once they are ended no domain, instance directory, tap, set member,
iptables rule or lease of theirs is left on the node."""
from __future__ import annotations

import subprocess
import time

import pytest

from node_controller.hypervisor.kvm_probe import PROBE_NAME_PREFIX, _prober_alive
from node_controller.network.names import tap_name
from tests.faults.instances import converge, every_instance, wait_for_room
from tests.faults.objects import FAILED_CALL
from tests.faults.processes import Component
from tests.faults.survival import SURVIVED
from tests.integration.guests import domains, guest_taps, real_cloud

pytestmark = [pytest.mark.faults, pytest.mark.integration]

LAUNCH_POINTS = ["nc.run.spec_written", "nc.launch.defined", "nc.launch.started_paused",
                 "nc.launch.before_resume"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    cloud = real_cloud(tmp_path_factory.mktemp("kill-nc"), components=("walrus", "sc", "cc", "clc"),
                       MALLEE_NC_CORES="2", MALLEE_CLC_RESEND_AFTER_SECONDS="2")
    nc = Component(cloud, "nc")
    try:
        nc.start()
        image = cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
        yield {"cloud": cloud, "nc": nc, "ec2": cloud.client("ec2", read_timeout=60),
               "image": image, "returned": set(), "ended": {}}
    finally:
        nc.stop()
        cloud.stop()


def _traces(cloud, instance_id: str, private_ip: str | None) -> list[str]:
    """What of one ended instance is still on the node."""
    ns = f"mallee-{cloud.settings.nc.name}"
    left = []
    if instance_id in domains():
        left.append("domain")
    if (cloud.nc_state / "instances" / instance_id).exists():
        left.append("instance directory")
    if any(f" {tap_name(instance_id)}@" in line or f" {tap_name(instance_id)}:" in line
           for line in guest_taps(cloud)):
        left.append("tap")
    for what, argv in (("ipset member", ["ipset", "save"]),
                       ("iptables rule", ["iptables-save"])):
        out = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                             text=True).stdout
        if private_ip and private_ip in out.replace("/32", " ").split():
            left.append(what)
    return left


def _no_traces(node) -> None:
    cloud = node["cloud"]
    deadline = time.monotonic() + 30  # a tap QEMU held is retried every 2 s
    while True:
        left = {i: t for i, ip in node["ended"].items() if (t := _traces(cloud, i, ip))}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not left, f"left on the node by ended instances: {left}"
    stale = [d for d in domains() if d.startswith(PROBE_NAME_PREFIX) and not _prober_alive(d)]
    assert not stale, f"KVM probe domains of killed NCs still run: {stale}"


def _settle(node, fault: str) -> None:
    nc, cloud, ec2 = node["nc"], node["cloud"], node["ec2"]
    if nc.proc.poll() is None:
        nc.wait_killed()
    nc.start()
    states = converge(cloud, ec2, node["returned"])
    seen = every_instance(ec2)
    running = [i for i, v in seen.items() if v["State"]["Name"] == "running"]
    if running:  # end them too: nothing of theirs may stay behind
        for i in running:
            node["ended"][i] = seen[i].get("PrivateIpAddress")
            # Running means booted (a guest left paused would be "running" too).
            assert cloud.wait_for(lambda: "MALLEE-TEST-BOOTED" in _console(ec2, i),
                                  timeout=120, interval=1), (_domstate(i), _console(ec2, i)[-800:])
            # The check sees a live guest's traces, so it can see an ended one's.
            assert cloud.wait_for(lambda: set(_traces(cloud, i, node["ended"][i])) == {
                "domain", "instance directory", "tap", "ipset member", "iptables rule"},
                timeout=15), _traces(cloud, i, node["ended"][i])
        ec2.terminate_instances(InstanceIds=running)
        converge(cloud, ec2, node["returned"])
    _no_traces(node)
    SURVIVED.record("nc", fault, ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
                    + "; each running one booted; then all ended: 0 domains (probes too), dirs, taps, set members, rules left")


def _domstate(instance_id: str) -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", "domstate", "--reason", instance_id],
                          capture_output=True, text=True).stdout.strip()


def _console(ec2, instance_id: str) -> str:
    return ec2.get_console_output(InstanceId=instance_id).get("Output", "")


def _launch(node) -> str:
    made = node["ec2"].run_instances(ImageId=node["image"], MinCount=1, MaxCount=1,
                                     InstanceType="m1.small")
    instance_id = made["Instances"][0]["InstanceId"]
    node["returned"].add(instance_id)
    return instance_id


@pytest.mark.parametrize("point", LAUNCH_POINTS)
def test_kill_in_launch(node, point):
    node["nc"].stop()
    node["nc"].start(crash_at=point).wait_polled()
    wait_for_room(node["cloud"], node["ec2"])
    _launch(node)
    _settle(node, f"launch, kill at {point.split('.', 1)[1]}")


def test_kill_in_terminate(node):
    wait_for_room(node["cloud"], node["ec2"])
    instance_id = _launch(node)
    assert node["cloud"].wait_for(lambda: every_instance(node["ec2"])[instance_id]["State"]
                                  ["Name"] == "running", timeout=90)
    node["ended"][instance_id] = every_instance(node["ec2"])[instance_id]["PrivateIpAddress"]
    node["nc"].stop()
    node["nc"].start(crash_at="nc.terminate.domain_removed").wait_polled()
    wait_for_room(node["cloud"], node["ec2"])
    try:
        node["ec2"].terminate_instances(InstanceIds=[instance_id])
    except FAILED_CALL:
        pass
    _settle(node, "terminate, kill after the domain went")
    assert every_instance(node["ec2"])[instance_id]["State"]["Name"] == "terminated"


def test_kill_from_outside_while_booting(node):
    wait_for_room(node["cloud"], node["ec2"])
    _launch(node)
    time.sleep(1.0)  # the image is fetched and the domain on its way
    node["nc"].kill()
    _settle(node, "launch, kill -9 from outside 1 s in")
