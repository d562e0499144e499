"""The security part of VPC mode's OVN model (cloud_controller/ovn/security.py):
every own VPC's security groups as port groups with their rules, and each own
subnet's network ACL, read from the CLC's database (the authority).

A group's ports are an input (`ports_of`: group id -> logical switch port
names); instances' ports in own subnets come with guests on OVN, until then no
group has any.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from cloud_controller.db.network_acls import NetworkAclRepository
from cloud_controller.db.security_groups import GroupRepository, RuleRepository
from cloud_controller.db.vpcs import VpcRepository
from cloud_controller.ovn.security import NaclEntry, PortGroup, SecurityModel, SgRule, SwitchAcl

PortsOf = Callable[[list[str]], Awaitable[dict[str, list[str]]]]


async def no_ports(group_ids: list[str]) -> dict[str, list[str]]:
    return {}


def nacl_entry(row) -> NaclEntry:
    return NaclEntry(row["rule_number"], bool(row["egress"]), row["protocol"],
                     row["rule_action"], row["cidr"], row["from_port"], row["to_port"],
                     row["icmp_type"], row["icmp_code"])


class OvnSecurity:
    def __init__(self, db, ports_of: PortsOf = no_ports):
        self.groups = GroupRepository(db)
        self.rules = RuleRepository(db)
        self.acls = NetworkAclRepository(db)
        self.vpcs = VpcRepository(db)
        self.ports_of = ports_of

    async def ovn_model(self) -> SecurityModel:
        groups = await self.groups.in_vpcs()
        ids = [g["id"] for g in groups]
        rules: dict[str, list[SgRule]] = {g: [] for g in ids}
        for r in await self.rules.of_groups(ids):
            rules[r["group_id"]].append(SgRule(
                bool(r["egress"]), r["protocol"], r["from_port"], r["to_port"], r["cidr"],
                r["cidr_ipv6"], r["source_group_id"]))
        ports = await self.ports_of(ids)
        port_groups = [PortGroup(g["id"], g["vpc_id"], g["account_id"], tuple(rules[g["id"]]),
                                 tuple(ports.get(g["id"], ()))) for g in groups]
        subnets = {s["id"]: s for s in await self.vpcs.own_subnets()}
        acls = {a["id"]: a for a in await self.acls.acls()}
        entries: dict[str, list[NaclEntry]] = {a: [] for a in acls}
        for row in await self.acls.entries(list(acls)):
            entries[row["acl_id"]].append(nacl_entry(row))
        switch_acls = [
            SwitchAcl(a["subnet_id"], subnets[a["subnet_id"]]["vpc_id"],
                      subnets[a["subnet_id"]]["account_id"], subnets[a["subnet_id"]]["cidr"],
                      a["acl_id"], tuple(entries[a["acl_id"]]))
            for a in await self.acls.associations() if a["subnet_id"] in subnets]
        return SecurityModel(port_groups, switch_acls)
