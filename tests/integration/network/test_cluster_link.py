"""Two nodes' data planes joined on one L2 segment, with namespaces standing
in for guests (fast): cross-node groups, one DHCP server and one gateway per
guest, an elastic IP moving between nodes (announced at once), cleanup.
Both ways of joining run the same checks: a cluster namespace (one host) and
VXLAN between the nodes' uplink addresses (the multi-host form)."""
from __future__ import annotations

import json
import time

import pytest

from node_controller.network import DataPlane, NetworkConfig, Port, parse_view
from node_controller.network.cluster_link import ClusterLink
from node_controller.network.names import CLUSTER_PORT, gateway_mac
from node_controller.network.namespace import exists, link_exists
from tests.integration.network.conftest import GATEWAY, PUBLIC_GATEWAY, SUBNET
from tests.integration.network.netutil import FakeGuest, Server, sh, tcp_reply, unique, view_of

UPLINKS = {"a": "192.0.2.2/24", "b": "192.0.2.3/24"}
EIP = "192.0.2.60"
SELF_ICMP_AND_TCP = [{"protocol": "icmp", "source_groups": ["sg-a"]},
                     {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0"]}]


def iid(n: int) -> str:
    return f"i-{n:017x}"


def mac(n: int) -> str:
    return f"d0:0d:00:01:00:{n:02x}"


def ip(n: int) -> str:
    return f"10.77.1.{n}"


def view(version: int, members: dict[int, list[str]], groups: dict[str, list[dict]],
         public: dict[int, str] | None = None) -> dict:
    return view_of(version, SUBNET, GATEWAY, members, groups, public, iid, mac, ip)


@pytest.fixture(params=["netns", "vxlan"])
def nodes(request, public_ns, state_dir):
    """Two nodes on one outside bridge, joined by the link kind under test."""
    cluster_ns = unique("mtl2-")
    names = {key: unique(f"t{key}") for key in UPLINKS}
    planes = {}
    for key, node in names.items():
        peers = tuple(a.split("/")[0] for k, a in UPLINKS.items() if k != key)
        link = ClusterLink(mode=request.param, netns=cluster_ns, peers=peers,
                           vxlan_id=6464, vxlan_port=4789)
        config = NetworkConfig(node=node, subnet=SUBNET, uplink_netns=public_ns,
                               uplink_bridge="pub0", uplink_address=UPLINKS[key],
                               uplink_gateway="", dns_domain="mallee.internal", link=link)
        planes[key] = DataPlane(config, state_dir / key)
    try:
        for plane in planes.values():
            plane.ensure()
        yield planes
    finally:
        for plane in planes.values():
            plane.teardown()
    assert not exists(cluster_ns)  # the last node out removed the segment


def apply_everywhere(planes: dict, raw: dict) -> None:
    for plane in planes.values():
        plane.apply_view(parse_view(raw))


def plug(plane: DataPlane, guests: list, n: int, groups: list[str]) -> FakeGuest:
    guest = FakeGuest.create(iid(n), mac(n), "")
    guests.append(guest)
    plane.plug(Port(iid(n), mac(n), ip(n), tuple(groups)))
    return guest


def test_guests_on_two_nodes(nodes, guests, public_ns, state_dir):
    a, b = nodes["a"], nodes["b"]
    assert link_exists(CLUSTER_PORT, a.config.namespace)
    members = {1: ["sg-a"], 2: ["sg-a"], 3: ["sg-c"]}
    groups = {"sg-a": SELF_ICMP_AND_TCP, "sg-c": []}
    apply_everywhere(nodes, view(1, members, groups))
    g1, g2, g3 = plug(a, guests, 1, ["sg-a"]), plug(b, guests, 2, ["sg-a"]), plug(a, guests, 3, ["sg-c"])

    # One DHCP server per guest: its own node's (the other ignores it), and
    # the gateway every guest finds is its own node's bridge (one MAC everywhere).
    for guest, n in ((g1, 1), (g2, 2), (g3, 3)):
        assert guest.dhcp(state_dir) == ip(n)
        guest.default_route(GATEWAY)
    assert ip(2) not in (a.state_dir / "dhcp-hosts").read_text()
    assert g1.ping(GATEWAY) and g2.ping(GATEWAY)
    assert gateway_mac(SUBNET) in g2.run("ip", "neigh", "show", GATEWAY).stdout
    assert b.config.gateway_mac in sh("ip", "-n", b.config.namespace, "link", "show",
                                      "br0").stdout

    # Same group across nodes: ICMP allowed by the group, both ways. (The
    # first ARP across a cluster namespace is at times answered only by the
    # guest's 1 s retry: hence two tries for the first contact.)
    assert g1.ping(ip(2)) or g1.ping(ip(2))
    assert g2.ping(ip(1))
    # Another group: blocked at the receiving node until a rule allows it.
    assert not g2.ping(ip(3)) and not g3.ping(ip(2))
    groups["sg-c"] = [{"protocol": "icmp", "source_groups": ["sg-a"]}]
    apply_everywhere(nodes, view(2, members, groups))
    assert g2.ping(ip(3))
    assert not g3.ping(ip(2))  # only what the rule names: sg-a does not allow sg-c

    # Anti-spoofing holds across the link: g3 claiming g1's address reaches nobody.
    g3.run("ip", "addr", "add", f"{ip(1)}/32", "dev", "eth0")
    g3.run("ip", "route", "replace", f"{ip(2)}/32", "dev", "eth0", "src", ip(1))
    assert not g3.ping(ip(2))
    g3.run("ip", "route", "del", f"{ip(2)}/32")

    # The elastic IP moves from g1 (node a) to g2 (node b); the new node
    # adds it before the old one lets go (the harder order) and announces it.
    apply_everywhere(nodes, view(3, members, groups, public={1: EIP}))
    server = Server(g1.namespace, "0.0.0.0", 22)
    try:
        assert tcp_reply(public_ns, EIP, 22) == f"hello from {PUBLIC_GATEWAY}"
    finally:
        server.close()
    assert uplink_mac(a) in outside_neighbour(public_ns, EIP)
    server = Server(g2.namespace, "0.0.0.0", 22)  # only g2 answers from now on
    try:
        moved = view(4, members, groups, public={2: EIP})
        started = time.monotonic()
        b.apply_view(parse_view(moved))
        assert uplink_mac(b) in outside_neighbour(public_ns, EIP)  # announced, not timed out
        a.apply_view(parse_view(moved))
        assert EIP not in sh("ip", "-n", a.config.namespace, "addr").stdout
        assert tcp_reply(public_ns, EIP, 22) == f"hello from {PUBLIC_GATEWAY}"
        print(f"\n{a.config.link.mode}: elastic IP moved between nodes, answering from the "
              f"outside {(time.monotonic() - started) * 1000:.0f} ms after the new node's apply began")
    finally:
        server.close()


def uplink_mac(plane: DataPlane) -> str:
    info = json.loads(sh("ip", "-n", plane.config.namespace, "-j", "link", "show", "uplink").stdout)
    return info[0]["address"]


def outside_neighbour(namespace: str, address: str) -> str:
    return sh("ip", "-n", namespace, "neigh", "show", address).stdout
