"""The security part of VPC mode's OVN model (cloud_controller/ovn/security.py):
every own VPC's security groups as port groups with their rules, and each own
subnet's network ACL, read through the services that own them (the database
is the authority).

A group's ports are an input (`ports_of`: group ids -> {group id: logical switch
port names}): the CLC gives VpcService.group_ports, the `mallee-<eni-id>` ports
of the group's live instances in own subnets (each of which is then in
`mallee_pg_drop` too).
"""
from __future__ import annotations

from typing import Awaitable, Callable

from cloud_controller.ovn.security import NaclEntry, PortGroup, SecurityModel, SgRule, SwitchAcl

PortsOf = Callable[[list[str]], Awaitable[dict[str, list[str]]]]


async def no_ports(group_ids: list[str]) -> dict[str, list[str]]:
    return {}


def nacl_entry(row) -> NaclEntry:
    return NaclEntry(row["rule_number"], bool(row["egress"]), row["protocol"],
                     row["rule_action"], row["cidr"], row["from_port"], row["to_port"],
                     row["icmp_type"], row["icmp_code"])


def sg_rule(row) -> SgRule:
    return SgRule(bool(row["egress"]), row["protocol"], row["from_port"], row["to_port"],
                  row["cidr"], row["cidr_ipv6"], row["source_group_id"])


class OvnSecurity:
    def __init__(self, vpcs, security_groups, network_acls, ports_of: PortsOf = no_ports):
        self.vpcs = vpcs
        self.security_groups = security_groups
        self.network_acls = network_acls
        self.ports_of = ports_of

    async def ovn_model(self) -> SecurityModel:
        return SecurityModel(await self._port_groups(), await self._switch_acls())

    async def _port_groups(self) -> list[PortGroup]:
        groups = await self.security_groups.vpc_groups()
        ids = [g["id"] for g in groups]
        rules: dict[str, list[SgRule]] = {g: [] for g in ids}
        for row in await self.security_groups.rules_of(ids) if ids else []:
            rules[row["group_id"]].append(sg_rule(row))
        ports = await self.ports_of(ids)
        return [PortGroup(g["id"], g["vpc_id"], g["account_id"], tuple(rules[g["id"]]),
                          tuple(ports.get(g["id"], ()))) for g in groups]

    async def _switch_acls(self) -> list[SwitchAcl]:
        subnets = {s.id: s for s in await self.vpcs.all_own_subnets()}
        acls, entry_rows, associations = await self.network_acls.ovn_rows()
        entries: dict[str, list[NaclEntry]] = {a["id"]: [] for a in acls}
        for row in entry_rows:
            entries[row["acl_id"]].append(nacl_entry(row))
        return [SwitchAcl(a["subnet_id"], subnets[a["subnet_id"]].vpc_id,
                          subnets[a["subnet_id"]].account_id, subnets[a["subnet_id"]].cidr,
                          a["acl_id"], tuple(entries[a["acl_id"]]))
                for a in associations if a["subnet_id"] in subnets]
