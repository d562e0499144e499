"""The network view's checks and the tables rendered from it."""
from __future__ import annotations

import pytest

from node_controller.network import firewall, names
from node_controller.network.port import Port
from node_controller.network.view import ViewError, parse_view

VIEW = {
    "version": 3, "subnet": "10.64.0.0/16", "gateway": "10.64.0.1",
    "instances": [
        {"instance_id": "i-0123456789abcdef0", "mac": "D0:0D:01:23:45:67",
         "private_ip": "10.64.0.5", "public_ip": "192.0.2.10", "groups": ["sg-web"]},
        {"instance_id": "i-elsewhere", "mac": "d0:0d:00:00:00:02",
         "private_ip": "10.64.0.6", "public_ip": None, "groups": ["sg-db"]},
    ],
    "groups": [
        {"group_id": "sg-web",
         "ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0"]},
                     {"protocol": "icmp", "from_port": 8, "to_port": -1, "cidrs": ["10.0.0.0/8"]},
                     {"protocol": "-1", "source_groups": ["sg-db"]}],
         "egress": [{"protocol": "udp", "from_port": 1000, "to_port": 2000,
                     "cidrs": ["192.0.2.0/24"]}]},
        {"group_id": "sg-db", "ingress": []},
    ],
}


def test_view_parses_and_normalises():
    view = parse_view(VIEW)
    assert view.version == 3
    assert view.instance("i-0123456789abcdef0").mac == "d0:0d:01:23:45:67"
    web = view.group("sg-web")
    assert web.ingress[1].protocol == "icmp" and web.ingress[1].to_port is None
    assert view.group("sg-db").egress is None  # missing egress: allow all


@pytest.mark.parametrize("change, message", [
    (lambda v: v.update(version=-1), "version"),
    (lambda v: v["instances"][0].update(private_ip="10.64.0.6"), "also"),
    (lambda v: v["instances"][0].update(mac="nope"), "MAC"),
    (lambda v: v["groups"][0]["ingress"][0].update(protocol="gre"), "protocol"),
    (lambda v: v["groups"][0]["ingress"][0].update(to_port=70000), "port"),
    (lambda v: v["groups"][0]["ingress"][0].update(from_port=30, to_port=22), "from_port"),
    (lambda v: v["groups"][0]["ingress"][0].update(cidrs=[]), "cidrs or source_groups"),
    (lambda v: v["groups"][0]["ingress"][0].update(cidrs=["10.0.0.300/8"]), "CIDR"),
    (lambda v: v["groups"][0].update(group_id="sg-" + "x" * 30), "group id"),
    (lambda v: v["groups"].append({"group_id": "sg-db"}), "twice"),
])
def test_bad_views_are_refused_with_the_field_named(change, message):
    import copy
    view = copy.deepcopy(VIEW)
    change(view)
    with pytest.raises(ViewError, match=message):
        parse_view(view)


def ports():
    return [Port("i-0123456789abcdef0", "d0:0d:01:23:45:67", "10.64.0.5", ("sg-web",),
                 "192.0.2.10")]


def test_ipsets_hold_every_members_address_and_swap_in():
    members = firewall.group_members(parse_view(VIEW), ports())
    assert members == {"sg-web": {"10.64.0.5"}, "sg-db": {"10.64.0.6"}}
    text = firewall.render_ipsets(members)
    assert "add t-sg-db 10.64.0.6\nswap t-sg-db g-sg-db\ndestroy t-sg-db" in text


def test_filter_table_rules():
    text = firewall.render_filter(parse_view(VIEW), ports(), "10.64.0.1")
    tap = names.tap_name("i-0123456789abcdef0")
    assert tap == "vn456789abcdef0"
    assert f"-A FORWARD -m physdev --physdev-in {tap} -j from-i-0123456789abcdef0" in text
    assert (f"-A FORWARD -m physdev --physdev-out {tap} --physdev-is-bridged "
            "-j to-i-0123456789abcdef0") in text
    assert "-A in-sg-web -p tcp --dport 22 -j ACCEPT" in text
    assert "-A in-sg-web -s 10.0.0.0/8 -p icmp --icmp-type 8 -j ACCEPT" in text
    assert "-A in-sg-web -m set --match-set g-sg-db src -j ACCEPT" in text
    assert "-A out-sg-web -d 192.0.2.0/24 -p udp --dport 1000:2000 -g egress-ok" in text
    assert "-A out-sg-db -g egress-ok" in text  # allow-all egress
    assert text.index("ESTABLISHED") < text.index("physdev")  # replies first


def test_nat_and_bridge_guard():
    nat = firewall.render_nat(ports(), "10.64.0.0/16", masquerade=True)
    assert "-A PREROUTING -d 192.0.2.10/32 -j DNAT --to-destination 10.64.0.5" in nat
    assert "-A POSTROUTING -s 10.64.0.5/32 -o uplink -j SNAT --to-source 192.0.2.10" in nat
    guard = firewall.render_bridge_guard(ports())
    assert "ether saddr != d0:0d:01:23:45:67 drop" in guard
    assert "ip saddr 10.64.0.5 accept" in guard


def test_names_fit_the_kernel_limits():
    assert len(names.tap_name("i-0123456789abcdef0")) <= 15
    assert len(names.uplink_outer_name("a-very-long-node-name-indeed")) <= 15
    assert len(names.group_egress_chain("sg-" + "x" * 21)) <= 28
    assert len(names.group_swap_set("sg-" + "x" * 21)) <= 31


def _rendered(protocol: str) -> list[str]:
    view = parse_view({"version": 1, "subnet": "10.64.0.0/16", "gateway": "10.64.0.1",
                       "instances": [], "groups": [{"group_id": "sg-p", "ingress": [
                           {"protocol": protocol, "cidrs": ["10.1.0.0/16"]}]}]})
    text = firewall.render_filter(view, [], "10.64.0.1")
    return [line for line in text.splitlines() if line.startswith("-A in-sg-p ")]


def test_protocol_zero_matches_only_protocol_zero():
    # iptables `-p 0` means every protocol: HOPOPT (0) must not open the group
    # to all traffic. It is matched on the IPv4 header's protocol byte instead.
    [line] = _rendered("0")
    assert line == '-A in-sg-p -s 10.1.0.0/16 -m u32 --u32 "6&0xFF=0x0" -j ACCEPT'
    assert "-p 0" not in line and "-p all" not in line


@pytest.mark.parametrize("protocol, match", [
    ("-1", ""), ("all", ""), ("47", "-p 47 "), ("255", "-p 255 "), ("6", "-p tcp "),
])
def test_other_protocols_keep_their_iptables_match(protocol, match):
    assert _rendered(protocol) == [f"-A in-sg-p -s 10.1.0.0/16 {match}-j ACCEPT"]
