"""VPC mode's way out, with real guests (issue 15's "Done when", docs/vpc.md):
a public subnet routed to an internet gateway, a private one routed to a NAT
gateway in the public one, and the node's outside bridge (br-ex) that carries
both to the outside world (the cloud's outside namespace).

- From the outside: ssh with the key pair through the public instance's
  elastic IP; from it, the outside (ping, and TCP to a server in the outside
  namespace that records its peer: the elastic IP) and the private instance's
  SSH port.
- The private instance (user data) reaches the outside through the NAT
  gateway: the server sees the NAT gateway's elastic IP as the source.
- A network ACL on the private subnet that denies inbound tcp/22 below an
  allow-all cuts the public instance's hop to it; the default ACL back
  restores it.
- Everything deleted through the API leaves no row of it in OVN's NB and no
  tap or OVS port of the guests on the node; the node's stop leaves no OVS
  process, bridge device or outside veth."""
from __future__ import annotations

import ipaddress
import subprocess
import sys
import time

import pytest

from mallee.ovn_central import missing_binaries
from node_controller.network.ovn_chassis import (OUTSIDE_BRIDGE, OvnChassis,
                                                 missing_binaries as missing_node)
from node_controller.network.names import tap_name
from node_controller.network.namespace import link_exists
from tests.api.test_vpc_security import sbctl
from tests.integration.guests import (domains, key_pair, ports_but_default_gateways,
                                      real_cloud, ssh)
from tests.ovn_nb import nb_rows

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_binaries() + missing_node()),
                                 reason="Open vSwitch / OVN not installed")]

BOOT_TIMEOUT = 150
SERVER_PORT = 8088  # the outside's TCP server (in the cloud's own outside namespace)
NB_TABLES = ("Logical_Router", "Logical_Router_Port", "Logical_Switch", "Logical_Switch_Port",
             "Logical_Router_Static_Route", "NAT", "DHCP_Options", "Port_Group", "ACL",
             "Gateway_Chassis")

# The outside's server: accept, record "peer-address first-line" per connection.
SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
log = open(sys.argv[2], "a", buffering=1)
while True:
    c, peer = s.accept()
    c.settimeout(3)
    try:
        line = c.recv(256).decode(errors="replace").strip()
    except OSError:
        line = ""
    log.write(f"{peer[0]} {line}\n")
    c.close()
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("vpcgw"), MALLEE_NETWORK_MODE="vpc")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]


@pytest.fixture()
def outside_server(cloud, tmp_path):
    """A TCP server in the outside namespace; yields the file of what it saw."""
    seen = tmp_path / "seen.txt"
    seen.touch()
    proc = subprocess.Popen(["ip", "netns", "exec", cloud.settings.network.uplink_netns,
                             sys.executable, "-c", SERVER, str(SERVER_PORT), str(seen)])
    try:
        yield seen
    finally:
        proc.terminate()
        proc.wait(10)


def reach_outside(gateway: str, tag: str) -> str:
    """User data: ping the outside's gateway and send `tag` to its server, each
    tried every 2 s until it works (at most 3 minutes); the results on the console."""
    return f"""#!/bin/sh
i=0
until ping -c 1 -W 1 {gateway} >/dev/null 2>&1 || [ $i -ge 90 ]; do i=$((i + 1)); sleep 1; done
ping -c 1 -W 2 {gateway} >/dev/null 2>&1 && echo "outside-ping: ok" || echo "outside-ping: failed"
i=0
until echo {tag} | timeout 3 nc {gateway} {SERVER_PORT} >/dev/null 2>&1 || [ $i -ge 90 ]; do
    i=$((i + 1)); sleep 2; done
[ $i -lt 90 ] && echo "outside-tcp: ok" || echo "outside-tcp: failed"
"""


def peers(seen, tag: str) -> set[str]:
    return {line.split()[0] for line in seen.read_text().splitlines()
            if line.split()[1:] == [tag]}


def mallee_rows(cloud, ids: set[str]) -> list[tuple[str, str]]:
    """NB rows whose mallee: external_ids name any of `ids`: (table, row name or uuid)."""
    return [(table, row.get("name") or row["_uuid"]) for table in NB_TABLES
            for row in nb_rows(cloud, table)
            if {v for k, v in row["external_ids"].items() if k.startswith("mallee:")} & ids]


def test_public_and_private_subnets_through_the_gateways(cloud, image, tmp_path,
                                                        outside_server):
    ec2 = cloud.client("ec2")
    n = cloud.settings.network
    outside_ip = n.uplink_gateway
    chassis = OvnChassis.of(cloud.settings)
    # the chassis maps the outside bridge, and br-ex holds the veth onto the outside
    ids = chassis.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-bridge-mappings")
    assert ids.strip().strip('"') == f"mallee-outside:{OUTSIDE_BRIDGE}"
    assert ports_but_default_gateways(chassis, ec2, OUTSIDE_BRIDGE) == [chassis.outside_port]
    assert link_exists(chassis.outside_peer, n.uplink_netns)
    made: set[str] = set()

    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.1.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.2.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    public_assoc = ec2.associate_route_table(RouteTableId=public_rtb,
                                             SubnetId=public)["AssociationId"]
    nat_eip = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=nat_eip["AllocationId"]
                                 )["NatGateway"]["NatGatewayId"]
    private_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0",
                     NatGatewayId=nat)
    private_assoc = ec2.associate_route_table(RouteTableId=private_rtb,
                                              SubnetId=private)["AssociationId"]
    assert cloud.wait_for(lambda: ec2.describe_nat_gateways(NatGatewayIds=[nat])[
        "NatGateways"][0]["State"] == "available", timeout=20)
    # the gateway port is bound to this node's chassis, the one that maps br-ex
    (port,) = [p for p in nb_rows(cloud, "Logical_Router_Port") if p["name"] == f"mallee-lrp-{igw}"]
    gateway_chassis = [r for r in nb_rows(cloud, "Gateway_Chassis")
                       if r["external_ids"].get("mallee:igw-id") == igw]
    assert [r["chassis_name"] for r in gateway_chassis] == [cloud.settings.nc.name]
    assert gateway_chassis[0]["_uuid"] in str(port["gateway_chassis"])
    # northd made it a distributed gateway port whose chassis-redirect port this chassis
    # claimed; ovn-controller patched br-int to br-ex for the gateway's localnet port
    assert cloud.wait_for(lambda: f"cr-mallee-lrp-{igw}" in sbctl(cloud, "show"), timeout=10), \
        sbctl(cloud, "show")
    assert cloud.wait_for(lambda: [p for p in chassis.ports(OUTSIDE_BRIDGE)
                                   if p.startswith("patch-") and igw in p], timeout=10)

    key = key_pair(ec2, "gw", tmp_path)
    ssh_group = ec2.create_security_group(GroupName="ssh", Description="ssh",
                                          VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ssh_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    default_group = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])[
            "SecurityGroups"][0]["GroupId"]
    ip_public, ip_private = "10.41.1.20", "10.41.2.20"
    runs = {}
    for name, subnet, ip, groups in (("public", public, ip_public, [default_group, ssh_group]),
                                     ("private", private, ip_private, [default_group])):
        runs[name] = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="m1.small", KeyName="gw",
            SubnetId=subnet, PrivateIpAddress=ip, SecurityGroupIds=groups,
            UserData=reach_outside(outside_ip, name))["Instances"][0]
    instance_ids = [runs[k]["InstanceId"] for k in ("public", "private")]
    made |= {vpc, public, private, igw, public_rtb, private_rtb, nat, ssh_group, default_group,
             nat_eip["AllocationId"], *instance_ids,
             *(r["NetworkInterfaces"][0]["NetworkInterfaceId"] for r in runs.values())}
    eip = ec2.allocate_address(Domain="vpc")
    made.add(eip["AllocationId"])
    public_ip = eip["PublicIp"]
    assert ipaddress.ip_address(public_ip) in ipaddress.ip_network("198.51.100.0/24")
    ec2.associate_address(InstanceId=runs["public"]["InstanceId"],
                          AllocationId=eip["AllocationId"])

    def console(instance_id):
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""
    for instance_id in instance_ids:
        assert cloud.wait_for(lambda: "ssh: started" in console(instance_id),
                              timeout=BOOT_TIMEOUT, interval=1), console(instance_id)[-1500:]
        assert "public-key: installed" in console(instance_id), console(instance_id)[-1500:]

    # the outside reaches the public instance through its elastic IP (ssh, the key pair)
    read_id = "wget -qO- http://169.254.169.254/latest/meta-data/instance-id"
    answered = time.monotonic()
    assert cloud.wait_for(lambda: ssh(cloud, key, public_ip, read_id).stdout.strip()
                          == runs["public"]["InstanceId"], timeout=60, interval=1), \
        ssh(cloud, key, public_ip, read_id)
    print(f"\nssh through the elastic IP {time.monotonic() - answered:.1f} s after boot")
    # ... and it reaches the outside, which sees its elastic IP
    assert ssh(cloud, key, public_ip, f"ping -c 1 -W 2 {outside_ip}").returncode == 0
    pings = ssh(cloud, key, public_ip, f"ping -c 5 -W 2 {outside_ip}").stdout.splitlines()
    print(f"guest -> outside through the gateway chassis: {pings[-1] if pings else '-'}")
    out = ssh(cloud, key, public_ip, f"echo from-ssh | timeout 5 nc {outside_ip} {SERVER_PORT}")
    assert out.returncode == 0, out
    assert cloud.wait_for(lambda: peers(outside_server, "from-ssh") == {public_ip}, timeout=5), \
        outside_server.read_text()
    assert cloud.wait_for(lambda: "outside-tcp:" in console(runs["public"]["InstanceId"]),
                          timeout=200, interval=1)
    assert peers(outside_server, "public") == {public_ip}

    # the private instance reaches the outside through the NAT gateway: its elastic IP
    private_console = lambda: console(runs["private"]["InstanceId"])  # noqa: E731
    assert cloud.wait_for(lambda: "outside-tcp:" in private_console(), timeout=200,
                          interval=1), private_console()[-1500:]
    assert "outside-ping: ok" in private_console(), private_console()[-1500:]
    assert "outside-tcp: ok" in private_console(), private_console()[-1500:]
    assert peers(outside_server, "private") == {nat_eip["PublicIp"]}, outside_server.read_text()
    # the outside cannot reach the private instance (no address of its own out there)

    # the public instance reaches the private one's SSH (its default group: members)
    banner = f"echo | timeout 5 nc {ip_private} 22 | head -c 16"

    def private_ssh_open() -> bool:
        return ssh(cloud, key, public_ip, banner).stdout.startswith("SSH-2.0-dropbear")
    assert cloud.wait_for(private_ssh_open, timeout=30, interval=1)

    # a network ACL on the private subnet: inbound tcp/22 denied below an allow-all
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    made.add(acl)
    for number, egress, action, protocol, ports in ((10, False, "deny", "6", (22, 22)),
                                                    (100, False, "allow", "-1", None),
                                                    (100, True, "allow", "-1", None)):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=number, Egress=egress,
                                     RuleAction=action, Protocol=protocol,
                                     CidrBlock="0.0.0.0/0",
                                     **({"PortRange": {"From": ports[0], "To": ports[1]}}
                                        if ports else {}))
    (default_acl,) = ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}])[
            "NetworkAcls"]
    (assoc,) = [a for a in default_acl["Associations"] if a["SubnetId"] == private]
    assoc_id = ec2.replace_network_acl_association(
        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl)["NewAssociationId"]
    assert cloud.wait_for(lambda: not private_ssh_open(), timeout=20, interval=1)
    assert ssh(cloud, key, public_ip, f"ping -c 1 -W 2 {ip_private}").returncode == 0, \
        "the ACL denies tcp/22 only"
    ec2.replace_network_acl_association(AssociationId=assoc_id,
                                        NetworkAclId=default_acl["NetworkAclId"])
    assert cloud.wait_for(private_ssh_open, timeout=20, interval=1)
    ec2.delete_network_acl(NetworkAclId=acl)

    # everything goes: OVN holds no row of it, the node no tap or port of the guests
    ec2.disassociate_address(AssociationId=ec2.describe_addresses(
        AllocationIds=[eip["AllocationId"]])["Addresses"][0]["AssociationId"])
    ec2.terminate_instances(InstanceIds=instance_ids)
    assert cloud.wait_for(lambda: not set(instance_ids) & domains(), timeout=60)
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert cloud.wait_for(lambda: ec2.describe_nat_gateways(NatGatewayIds=[nat])[
        "NatGateways"][0]["State"] == "deleted", timeout=20)
    ec2.release_address(AllocationId=nat_eip["AllocationId"])
    for assoc_id, rtb in ((public_assoc, public_rtb), (private_assoc, private_rtb)):
        ec2.disassociate_route_table(AssociationId=assoc_id)
        ec2.delete_route_table(RouteTableId=rtb)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_key_pair(KeyName="gw")
    assert cloud.wait_for(lambda: set(instance_ids) <= {
        i["InstanceId"] for r in ec2.describe_instances(Filters=[
            {"Name": "instance-state-name", "Values": ["terminated"]}])["Reservations"]
        for i in r["Instances"]}, timeout=30)
    ec2.delete_security_group(GroupId=ssh_group)
    for subnet in (public, private):
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    assert cloud.wait_for(lambda: not mallee_rows(cloud, made), timeout=10), \
        mallee_rows(cloud, made)
    # br-int: nothing of the guests or their metadata; br-ex: the node's own veth stays
    assert ports_but_default_gateways(chassis, ec2) == []
    assert ports_but_default_gateways(chassis, ec2, OUTSIDE_BRIDGE) == [chassis.outside_port]
    taps = [tap_name(i) for i in instance_ids]
    assert not [tap for tap in taps if link_exists(tap)], taps
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"mmd-{cloud.settings.nc.name}-" not in netns


def test_the_nodes_stop_leaves_no_outside_bridge(cloud):
    """A start over a running chassis is idempotent; the node's stop takes its
    chassis out of SB (no longer a gateway chassis); after the cloud stops: no OVS
    process of the node, no br-int/br-ex device, no veth onto the outside."""
    chassis = OvnChassis.of(cloud.settings)
    chassis.start()  # again: nothing doubled
    assert ports_but_default_gateways(chassis, cloud.client("ec2"), OUTSIDE_BRIDGE) == [
        chassis.outside_port]
    node = cloud.settings.nc.name
    assert node in sbctl(cloud, "--bare", "--columns=name", "list", "Chassis").split()
    chassis.stop()  # the node leaves: its ovn-controller takes its chassis out of SB
    assert node not in sbctl(cloud, "--bare", "--columns=name", "list", "Chassis").split()
    cloud.stop()
    assert chassis.running() == {}
    assert not link_exists(chassis.outside_port)
    # the bridges' devices are named after the bridges: only while no other cloud's
    # vswitchd runs on this host can their absence be ours
    others = subprocess.run(["pgrep", "-x", "ovs-vswitchd"], capture_output=True).stdout
    if not others.strip():
        for device in ("br-int", OUTSIDE_BRIDGE):
            assert not link_exists(device), device
