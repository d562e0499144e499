"""A client's networking through the whole cloud with real guests (Eucalyptus's
QA scenarios): SSH through an elastic IP from the outside namespace, a group
rule revoked and granted again, peers in one group reaching each other only
as its rules allow, an elastic IP moved, and a clean node afterwards. In both
network modes: EDGE's data plane, and vpc mode's default VPC on OVN, where the
same calls (no subnet, groups without a VPC) must work unchanged (docs/vpc.md)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mallee.ovn_central import missing_binaries
from node_controller.network.ovn_chassis import missing_binaries as missing_node
from tests.integration.guests import (assert_no_taps_left, domains, key_pair,
                                      real_cloud, ssh)

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 150


@pytest.fixture(scope="module", params=["edge", "vpc"])
def cloud(request, tmp_path_factory):
    if request.param == "vpc" and missing_binaries() + missing_node():
        pytest.skip("Open vSwitch / OVN not installed")
    c = real_cloud(tmp_path_factory.mktemp(f"netcloud-{request.param}"),
                   MALLEE_NETWORK_MODE=request.param)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]


def port_open(cloud, address, port) -> bool:
    """A fresh TCP connection from the outside namespace gets an answer within 0.5 s."""
    probe = (f"import socket; s = socket.socket(); s.settimeout(0.5); "
             f"s.connect(({address!r}, {port}))")
    return subprocess.run(["ip", "netns", "exec", cloud.settings.network.uplink_netns,
                           sys.executable, "-c", probe], capture_output=True).returncode == 0


def test_ssh_through_an_elastic_ip_and_group_rules(cloud, image, tmp_path):
    ec2 = cloud.client("ec2")
    key = key_pair(ec2, "k1", tmp_path)
    group = ec2.create_security_group(GroupName="ssh", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    made = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="m1.small",
                             KeyName="k1", SecurityGroupIds=[group], UserData="hello")
    ids = [i["InstanceId"] for i in made["Instances"]]

    def described():
        return {i["InstanceId"]: i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                for i in r["Instances"]}

    def console(instance_id):
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""

    assert cloud.wait_for(lambda: all(i["State"]["Name"] == "running"
                                      for i in described().values()), timeout=BOOT_TIMEOUT)
    private = {i: d["PrivateIpAddress"] for i, d in described().items()}
    assert len(set(private.values())) == 2 and all(private.values())
    for instance_id in ids:
        assert cloud.wait_for(lambda: "ssh: started" in console(instance_id),
                              timeout=BOOT_TIMEOUT, interval=1), console(instance_id)[-1500:]
        assert f"instance-id: {instance_id}" in console(instance_id)
        assert "user-data: hello" in console(instance_id)

    address = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(InstanceId=ids[0], AllocationId=address["AllocationId"])
    eip = address["PublicIp"]
    assert described()[ids[0]]["PublicIpAddress"] == eip
    # The address's NAT lands within a second of the reply; on a loaded host the
    # first login may need another try, so wait for it (bounded).
    read_id = "wget -qO- http://169.254.169.254/latest/meta-data/instance-id"
    assert cloud.wait_for(lambda: ssh(cloud, key, eip, read_id).stdout.strip() == ids[0],
                          timeout=30), ssh(cloud, key, eip, read_id).stderr

    # Peers in one group reach each other only as its rules allow.
    ping = f"ping -c 1 -W 2 {private[ids[1]]}"
    assert ssh(cloud, key, eip, ping).returncode != 0
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
         "UserIdGroupPairs": [{"GroupId": group}]}])
    assert cloud.wait_for(lambda: ssh(cloud, key, eip, ping).returncode == 0, timeout=20)

    # Revoke SSH: refused from outside; grant it again: back.
    ssh_rule = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=ssh_rule)
    revoked = time.monotonic()
    assert cloud.wait_for(lambda: not port_open(cloud, eip, 22), timeout=10, interval=0.02)
    print(f"\nrevoke enforced {time.monotonic() - revoked:.3f} s after the API reply")
    assert ssh(cloud, key, eip, "true", timeout=3).returncode != 0
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ssh_rule)
    granted = time.monotonic()
    assert cloud.wait_for(lambda: port_open(cloud, eip, 22), timeout=10, interval=0.02)
    print(f"authorize enforced {time.monotonic() - granted:.3f} s after the API reply")
    assert cloud.wait_for(lambda: ssh(cloud, key, eip, "true").returncode == 0, timeout=30)

    # The elastic IP moves to the other instance.
    ec2.associate_address(InstanceId=ids[1], AllocationId=address["AllocationId"],
                          AllowReassociation=True)
    assert cloud.wait_for(lambda: ssh(cloud, key, eip, read_id).stdout.strip() == ids[1],
                          timeout=30)

    ec2.terminate_instances(InstanceIds=ids)
    assert cloud.wait_for(lambda: all(i["State"]["Name"] == "terminated"
                                      for i in described().values()), timeout=60)
    assert_no_taps_left(cloud, ids)
    assert not set(ids) & domains()
