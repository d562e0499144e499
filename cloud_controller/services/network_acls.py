"""Network ACLs of own VPCs (VPC mode, docs/vpc.md): stateless, numbered entries
per direction, read in rule-number order; each subnet is associated with one
(its VPC's default ACL from CreateSubnet on). Changes make OVN follow
(VpcService.changed): ACLs at the subnets' router ports, ovn/security.py.

The default VPC's network ACL stays the implicit allow-all of EDGE
(api/network_acls.py renders it) and is not changed here.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cloud_controller.db.network_acls import NetworkAclRepository
from cloud_controller.services.vpcs import VpcPart, dependency
from mallee import errors
from mallee.ids import resource_id

RULE_NUMBERS = range(1, 32767)  # 32767 is the `*` entry, the deny that ends each list
_ACL_ID = re.compile(r"^acl-[0-9a-f]{8,17}$")
PROTOCOL_NAMES = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1"}


@dataclass(frozen=True)
class Entry:
    """One entry as a request gives it, checked by `entry_of`."""
    rule_number: int | None
    egress: bool | None
    protocol: str | None
    action: str | None
    cidr: str | None
    ipv6_cidr: str | None = None
    port_from: int | None = None
    port_to: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None


def _protocol(raw: str | None) -> str:
    text = (raw or "").strip().lower()
    text = PROTOCOL_NAMES.get(text, text)
    if text == "-1" or (text.isdigit() and text.isascii() and int(text) <= 255):
        return str(int(text))
    raise errors.InvalidParameterValue(
        f"Value ({raw}) for parameter protocol is invalid. Unknown protocol.")


def entry_row(acl_id: str, entry: Entry) -> dict:
    """An entry as stored, or the EC2 error for what is wrong with it."""
    for name, value in (("ruleNumber", entry.rule_number), ("egress", entry.egress),
                        ("protocol", entry.protocol), ("ruleAction", entry.action)):
        if value is None:
            raise errors.MissingParameter(f"The request must contain the parameter {name}")
    if entry.rule_number not in RULE_NUMBERS:
        raise errors.InvalidParameterValue(
            f"Value ({entry.rule_number}) for parameter ruleNumber is invalid. Rule numbers "
            "must be between 1 and 32766.")
    if entry.action not in ("allow", "deny"):
        raise errors.InvalidParameterValue(
            f"Value ({entry.action}) for parameter ruleAction is invalid. Valid values are "
            "allow and deny.")
    if entry.ipv6_cidr:
        raise errors.UnsupportedOperation("IPv6 in a VPC is not supported by this cloud yet.")
    if entry.cidr is None:
        raise errors.MissingParameter("The request must contain the parameter cidrBlock")
    try:
        cidr = str(ipaddress.IPv4Network(entry.cidr.strip(), strict=False))
    except ValueError:
        raise errors.InvalidParameterValue(
            f"Value ({entry.cidr}) for parameter cidrBlock is invalid. This is not a valid "
            "CIDR block.")
    protocol = _protocol(entry.protocol)
    row = {"acl_id": acl_id, "egress": int(entry.egress), "rule_number": entry.rule_number,
           "protocol": protocol, "rule_action": entry.action, "cidr": cidr}
    if protocol in ("6", "17"):
        if entry.port_from is None or entry.port_to is None:
            raise errors.MissingParameter("The request must contain the parameter portRange")
        if not 0 <= entry.port_from <= entry.port_to <= 65535:
            raise errors.InvalidParameterValue(
                f"Invalid port range {entry.port_from}-{entry.port_to}: ports are 0 to 65535, "
                "From not above To.")
        row.update(from_port=entry.port_from, to_port=entry.port_to)
    elif protocol == "1":
        if entry.icmp_type is None or entry.icmp_code is None:
            raise errors.MissingParameter("The request must contain the parameter icmpTypeCode")
        if not (-1 <= entry.icmp_type <= 255 and -1 <= entry.icmp_code <= 255):
            raise errors.InvalidParameterValue(
                f"Invalid ICMP type/code {entry.icmp_type}/{entry.icmp_code}: each is -1 (all) "
                "to 255.")
        row.update(icmp_type=entry.icmp_type, icmp_code=entry.icmp_code)
    return row


@dataclass(frozen=True)
class NetworkAcl:
    row: object
    entries: list
    associations: list


class NetworkAclService(VpcPart):
    def __init__(self, db, vpcs, tags):
        self.db = db
        self.vpcs = vpcs  # VpcService: own VPCs and subnets; OVN follows its `changed`
        self.tags = tags
        self.repo = NetworkAclRepository(db)
        vpcs.members.append(self)

    # ---- VpcPart: the default ACL comes and goes with its VPC; subnets join it ----

    async def vpc_created(self, account_id: str, vpc_id: str) -> None:
        """EC2's default network ACL of a new VPC: rule 100 allows all, both ways."""
        derived = self.vpcs.default_parts(account_id, vpc_id)
        acl_id = derived.network_acl_id if derived else resource_id("acl")
        await self.repo.insert_acl(acl_id, account_id, vpc_id, is_default=True)
        for egress in (0, 1):
            await self.repo.put_entry({"acl_id": acl_id, "egress": egress, "rule_number": 100,
                                       "protocol": "-1", "rule_action": "allow",
                                       "cidr": "0.0.0.0/0"})

    async def vpc_deleting(self, vpc_id: str) -> None:
        acls = await self.repo.of_vpc(vpc_id)
        if any(not a["is_default"] for a in acls):
            raise dependency(vpc_id)
        for acl in acls:
            await self.repo.delete_acl(acl["id"])
            await self.tags.forget(acl["id"])

    async def subnet_created(self, vpc_id: str, subnet_id: str) -> None:
        default = next(a for a in await self.repo.of_vpc(vpc_id) if a["is_default"])
        derived = self.vpcs.default_parts(default["account_id"], vpc_id)
        await self.repo.associate(derived.acl_association_id(subnet_id) if derived
                                  else resource_id("aclassoc"), subnet_id, default["id"])

    async def subnet_deleting(self, subnet_id: str) -> None:
        await self.repo.dissociate_subnet(subnet_id)

    async def ovn_rows(self) -> tuple[list, list, list]:
        """Every own VPC's ACLs, their entries and the subnets' associations (OVN)."""
        acls = await self.repo.acls()
        entries = await self.repo.entries([a["id"] for a in acls]) if acls else []
        return acls, entries, await self.repo.associations()

    async def own(self, account_id: str, acl_id: str):
        if not _ACL_ID.match(acl_id or ""):
            raise errors.InvalidNetworkAclIDNotFound(
                f"The networkAcl ID '{acl_id}' does not exist")
        row = await self.repo.acl(account_id, acl_id)
        if row is None:  # the default VPC's ACL is a row too (vpc mode, docs/vpc.md)
            raise errors.InvalidNetworkAclIDNotFound(
                f"The networkAcl ID '{acl_id}' does not exist")
        return row

    async def create(self, account_id: str, vpc_id: str, tags: list[tuple[str, str]]):
        acl_id = resource_id("acl")
        async with self.db.unit():
            await self.vpcs.own_vpc(account_id, vpc_id)
            await self.repo.insert_acl(acl_id, account_id, vpc_id, is_default=False)
            await self.tags.tag_new(account_id, acl_id, "network-acl", tags)
        return (await self.list(account_id, [acl_id]))[0]

    async def delete(self, account_id: str, acl_id: str) -> None:
        async with self.db.unit():
            row = await self.own(account_id, acl_id)
            if row["is_default"]:
                raise errors.InvalidParameterValue(
                    f"cannot delete default network ACL {acl_id}")
            if await self.repo.associations([acl_id]):
                raise errors.DependencyViolation(
                    f"The networkAcl '{acl_id}' has dependencies and cannot be deleted.")
            await self.repo.delete_acl(acl_id)
            await self.tags.forget(acl_id)
        await self.vpcs.changed()

    async def list(self, account_id: str, acl_ids: list[str] | None = None) -> list[NetworkAcl]:
        rows = [r for r in await self.repo.acls(account_id)
                if acl_ids is None or r["id"] in acl_ids]
        ids = [r["id"] for r in rows]
        entries = await self.repo.entries(ids) if ids else []
        associations = await self.repo.associations(ids) if ids else []
        return [NetworkAcl(r, [e for e in entries if e["acl_id"] == r["id"]],
                           [a for a in associations if a["acl_id"] == r["id"]]) for r in rows]

    async def put_entry(self, account_id: str, acl_id: str, entry: Entry,
                        replace: bool) -> None:
        """CreateNetworkAclEntry (replace=False) or ReplaceNetworkAclEntry."""
        async with self.db.unit():
            await self.own(account_id, acl_id)
            row = entry_row(acl_id, entry)
            found = await self.repo.entry(acl_id, entry.egress, entry.rule_number)
            if found is not None and not replace:
                raise errors.NetworkAclEntryAlreadyExists(
                    f"The network acl entry identified by {entry.rule_number} already exists.")
            if found is None and replace:
                raise errors.InvalidNetworkAclEntryNotFound(
                    f"The network acl entry identified by {entry.rule_number} does not exist.")
            await self.repo.put_entry(row)
        await self.vpcs.changed()

    async def delete_entry(self, account_id: str, acl_id: str, egress: bool,
                           rule_number: int) -> None:
        async with self.db.unit():
            await self.own(account_id, acl_id)
            if await self.repo.entry(acl_id, egress, rule_number) is None:
                raise errors.InvalidNetworkAclEntryNotFound(
                    f"The network acl entry identified by {rule_number} does not exist.")
            await self.repo.delete_entry(acl_id, egress, rule_number)
        await self.vpcs.changed()

    async def replace_association(self, account_id: str, association_id: str,
                                  acl_id: str) -> str:
        new_id = resource_id("aclassoc")
        async with self.db.unit():
            acl = await self.own(account_id, acl_id)
            old = await self.repo.association(association_id or "")
            subnet = old and await self.vpcs.find_own_subnet(account_id, old["subnet_id"])
            if not subnet:
                raise errors.InvalidAssociationIDNotFound(
                    f"The association ID '{association_id}' does not exist")
            if subnet.vpc_id != acl["vpc_id"]:
                raise errors.InvalidParameterValue(
                    f"Network ACL {acl_id} and subnet {subnet.id} belong to different "
                    "networks.")
            await self.repo.associate(new_id, subnet.id, acl_id)
        await self.vpcs.changed()
        return new_id
