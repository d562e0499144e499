"""VPC mode with real guests (docs/vpc.md): TCG guests on OVN, each on its own
node's br-int through the NC's plug, addressed by OVN's native DHCP, routed
between the subnets of their VPC by its logical router; two VPCs with the same
CIDR stay apart, and nothing is left in OVN or on br-int after terminate.

Each guest reads its metadata and user data through its subnet's metadata
port; the user data pings the other guest and reads its SSH banner over TCP,
across the subnets. The test also looks at the guests from namespaces it plugs
into the subnets as OVN ports of its own (tests/integration/ovn_probe.py)."""
from __future__ import annotations

import subprocess
import time

import pytest

from mallee.ovn_central import missing_binaries
from node_controller.network.ovn_chassis import OvnChassis, missing_binaries as missing_node
from tests.integration.guests import domains, ports_but_default_gateways, real_cloud
from tests.integration.ovn_probe import Probe
from tests.ovn_nb import by_mallee_id

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_binaries() + missing_node()),
                                 reason="Open vSwitch / OVN not installed")]

BOOT_TIMEOUT = 150


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("vpcg"), MALLEE_NETWORK_MODE="vpc")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]


def instance_ports(cloud) -> dict:
    return by_mallee_id(cloud, "Logical_Switch_Port", "mallee:instance-id")


def test_guests_on_ovn_across_subnets_and_vpcs_apart(cloud, image):
    ec2 = cloud.client("ec2")
    chassis = OvnChassis.of(cloud.settings)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.2.0/24")["Subnet"]["SubnetId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    c = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    # the guests are in their VPC's default group (open to its members) and one that
    # lets the probes ping them; tcp/22 from the probes only once the test allows it
    groups = {}
    for name, v, ports in (("probes", vpc, ()), ("open", other_vpc, (22,))):
        groups[name] = ec2.create_security_group(GroupName=name, Description=name,
                                                 VpcId=v)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=groups[name], IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
             "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}] + [
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
             "IpRanges": [{"CidrIp": "10.40.0.0/16"}]} for p in ports])
    groups["default"] = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])[
            "SecurityGroups"][0]["GroupId"]
    port = cloud.settings.nc.port
    probes = [Probe(cloud, f"vpa{port}", f"mallee-{a}", "0a:00:00:00:01:0a", "10.40.1.10/24",
                    "10.40.1.1"),
              Probe(cloud, f"vpb{port}", f"mallee-{b}", "0a:00:00:00:02:0a", "10.40.2.10/24",
                    "10.40.2.1"),
              Probe(cloud, f"vpc{port}", f"mallee-{c}", "0a:00:00:01:01:0a", "10.40.1.10/24",
                    "10.40.1.1")]
    try:
        for probe in probes:
            probe.start()
        probe_a, probe_b, probe_c = probes
        _check(cloud, ec2, image, chassis, (a, b, c), (probe_a, probe_b, probe_c), groups)
    finally:
        for probe in probes:
            probe.stop()
    # nothing of the guests, their metadata or the probes
    assert ports_but_default_gateways(chassis, ec2) == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"mmd-{cloud.settings.nc.name}-" not in netns  # the metadata namespaces went


def _run(ec2, image, subnet_id, **kw) -> dict:
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m1.small",
                             SubnetId=subnet_id, **kw)["Instances"][0]


def _wait_booted(cloud, ec2, instance_ids):
    def console(instance_id):
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""
    for instance_id in instance_ids:
        assert cloud.wait_for(lambda: "MALLEE-TEST-BOOTED" in console(instance_id),
                              timeout=BOOT_TIMEOUT, interval=1), console(instance_id)[-1500:]


def _terminate(cloud, ec2, instance_ids):
    ec2.terminate_instances(InstanceIds=instance_ids)
    assert cloud.wait_for(lambda: not set(instance_ids) & domains(), timeout=60)


def peer_check(peer: str) -> str:
    """User data: wait for the peer (up to a minute), then ping it, and read its
    dropbear's banner over TCP once it listens; the results on the console."""
    return f"""#!/bin/sh
i=0
until ping -c 1 -W 1 {peer} >/dev/null 2>&1 || [ $i -ge 60 ]; do i=$((i + 1)); sleep 1; done
ping -c 1 -W 2 {peer} >/dev/null 2>&1 && echo "peer-ping: ok" || echo "peer-ping: failed"
i=0
until banner=$(echo | timeout 5 nc {peer} 22 2>/dev/null | head -c 16) && [ -n "$banner" ] \
    || [ $i -ge 60 ]; do i=$((i + 1)); sleep 1; done
echo "peer-tcp: $banner"
"""


def _check(cloud, ec2, image, chassis, subnets, probes, groups):
    a, b, c = subnets
    probe_a, probe_b, probe_c = probes
    ip_a, ip_b = "10.40.1.20", "10.40.2.20"
    in_vpc = [groups["default"], groups["probes"]]
    first = _run(ec2, image, a, PrivateIpAddress=ip_a, UserData=peer_check(ip_b),
                 SecurityGroupIds=in_vpc)
    second = _run(ec2, image, b, PrivateIpAddress=ip_b, UserData=peer_check(ip_a),
                  SecurityGroupIds=in_vpc)
    mac_a = first["NetworkInterfaces"][0]["MacAddress"]
    _wait_booted(cloud, ec2, [first["InstanceId"], second["InstanceId"]])
    # metadata in own subnets (the subnet's localport, served on this node): the
    # instance id, and its user data, which reaches the other guest across subnets
    for instance, peer in ((first, ip_b), (second, ip_a)):
        def console():
            return ec2.get_console_output(InstanceId=instance["InstanceId"]).get("Output") or ""
        assert f"instance-id: {instance['InstanceId']}" in console(), console()[-1500:]
        assert cloud.wait_for(lambda: "peer-tcp:" in console(), timeout=90, interval=1), \
            console()[-1500:]
        assert "peer-ping: ok" in console(), console()[-1500:]
        assert "peer-tcp: SSH-2.0-dropbear" in console(), console()[-1500:]
    # each guest's tap is a port of br-int bound to its logical port
    taps = chassis.ports()
    assert len([t for t in taps if t.startswith("vn")]) == 2, taps
    ifaces = chassis.vsctl("--columns=external_ids", "find", "Interface",
                           f"external_ids:iface-id=mallee-{first['NetworkInterfaces'][0]['NetworkInterfaceId']}")
    assert "iface-id" in ifaces

    # DHCP gave each its address: a neighbour in its subnet reaches it there, and one in
    # the other subnet through the VPC's router; TCP too (dropbear's banner)
    assert cloud.wait_for(lambda: probe_a.ping(ip_a), timeout=30, interval=0.5)
    assert probe_a.neighbour_mac(ip_a) == mac_a
    assert cloud.wait_for(lambda: probe_a.ping(ip_b), timeout=30, interval=0.5)
    assert probe_b.ping(ip_a) and probe_b.ping(ip_b)
    # the guests' groups: their SSH is open to each other (the default group, above), not
    # to the probes until a rule allows it; in force once the API answered
    assert probe_a.banner(ip_b) == "", "no rule allows tcp/22 from the probe"
    ec2.authorize_security_group_ingress(GroupId=groups["probes"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}])
    answered = time.monotonic()
    assert cloud.wait_for(lambda: probe_a.banner(ip_b).startswith("SSH-2.0-dropbear"),
                          timeout=10, interval=0.05)
    print(f"tcp/22 open {time.monotonic() - answered:.3f} s after the reply")
    assert probe_a.banner(ip_b).startswith("SSH-2.0-dropbear"), "TCP across subnets"
    assert probe_b.banner(ip_a).startswith("SSH-2.0-dropbear"), "TCP across subnets"

    # the other VPC, same CIDR: a guest there at the same address as the first one
    _terminate(cloud, ec2, [second["InstanceId"]])  # two cores: two guests at once
    third = _run(ec2, image, c, PrivateIpAddress=ip_a, SecurityGroupIds=[groups["open"]])
    assert third["PrivateIpAddress"] == ip_a
    mac_c = third["NetworkInterfaces"][0]["MacAddress"]
    _wait_booted(cloud, ec2, [third["InstanceId"]])
    assert cloud.wait_for(lambda: probe_c.ping(ip_a), timeout=30, interval=0.5)
    assert probe_c.neighbour_mac(ip_a) == mac_c  # its own VPC's guest answers
    assert probe_a.ping(ip_a) and probe_a.neighbour_mac(ip_a) == mac_a  # and the first's
    assert probe_c.banner(ip_a).startswith("SSH-2.0-dropbear")
    assert not probe_c.ping("10.40.2.10")  # the first VPC's other subnet is not there
    assert probe_a.ping("10.40.2.10")

    _terminate(cloud, ec2, [first["InstanceId"], third["InstanceId"]])
    assert not instance_ports(cloud)
    assert cloud.wait_for(lambda: not [t for t in chassis.ports() if t.startswith("vn")],
                          timeout=30), chassis.ports()
