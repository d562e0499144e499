"""Security groups and their rules: the CLC's rules for them.

A permission (IpPermissions.N) names a protocol, a port range and any number
of targets (CIDRs, source groups); it is stored as one rule per target (an
sgr- id each), as AWS stores security group rules. A group is in its
account's default VPC (EDGE's groups, vpc_id NULL: found by name or id) or,
in VPC mode, in one of the account's own VPCs (names unique per VPC, found by
id; each own VPC has its `default` group from its creation). AWS's default
rules (all egress; the `default` group open to its own members) are added by
the database when a group is made. A change to an EDGE group is told to the
network notifier, whose subscriber (the network view) pushes it to the nodes;
a change to a VPC group makes OVN follow (VpcService.changed: its port group
and ACLs, cloud_controller/ovn/security.py).
"""
from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field

from cloud_controller.db.security_groups import TARGETS, GroupRepository, RuleRepository
from cloud_controller.services.notify import ChangeNotifier
from cloud_controller.services.vpcs import VpcPart, default_vpc_id, dependency
from mallee import errors, ids

PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
             "-1": "-1", "all": "-1"}
MAX_GROUPS = 500  # per account
MAX_RULES = 100  # per group and direction
_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_PROTOCOL_NUMBER = re.compile(r"[0-9]{1,3}")
_PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")


@dataclass
class SourceGroup:
    group_id: str | None = None
    group_name: str | None = None
    user_id: str | None = None
    description: str | None = None


@dataclass
class Permission:
    protocol: str | None
    from_port: int | None = None
    to_port: int | None = None
    cidrs: list[tuple[str, str | None]] = field(default_factory=list)  # (cidr, description)
    groups: list[SourceGroup] = field(default_factory=list)
    ipv6_cidrs: list[tuple[str, str | None]] = field(default_factory=list)
    prefix_lists: list[tuple[str, str | None]] = field(default_factory=list)  # (pl-id, descr.)


def protocol_of(raw: str | None) -> str:
    """A rule's protocol as stored: tcp, udp, icmp, -1 (all) or an IANA
    number 0..255. 0 is HOPOPT, a protocol of its own: never "all"."""
    text = (raw or "").strip().lower()
    if text in PROTOCOLS:
        return PROTOCOLS[text]
    if _PROTOCOL_NUMBER.fullmatch(text) and int(text) <= 255:  # ASCII digits only
        number = str(int(text))
        return PROTOCOLS.get(number, number)
    raise errors.InvalidParameterValue(
        f"Invalid value '{raw}' for IP protocol. Unknown protocol.")


def ports_of(protocol: str, from_port: int | None, to_port: int | None) -> tuple[int, int]:
    if protocol in ("tcp", "udp"):
        for name, port in (("fromPort", from_port), ("toPort", to_port)):
            if port is None or not 0 <= port <= 65535:
                raise errors.InvalidParameterValue(
                    f"Invalid value '{port}' for {name}. Ports are 0 to 65535 for {protocol}.")
        if from_port > to_port:
            raise errors.InvalidParameterValue(
                f"Invalid port range {from_port}-{to_port}: fromPort is above toPort.")
        return from_port, to_port
    if protocol == "icmp":
        icmp_type = -1 if from_port is None else from_port
        code = -1 if to_port is None else to_port
        if not -1 <= icmp_type <= 255 or not -1 <= code <= 255:
            raise errors.InvalidParameterValue(
                f"Invalid ICMP type/code {icmp_type}/{code}: each is -1 (all) to 255.")
        if icmp_type == -1 and code != -1:
            raise errors.InvalidParameterValue(
                "If you specify all ICMP types, you must specify all ICMP codes.")
        return icmp_type, code
    return -1, -1


def cidr_of(text: str) -> str:
    try:
        return str(ipaddress.IPv4Network(text.strip(), strict=False))
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        raise errors.InvalidParameterValue(
            f"Value ({text}) for parameter cidrIp is invalid. This is not a valid CIDR block.")


def cidr_ipv6_of(text: str) -> str:
    try:
        return str(ipaddress.IPv6Network(text.strip(), strict=False))
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        raise errors.InvalidParameterValue(
            f"Value ({text}) for parameter cidrIpv6 is invalid. This is not a valid IPv6 "
            f"CIDR block.")


def prefix_list_of(text: str) -> str:
    """A prefix list id, kept as given: the rule holds it; EDGE has no prefix lists to
    expand it to, so on the data plane it matches nothing (docs/ec2-api.md)."""
    if not _PREFIX_LIST_ID.match(text.strip()):
        raise errors.InvalidParameterValue(
            f"Value ({text}) for parameter prefixListId is invalid. Expecting 'pl-...'.")
    return text.strip()


def target_of(rule) -> str:
    """What a rule allows: its one CIDR, IPv6 CIDR, prefix list or source group."""
    return next(rule[c] for c in TARGETS if rule[c])


def describe_rule(rule) -> str:
    peer = target_of(rule)
    return (f"peer: {peer}, {rule['protocol'].upper()}, from port: {rule['from_port']}, "
            f"to port: {rule['to_port']}, ALLOW")


def edge_only(group):
    """The group, if it is of the default VPC (EDGE's); a VPC group is refused."""
    if group["vpc_id"]:
        raise errors.InvalidParameter(
            f"Security group {group['id']} and the instance's subnet belong to different "
            "networks.")
    return group


class SecurityGroupService(VpcPart):
    def __init__(self, db, vpcs, tags, network_changed: ChangeNotifier):
        self.db = db
        self.vpcs = vpcs  # VpcService: the VPC a group is in; OVN follows VPC groups' changes
        self.tags = tags  # TagService: a deleted group's tags go with it
        self.network_changed = network_changed
        self.groups = GroupRepository(db)
        self.rules = RuleRepository(db)
        vpcs.members.append(self)  # each own VPC has its default group
        # async (group row) -> None, inside delete's unit: a user that keeps the group
        # raises DependencyViolation (network interfaces' own group sets)
        self.delete_checks: list = []

    # ---- VpcPart: an own VPC's `default` group comes and goes with it ----

    async def vpc_created(self, account_id: str, vpc_id: str) -> None:
        if vpc_id == default_vpc_id(account_id):  # its groups are those without a VpcId
            await self.ensure_default(account_id)
            return
        await self.groups.insert(ids.resource_id("sg"), account_id, "default",
                                 "default VPC security group", vpc_id)

    async def vpc_deleting(self, vpc_id: str) -> None:
        groups = await self.groups.in_vpcs([vpc_id])
        if any(g["name"] != "default" for g in groups):
            raise dependency(vpc_id)
        for group in groups:
            await self.groups.delete(group["id"])
            await self.tags.forget(group["id"])

    async def vpc_groups(self):
        """Every own VPC's groups, of all accounts (the OVN model); in vpc mode also the
        groups without a VpcId of real default VPCs, with that VPC's id."""
        groups = list(await self.groups.in_vpcs())
        if self.vpcs.vpc_mode:
            groups += [{**dict(g), "vpc_id": default_vpc_id(g["account_id"])}
                       for g in await self.groups.of_real_default_vpcs()]
        return groups

    async def ensure_default(self, account_id: str):
        found = await self.groups.by_names(account_id, ["default"])
        if found:  # the common case: no unit, no wait for the writer
            return found[0]
        async with self.db.unit():
            await self.groups.insert(ids.resource_id("sg"), account_id, "default",
                                     "default group")
            return (await self.groups.by_names(account_id, ["default"]))[0]

    async def _changed(self, group) -> None:
        if group["vpc_id"] or self.vpcs.vpc_mode:  # vpc mode: the default VPC's on OVN
            await self.vpcs.changed()
        if not group["vpc_id"]:
            self.network_changed.notify()

    async def create(self, account_id: str, name: str, description: str,
                     vpc_id: str | None = None):
        vpc = await self.vpcs.group_vpc(account_id, vpc_id)  # None: the default VPC (EDGE)
        if not name or len(name) > 255 or not description or len(description) > 255:
            raise errors.InvalidParameterValue(
                "Group names and descriptions must be 1 to 255 characters long.")
        if name.lower().startswith("sg-"):
            raise errors.InvalidParameterValue("Group names may not start with 'sg-'.")
        group_id = ids.resource_id("sg")
        async with self.db.unit():  # the duplicate check and the limit decide the insert
            if vpc is None:
                await self.ensure_default(account_id)
                taken = name == "default" or await self.groups.by_names(account_id, [name])
            else:
                await self.vpcs.own_vpc(account_id, vpc)  # not deleted meanwhile
                taken = await self.groups.by_name_in_vpc(account_id, vpc, name) is not None
            if taken:
                raise errors.InvalidGroupDuplicate(
                    f"The security group '{name}' already exists"
                    + (f" for VPC '{vpc}'" if vpc else ""))
            if len(await self.groups.list(account_id)) >= MAX_GROUPS:
                raise errors.SecurityGroupLimitExceeded(
                    f"You may have at most {MAX_GROUPS} security groups.")
            await self.groups.insert(group_id, account_id, name, description, vpc)
        group = (await self.groups.by_ids(account_id, [group_id]))[0]
        await self._changed(group)
        return group

    async def find(self, account_id: str, name: str | None = None, group_id: str | None = None):
        if group_id:
            if not _GROUP_ID.match(group_id):
                raise errors.InvalidGroupIdMalformed(
                    f"Invalid id: \"{group_id}\" (expecting \"sg-...\")")
            rows = await self.groups.by_ids(account_id, [group_id])
        elif name:
            if name == "default":
                await self.ensure_default(account_id)
            rows = await self.groups.by_names(account_id, [name])
        else:
            raise errors.MissingParameter("The request must contain the parameter GroupName "
                                          "or GroupId")
        if not rows:
            raise errors.InvalidGroupNotFound(
                f"The security group '{group_id or name}' does not exist")
        return rows[0]

    async def for_launch(self, account_id: str, names: list[str], group_ids: list[str],
                         subnet=None):
        """The groups a new instance is in: those named (by name or id), else `default`;
        in an own subnet (`subnet`), groups of its VPC only."""
        if subnet is not None and not subnet.default:
            return await self._for_own_subnet(account_id, names, group_ids, subnet)
        if not names and not group_ids:
            return [await self.ensure_default(account_id)]
        if "default" in names:
            await self.ensure_default(account_id)
        found = list(await self.groups.by_names(account_id, names)) if names else []
        missing = set(names) - {g["name"] for g in found}
        if missing:
            raise errors.InvalidGroupNotFound(
                f"The security group '{sorted(missing)[0]}' does not exist")
        if group_ids:
            by_id = list(await self.groups.by_ids(account_id, group_ids))
            missing = set(group_ids) - {g["id"] for g in by_id}
            if missing:
                raise errors.InvalidGroupNotFound(
                    f"The security group '{sorted(missing)[0]}' does not exist")
            found += [g for g in by_id if g["id"] not in {f["id"] for f in found}]
        for group in found:
            edge_only(group)
        return found

    async def _for_own_subnet(self, account_id: str, names: list[str], group_ids: list[str],
                              subnet):
        vpc_id = subnet.vpc_id
        if names:  # EC2 takes only group ids with a nondefault subnet
            raise errors.InvalidParameterCombination(
                "The parameter groupName cannot be used with the parameter subnet")
        found = {}
        for name in ([] if group_ids else ["default"]):
            group = await self.groups.by_name_in_vpc(account_id, vpc_id, name)
            if group is None:
                raise errors.InvalidGroupNotFound(
                    f"The security group '{name}' does not exist in VPC '{vpc_id}'")
            found[group["id"]] = group
        if group_ids:
            by_id = {g["id"]: g for g in await self.groups.by_ids(account_id, group_ids)}
            for group_id in dict.fromkeys(group_ids):
                if group_id not in by_id:
                    raise errors.InvalidGroupNotFound(
                        f"The security group '{group_id}' does not exist")
                found[group_id] = self.of_vpc(by_id[group_id], vpc_id, subnet.id)
        return list(found.values())

    @staticmethod
    def of_vpc(group, vpc_id: str, subnet_id: str):
        """The group, if it is of the VPC of `subnet_id` (EC2's error otherwise); a
        group without a VpcId is of the default VPC."""
        if (group["vpc_id"] or default_vpc_id(group["account_id"])) != vpc_id:
            raise errors.InvalidParameter(
                f"Security group {group['id']} and subnet {subnet_id} belong to different "
                "networks.")
        return group

    async def instance_group(self, account_id: str, group_id: str, instance):
        """A group the instance (a row) may be put in: EDGE's, or its own subnet's VPC's."""
        group = await self.find(account_id, group_id=group_id)
        if instance["subnet_id"]:
            return self.of_vpc(group, instance["vpc_id"], instance["subnet_id"])
        return edge_only(group)

    async def by_id(self, account_id: str) -> dict:
        """{group id: row} of every group of the account (names and VPCs of sources)."""
        return {g["id"]: g for g in await self.groups.list(account_id)}

    async def of_accounts(self, account_ids: list[str]):
        return list(await self.groups.of_accounts(account_ids)) if account_ids else []

    async def describe(self, account_id: str, names: list[str], group_ids: list[str]):
        await self.ensure_default(account_id)
        if not names and not group_ids:
            return list(await self.groups.list(account_id))
        found = [await self.find(account_id, name=n) for n in names]
        found += [await self.find(account_id, group_id=g) for g in group_ids]
        unique = {r["id"]: r for r in found}
        return sorted(unique.values(), key=lambda r: r["name"])

    async def delete(self, account_id: str, group) -> None:
        if group["name"] == "default":
            raise errors.CannotDelete("The default security group cannot be deleted.")
        async with self.db.unit():  # "is it in use" is read in the unit that deletes
            members = await self.groups.live_members(group["id"])
            if members:
                raise errors.DependencyViolation(
                    f"resource {group['id']} has a dependent object: it is in use by "
                    f"{', '.join(members[:5])}")
            referencing = await self.groups.referencing(group["id"])
            if referencing:
                raise errors.DependencyViolation(
                    f"resource {group['id']} has a dependent object: rules of "
                    f"{', '.join(referencing)} name it as their source")
            for check in self.delete_checks:
                await check(group)
            await self.groups.delete(group["id"])
            await self.tags.forget(group["id"])
        await self._changed(group)

    async def rules_of(self, group_ids: list[str]):
        return await self.rules.of_groups(group_ids)

    async def rules_of_account(self, account_id: str):
        return await self.rules.of_account(account_id)

    async def _source(self, account_id: str, ref: SourceGroup, group):
        """The group a rule of `group` names as its source: of the same VPC."""
        if ref.user_id and ref.user_id != account_id:
            raise errors.InvalidGroupNotFound(
                f"The security group '{ref.group_id or ref.group_name}' of account "
                f"{ref.user_id} does not exist (groups of other accounts cannot be named).")
        if group["vpc_id"] and ref.group_name and not ref.group_id:
            source = await self.groups.by_name_in_vpc(account_id, group["vpc_id"],
                                                      ref.group_name)
            if source is None:
                raise errors.InvalidGroupNotFound(
                    f"The security group '{ref.group_name}' does not exist in VPC "
                    f"'{group['vpc_id']}'")
            return source
        source = await self.find(account_id, name=ref.group_name if not ref.group_id else None,
                                 group_id=ref.group_id)
        if source["vpc_id"] != group["vpc_id"]:
            raise errors.InvalidGroupNotFound(
                "You have specified two resources that belong to different networks.")
        return source

    async def _targets(self, account_id: str, group, egress: bool,
                       permissions: list[Permission]) -> list[dict]:
        """One rule row per target of every permission, checked, not yet stored."""
        if not permissions:
            raise errors.MissingParameter("The request must contain the parameter "
                                          "IpPermissions")
        rows, seen = [], set()
        for perm in permissions:
            protocol = protocol_of(perm.protocol)
            from_port, to_port = ports_of(protocol, perm.from_port, perm.to_port)
            targets = [("cidr", cidr_of(c), d) for c, d in perm.cidrs]
            targets += [("cidr_ipv6", cidr_ipv6_of(c), d) for c, d in perm.ipv6_cidrs]
            targets += [("prefix_list_id", prefix_list_of(p), d) for p, d in perm.prefix_lists]
            for ref in perm.groups:
                source = await self._source(account_id, ref, group)
                targets.append(("source_group_id", source["id"], ref.description))
            if not targets:
                raise errors.InvalidParameterValue(
                    "A permission must name at least one CIDR (IpRanges, Ipv6Ranges), prefix "
                    "list (PrefixListIds) or source group (UserIdGroupPairs).")
            for column, value, description in targets:
                key = (protocol, from_port, to_port, column, value)
                if key in seen:
                    raise errors.InvalidPermissionDuplicate(
                        "The same permission is given twice in this request.")
                seen.add(key)
                rows.append({"group_id": group["id"], "account_id": account_id,
                             "egress": int(egress), "protocol": protocol,
                             "from_port": from_port, "to_port": to_port,
                             **dict.fromkeys(TARGETS), column: value,
                             "description": description})
        return rows

    async def authorize(self, account_id: str, group, egress: bool,
                        permissions: list[Permission]) -> list[dict]:
        rows = await self._targets(account_id, group, egress, permissions)
        now = time.time()
        async with self.db.unit():  # the duplicate checks and the limit decide the insert
            if not await self.groups.by_ids(account_id, [group["id"]]):  # deleted meanwhile
                raise errors.InvalidGroupNotFound(
                    f"The security group '{group['id']}' does not exist")
            for row in rows:
                if await self.rules.find(row["group_id"], egress, row["protocol"],
                                         row["from_port"], row["to_port"], row):
                    raise errors.InvalidPermissionDuplicate(
                        f"the specified rule \"{describe_rule(row)}\" already exists")
            existing = [r for r in await self.rules.of_groups([group["id"]])
                        if bool(r["egress"]) == egress]
            if len(existing) + len(rows) > MAX_RULES:
                raise errors.RulesPerSecurityGroupLimitExceeded(
                    f"A group may have at most {MAX_RULES} "
                    f"{'egress' if egress else 'ingress'} rules.")
            for row in rows:
                row.update(id=ids.resource_id("sgr"), created_at=now)
                await self.rules.insert(row)
        await self._changed(group)
        return rows

    async def revoke(self, account_id: str, group, egress: bool,
                     permissions: list[Permission]) -> list:
        targets = await self._targets(account_id, group, egress, permissions)
        async with self.db.unit():
            found = []
            for row in targets:
                rule = await self.rules.find(row["group_id"], egress, row["protocol"],
                                             row["from_port"], row["to_port"], row)
                if rule is None:
                    raise errors.InvalidPermissionNotFound(
                        f"The specified rule \"{describe_rule(row)}\" does not exist in this "
                        f"security group.")
                found.append(rule)
            for rule in found:
                await self.rules.delete(rule["id"])
        await self._changed(group)
        return found

    async def revoke_ids(self, account_id: str, group, egress: bool, rule_ids: list[str]):
        async with self.db.unit():
            rules = {r["id"]: r for r in await self.rules.of_groups([group["id"]])
                     if bool(r["egress"]) == egress}
            missing = [r for r in rule_ids if r not in rules]
            if missing:
                raise errors.InvalidSecurityGroupRuleIdNotFound(
                    f"The security group rule ID '{missing[0]}' does not exist")
            for rule_id in rule_ids:
                await self.rules.delete(rule_id)
        await self._changed(group)
        return [rules[r] for r in rule_ids]
