"""VPC mode's control plane against raw OVN, in one run (issue 15's bench, its
control-plane part; the data-plane rows need real guests on several nodes).

    .venv/bin/python bench/network.py [--ports 10,100,1000] [--rounds 5]

1. How the CLC's converge pass (cloud_controller/ovn/northbound.py) grows with
   the ports it holds: the pass that adds N instance ports to one subnet, a
   pass with nothing to change over N ports, and a pass that adds one port to
   N. Peer: ovn-nbctl making the same N ports in one transaction, and one more.
2. A whole VPC through the EC2 API of a vpc-mode cloud (FakeDriver nodes, real
   NB/SB/northd): CreateVpc, two subnets, an internet gateway attached, a route
   table with a default route and an association (each call answered once OVN
   holds it); target < 1 s. Peer: ovn-nbctl making the router, two switches,
   their router ports and a static route in one transaction.
3. AuthorizeSecurityGroupIngress on a VPC group: its reply, then until
   ovn-northd has compiled it into the southbound database (`--wait=sb sync`).
   Peer: ovn-nbctl acl-add with --wait=sb.
4. The data plane (bench/dataplane.py), unless --no-dataplane: a chassis of the
   bench's own (ovs-vswitchd + ovn-controller, as a node runs them) and namespaces
   bound to three instances' own logical ports (port security, their groups'
   ACLs, the VPC's router): TCP throughput (iperf3) and one-byte round trips in
   one subnet and across two, against EDGE mode's node data plane (its bridge,
   iptables and ipset rules, bench/dataplane.py EdgeNode) and namespaces on a
   plain Linux bridge; and
   from an AuthorizeSecurityGroupIngress reply to the first TCP connection it
   allows (target < 100 ms), against an ovn-nbctl acl-add on a port group of
   the bench's own holding the same port.

Not a timed test; the host is shared: compare the columns of one run.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dataplane import (ECHO_PORT, IPERF_PORT, EchoServer, EdgeNode,  # noqa: E402
                             LinuxBridge,
                             first_connection_ms, round_trip_us, throughput_gbit)
from cloud_controller.ovn.northbound import Northbound, Router, Switch  # noqa: E402
from cloud_controller.ovn.ports import SwitchPort  # noqa: E402
from mallee.ovn_central import OvnCentral  # noqa: E402
from node_controller.network.ovn_chassis import OvnChassis  # noqa: E402
from tests.harness import Cloud, available_components  # noqa: E402
from tests.integration.ovn_probe import Probe, instance_probe  # noqa: E402


def nbctl(central: OvnCentral, *args: str) -> str:
    return subprocess.run(["ovn-nbctl", f"--db={central.nb.remote}", *args], check=True,
                          capture_output=True, text=True, timeout=120).stdout


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ports(n: int, start: int = 0) -> list[SwitchPort]:
    return [SwitchPort(f"eni-{i:017x}", f"i-{i:017x}", "subnet-00000000000000b01", "000000000001",
                       f"0a:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
                       f"10.0.{(i + 4) >> 8}.{(i + 4) & 255}") for i in range(start, start + n)]


def converge_growth(central: OvnCentral, sizes: list[int], rounds: int) -> list[tuple]:
    router = [Router("vpc-00000000000000b01", "000000000001")]
    switch = [Switch("subnet-00000000000000b01", router[0].vpc_id, "000000000001",
                     "10.0.0.0/16")]
    nb = Northbound(central.nb.remote, timeout=120)
    rows = []
    for n in sizes:
        add, idle, one, raw_add, raw_one = [], [], [], [], []
        for _ in range(rounds):
            nb.converge(router, switch, ports=[])
            add.append(timed(lambda: nb.converge(router, switch, ports=ports(n))))
            idle.append(timed(lambda: nb.converge(router, switch, ports=ports(n))))
            one.append(timed(lambda: nb.converge(router, switch, ports=ports(n + 1))))
            nb.converge([], [], ports=[])
            nbctl(central, "ls-add", "peer")
            cmds = []
            for p in ports(n):
                cmds += ["--", "lsp-add", "peer", p.name, "--", "lsp-set-addresses", p.name,
                         f"{p.mac} {p.private_ip}"]
            raw_add.append(timed(lambda: nbctl(central, *cmds)))
            extra = ports(1, n)[0]
            raw_one.append(timed(lambda: nbctl(central, "lsp-add", "peer", extra.name, "--",
                                               "lsp-set-addresses", extra.name,
                                               f"{extra.mac} {extra.private_ip}")))
            nbctl(central, "ls-del", "peer")
        rows.append((n, *(statistics.median(v) * 1000 for v in (add, idle, one, raw_add,
                                                                raw_one))))
    nb.close()
    return rows


def whole_vpc(cloud: Cloud, central: OvnCentral, rounds: int) -> tuple[float, float]:
    ec2 = cloud.client("ec2")
    api, raw = [], []
    for r in range(rounds):
        start = time.perf_counter()
        vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
        public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.2.0/24")
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        ec2.associate_route_table(RouteTableId=table, SubnetId=public)
        api.append(time.perf_counter() - start)
        raw.append(timed(lambda: nbctl(
            central, "--", "lr-add", f"peer-r{r}",
            "--", "ls-add", f"peer-a{r}", "--", "ls-add", f"peer-b{r}",
            "--", "lrp-add", f"peer-r{r}", f"peer-ra{r}", "0a:00:00:00:01:01", "10.40.1.1/24",
            "--", "lrp-add", f"peer-r{r}", f"peer-rb{r}", "0a:00:00:00:01:02", "10.40.2.1/24",
            "--", "lsp-add", f"peer-a{r}", f"peer-pa{r}", "--", "lsp-set-type", f"peer-pa{r}",
            "router", "--", "lsp-set-options", f"peer-pa{r}", f"router-port=peer-ra{r}",
            "--", "lsp-add", f"peer-b{r}", f"peer-pb{r}", "--", "lsp-set-type", f"peer-pb{r}",
            "router", "--", "lsp-set-options", f"peer-pb{r}", f"router-port=peer-rb{r}",
            "--", "lr-route-add", f"peer-r{r}", "0.0.0.0/0", "10.40.1.254")))
        ec2.disassociate_route_table(AssociationId=next(
            a["RouteTableAssociationId"] for a in ec2.describe_route_tables(
                RouteTableIds=[table])["RouteTables"][0]["Associations"]))
        ec2.delete_route_table(RouteTableId=table)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
                "Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)
    return statistics.median(api) * 1000, statistics.median(raw) * 1000


def authorize(cloud: Cloud, central: OvnCentral, rounds: int) -> tuple[float, float, float]:
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="bench", Description="bench",
                                      VpcId=vpc)["GroupId"]
    nbctl(central, "ls-add", "peer-acl")
    reply, compiled, raw = [], [], []
    for r in range(rounds):
        start = time.perf_counter()
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 1000 + r, "ToPort": 1000 + r,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        reply.append(time.perf_counter() - start)
        nbctl(central, "--wait=sb", "sync")
        compiled.append(time.perf_counter() - start)
        raw.append(timed(lambda: nbctl(central, "--wait=sb", "acl-add", "peer-acl", "to-lport",
                                       "1002", f"ip4 && tcp.dst == {1000 + r}",
                                       "allow-related")))
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)
    return tuple(statistics.median(v) * 1000 for v in (reply, compiled, raw))


def dataplane(cloud: Cloud, central: OvnCentral, seconds: float, rounds: int) -> dict:
    ec2 = cloud.client("ec2")
    image = cloud.publish_test_image(Path(cloud.settings.home) / "bench-image")["image"]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c)["Subnet"]
               for c in ("10.42.1.0/24", "10.42.2.0/24")]
    server_group, client_group = (ec2.create_security_group(
        GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("dp-server", "dp-client"))
    ec2.authorize_security_group_ingress(GroupId=server_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
         "IpRanges": [{"CidrIp": "10.42.0.0/16"}]} for p in (IPERF_PORT, ECHO_PORT)])
    chassis = OvnChassis.of(cloud.settings)  # the bench's nodes are FakeDriver ones
    chassis.start()
    probes = [instance_probe(cloud, ec2, image, subnets[i], group, name)
              for i, group, name in ((0, server_group, "dpsrv"), (0, client_group, "dpone"),
                                     (1, client_group, "dptwo"))]
    result: dict = {}
    try:
        for probe in probes:
            probe.start()
        server, near, far = probes
        address = server.address.split("/")[0]
        nbctl(central, "--wait=hv", "sync")
        with EchoServer(server.name):
            for label, client in (("one subnet", near), ("across subnets", far)):
                result[label] = (statistics.median(
                    throughput_gbit(client.name, server.name, address, seconds)
                    for _ in range(rounds)), round_trip_us(client.name, address))
        for label, peer in (("edge mode", EdgeNode()),
                            ("linux bridge", LinuxBridge("dplb"))):
            with peer, EchoServer(peer.namespaces[1]):
                result[label] = (statistics.median(
                    throughput_gbit(peer.namespaces[0], peer.namespaces[1], peer.addresses[1],
                                    seconds) for _ in range(rounds)),
                    round_trip_us(peer.namespaces[0], peer.addresses[1]))
        result["authorize"] = _authorize_to_connection(ec2, central, server, near, server_group,
                                                       rounds)
    finally:
        for probe in probes:
            probe.stop()
        chassis.stop()
    return result


def _authorize_to_connection(ec2, central, server: Probe, client: Probe, group: str,
                             rounds: int) -> tuple[float, float, float]:
    """Median (reply ms, reply-to-first-connection ms, the same after ovn-nbctl acl-add)."""
    address = server.address.split("/")[0]
    nbctl(central, "pg-add", "peer_dp", server.logical_port)
    replies, api, raw = [], [], []
    try:
        for r in range(rounds):
            for port, times, allow in (
                    (7100 + r, api, lambda p: ec2.authorize_security_group_ingress(
                        GroupId=group, IpPermissions=[{
                            "IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                            "IpRanges": [{"CidrIp": "10.42.0.0/16"}]}])),
                    (7200 + r, raw, lambda p: nbctl(
                        central, "acl-add", "peer_dp", "to-lport", "1002",
                        f"outport == @peer_dp && ip4 && tcp.dst == {p}", "allow-related"))):
                with EchoServer(server.name, port=port, seconds=30):
                    _, refused = first_connection_ms(client.name, address, port, lambda: None,
                                                     limit=0.3)
                    assert refused == -1, f"tcp/{port} open before it was allowed"
                    reply, first = first_connection_ms(client.name, address, port,
                                                       lambda: allow(port))
                    assert first >= 0, f"tcp/{port} still closed 5 s after it was allowed"
                    times.append(first)
                    if times is api:
                        replies.append(reply)
    finally:
        nbctl(central, "pg-del", "peer_dp")
    return statistics.median(replies), statistics.median(api), statistics.median(raw)


def print_dataplane(result: dict) -> None:
    bridge_gbit, bridge_us = result["linux bridge"]
    print(f"\n{'data plane (namespaces on instance ports; medians)':58} {'Gbit/s':>9} "
          f"{'RTT us':>10}  vs Linux bridge")
    for label in ("one subnet", "across subnets", "edge mode", "linux bridge"):
        gbit, us = result[label]
        print(f"{'TCP, ' + label:58} {gbit:9.2f} {us:10.1f}  {gbit / bridge_gbit:.2f}x rate, "
              f"{us / bridge_us:.2f}x RTT")
    reply, api, raw = result["authorize"]
    print(f"{'AuthorizeSecurityGroupIngress: reply (ms)':58} {reply:9.1f}")
    print(f"{'  ... reply to first allowed connection (ms)':58} {api:9.1f}  "
          f"(target < 100 ms; ovn-nbctl acl-add to connection {raw:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", default="10,100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3, help="each iperf3 run's length")
    parser.add_argument("--no-dataplane", action="store_true",
                        help="skip the data plane (namespaces, iperf3)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.ports.split(",")]
    with tempfile.TemporaryDirectory(prefix="mallee-bench-net-") as home:
        cloud = Cloud(Path(home), available_components(), env={
            "MALLEE_NETWORK_MODE": "vpc", "MALLEE_NETWORK_OVN_RECONCILE_SECONDS": "300"}).start()
        try:
            central = OvnCentral.of(cloud.settings)
            vpc_api, vpc_raw = whole_vpc(cloud, central, args.rounds)
            reply, compiled, acl_raw = authorize(cloud, central, args.rounds)
            growth = converge_growth(central, sizes, args.rounds)
            data = None if args.no_dataplane else dataplane(cloud, central, args.seconds,
                                                            args.rounds)
        finally:
            cloud.stop()
    print(f"{'measure (median of ' + str(args.rounds) + ', ms)':58} {'mallee':>9} "
          f"{'ovn-nbctl':>10}  ratio")
    print(f"{'VPC + 2 subnets + IGW + table + route + association':58} {vpc_api:9.1f} "
          f"{vpc_raw:10.1f}  {vpc_api / vpc_raw:.1f}x  (target < 1000 ms; 8 API calls)")
    print(f"{'AuthorizeSecurityGroupIngress: reply (in NB)':58} {reply:9.1f}")
    print(f"{'  ... until compiled into SB (--wait=sb)':58} {compiled:9.1f} {acl_raw:10.1f}  "
          f"{compiled / acl_raw:.1f}x  (target < 100 ms)")
    for n, add, idle, one, raw_add, raw_one in growth:
        print(f"{f'converge: add {n} ports':58} {add:9.1f} {raw_add:10.1f}  "
              f"{add / raw_add:.1f}x")
        print(f"{f'converge: nothing to change, {n} ports':58} {idle:9.1f}")
        print(f"{f'converge: one more port beside {n}':58} {one:9.1f} {raw_one:10.1f}  "
              f"{one / raw_one:.1f}x")
    if data:
        print_dataplane(data)


if __name__ == "__main__":
    main()
