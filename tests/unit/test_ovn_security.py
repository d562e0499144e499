"""The OVN matches of security group rules and network ACL entries
(cloud_controller/ovn/security.py); tests/api/test_vpc_security.py checks that
ovn-northd compiles them."""
import pytest

from cloud_controller.ovn.security import (NaclEntry, PortGroup, SgRule, SwitchAcl,
                                           port_group_name, rule_match)

PG = "mallee_sg_0a"


@pytest.mark.parametrize("rule, match", [
    (SgRule(False, "tcp", 80, 443, cidr="192.0.2.0/24"),
     f"outport == @{PG} && ip4 && ip4.src == 192.0.2.0/24 && tcp.dst >= 80 && tcp.dst <= 443"),
    (SgRule(False, "udp", 53, 53, cidr="0.0.0.0/0"), f"outport == @{PG} && ip4 && udp.dst == 53"),
    (SgRule(True, "tcp", 0, 65535, cidr="10.0.0.0/8"),
     f"inport == @{PG} && ip4 && ip4.dst == 10.0.0.0/8 && tcp"),
    (SgRule(True, "-1", -1, -1, cidr="0.0.0.0/0"), f"inport == @{PG} && ip4"),
    (SgRule(False, "icmp", -1, -1, cidr="0.0.0.0/0"), f"outport == @{PG} && ip4 && icmp4"),
    (SgRule(False, "icmp", 3, 4, cidr="0.0.0.0/0"),
     f"outport == @{PG} && ip4 && icmp4 && icmp4.type == 3 && icmp4.code == 4"),
    (SgRule(False, "47", -1, -1, cidr="0.0.0.0/0"), f"outport == @{PG} && ip4 && ip.proto == 47"),
    (SgRule(False, "tcp", 22, 22, source_group="sg-0b"),
     f"outport == @{PG} && ip4 && ip4.src == $mallee_sg_0b_ip4 && tcp.dst == 22"),
    (SgRule(False, "tcp", 22, 22, cidr_ipv6="2001:db8::/32"),
     f"outport == @{PG} && ip6 && ip6.src == 2001:db8::/32 && tcp.dst == 22"),
    (SgRule(False, "tcp", 22, 22), None),  # a prefix list: nothing this cloud can match
])
def test_rule_matches(rule, match):
    assert rule_match(PG, rule) == match


def test_a_group_has_one_acl_per_distinct_rule():
    rule = SgRule(True, "-1", -1, -1, cidr="0.0.0.0/0")
    group = PortGroup("sg-0a", "vpc-1", "111", (rule, rule))
    assert group.name == port_group_name("sg-0a") == PG
    (acl,) = group.acls
    assert (acl.direction, acl.priority, acl.action) == ("from-lport", 1002, "allow-related")


def _acl(*entries) -> SwitchAcl:
    return SwitchAcl("subnet-1", "vpc-1", "111", "10.0.1.0/24", "acl-1", tuple(entries))


IN = 'inport == "mallee-rp-subnet-1"'
OUT = 'outport == "mallee-rp-subnet-1"'


def _listed(acl: SwitchAcl) -> list[tuple]:
    return [(a.direction, a.priority, a.action, a.match) for a in acl.acls]


def test_the_default_acl_allows_all_then_the_star_deny():
    acl = _acl(NaclEntry(100, False, "-1", "allow", "0.0.0.0/0"),
               NaclEntry(100, True, "-1", "allow", "0.0.0.0/0"))
    assert _listed(acl) == [
        ("from-lport", 32767, "allow", f"{IN} && ip4.src == 169.254.169.254"),
        ("from-lport", 32667, "allow", f"{IN} && ip4"),
        ("from-lport", 0, "drop", f"{IN} && ip4"),
        ("to-lport", 32767, "allow", f"{OUT} && ip4.dst == 169.254.169.254"),
        ("to-lport", 32667, "allow", f"{OUT} && ip4"),
        ("to-lport", 0, "drop", f"{OUT} && ip4")]


def test_entries_in_rule_number_order_are_priorities():
    acl = _acl(NaclEntry(200, False, "-1", "allow", "0.0.0.0/0"),
               NaclEntry(100, False, "6", "deny", "0.0.0.0/0", 22, 23),
               NaclEntry(50, False, "17", "allow", "10.0.0.0/8", 53, 53),
               NaclEntry(10, True, "1", "deny", "192.0.2.0/24", icmp_type=8, icmp_code=-1),
               NaclEntry(20, True, "4", "allow", "0.0.0.0/0"))
    listed = _listed(acl)
    assert ("from-lport", 32667, "drop",
            f"{IN} && ip4 && tcp.dst >= 22 && tcp.dst <= 23") in listed
    assert ("from-lport", 32717, "allow",
            f"{IN} && ip4 && ip4.src == 10.0.0.0/8 && udp.dst == 53") in listed
    assert ("from-lport", 32567, "allow", f"{IN} && ip4") in listed
    assert ("to-lport", 32757, "drop",
            f"{OUT} && ip4 && ip4.dst == 192.0.2.0/24 && icmp4 && icmp4.type == 8") in listed
    assert ("to-lport", 32747, "allow", f"{OUT} && ip4 && ip.proto == 4") in listed
    assert len(listed) == 5 + 4  # each direction: metadata and `*` besides the entries
