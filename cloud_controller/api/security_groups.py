"""CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups,
Authorize/RevokeSecurityGroupIngress/Egress, DescribeSecurityGroupRules."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.text import (check_group_description, check_group_name,
                                       check_rule_description)
from cloud_controller.services.security_groups import Permission, SourceGroup
from cloud_controller.services.vpcs import default_vpc_id
from mallee import errors
from cloud_controller.api.query import Filter, TagSpecification, listparam, param


@dataclass
class CreateSecurityGroupRequest:
    group_name: str = param("GroupName", required=True)
    description: str = param("GroupDescription")
    description_alt: str = param("Description")
    vpc_id: str = param("VpcId")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class GroupRequest:
    group_name: str = param("GroupName")
    group_id: str = param("GroupId")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeSecurityGroupsRequest:
    group_names: list[str] = listparam("GroupName")
    group_ids: list[str] = listparam("GroupId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class WireIpRange:
    cidr_ip: str = param("CidrIp")
    description: str = param("Description")


@dataclass
class WireGroupPair:
    group_id: str = param("GroupId")
    group_name: str = param("GroupName")
    user_id: str = param("UserId")
    description: str = param("Description")


@dataclass
class WireIpv6Range:
    cidr_ipv6: str = param("CidrIpv6")
    description: str = param("Description")


@dataclass
class WirePrefixListId:
    prefix_list_id: str = param("PrefixListId")
    description: str = param("Description")


@dataclass
class WireIpPermission:
    ip_protocol: str = param("IpProtocol")
    from_port: int = param("FromPort")
    to_port: int = param("ToPort")
    ip_ranges: list[WireIpRange] = listparam("IpRanges")
    groups: list[WireGroupPair] = listparam("Groups")  # botocore's wire name
    user_id_group_pairs: list[WireGroupPair] = listparam("UserIdGroupPairs")
    ipv6_ranges: list[WireIpv6Range] = listparam("Ipv6Ranges")
    prefix_list_ids: list[WirePrefixListId] = listparam("PrefixListIds")


@dataclass
class PermissionsRequest:
    group_id: str = param("GroupId")
    group_name: str = param("GroupName")
    ip_permissions: list[WireIpPermission] = listparam("IpPermissions")
    # The older flat form (euca2ools, EC2-Classic tools).
    ip_protocol: str = param("IpProtocol")
    from_port: int = param("FromPort")
    to_port: int = param("ToPort")
    cidr_ip: str = param("CidrIp")
    source_group_name: str = param("SourceSecurityGroupName")
    source_group_owner: str = param("SourceSecurityGroupOwnerId")
    rule_ids: list[str] = listparam("SecurityGroupRuleId")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeSecurityGroupRulesRequest:
    rule_ids: list[str] = listparam("SecurityGroupRuleId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


def _permissions(req: PermissionsRequest) -> list[Permission]:
    perms = []
    for wire in req.ip_permissions:
        for described in (wire.ip_ranges + wire.groups + wire.user_id_group_pairs
                          + wire.ipv6_ranges + wire.prefix_list_ids):
            check_rule_description(described.description)
        perms.append(Permission(
            wire.ip_protocol, wire.from_port, wire.to_port,
            [(r.cidr_ip, r.description) for r in wire.ip_ranges if r.cidr_ip is not None],
            [SourceGroup(p.group_id, p.group_name, p.user_id, p.description)
             for p in wire.groups + wire.user_id_group_pairs],
            [(r.cidr_ipv6, r.description) for r in wire.ipv6_ranges if r.cidr_ipv6 is not None],
            [(p.prefix_list_id, p.description) for p in wire.prefix_list_ids
             if p.prefix_list_id is not None]))
    flat = (req.ip_protocol, req.cidr_ip, req.source_group_name, req.from_port, req.to_port)
    if any(v is not None for v in flat):
        perms.append(Permission(
            req.ip_protocol or "-1", req.from_port, req.to_port,
            [(req.cidr_ip, None)] if req.cidr_ip else [],
            [SourceGroup(None, req.source_group_name, req.source_group_owner)]
            if req.source_group_name else []))
    return perms


def _ports(protocol: str, from_port: int, to_port: int) -> dict:
    if protocol in ("tcp", "udp", "icmp"):
        return {"fromPort": from_port, "toPort": to_port}
    return {}


def group_vpc(group) -> str:
    """The VPC a group row is in: an own VPC, or the account's default one (EDGE)."""
    return group["vpc_id"] or default_vpc_id(group["account_id"])


def permission_items(rules, groups: dict) -> list[dict]:
    """Rules as AWS lists them: one item per protocol and port range (`groups`: the
    account's group rows by id, for the names and VPCs of source groups)."""
    items: dict[tuple, dict] = {}
    for r in rules:
        key = (r["protocol"], r["from_port"], r["to_port"])
        item = items.setdefault(key, {"ipProtocol": r["protocol"],
                                      **_ports(*key), "groups": [], "ipRanges": [],
                                      "ipv6Ranges": [], "prefixListIds": []})
        if r["cidr"]:
            item["ipRanges"].append({"cidrIp": r["cidr"], "description": r["description"]})
        elif r["cidr_ipv6"]:
            item["ipv6Ranges"].append({"cidrIpv6": r["cidr_ipv6"],
                                       "description": r["description"]})
        elif r["prefix_list_id"]:
            item["prefixListIds"].append({"prefixListId": r["prefix_list_id"],
                                          "description": r["description"]})
        else:
            source = groups.get(r["source_group_id"])
            item["groups"].append({"userId": r["account_id"], "groupId": r["source_group_id"],
                                   "groupName": source["name"] if source else None,
                                   "vpcId": group_vpc(source) if source
                                   else default_vpc_id(r["account_id"]),
                                   "description": r["description"]})
    return list(items.values())


def rule_item(r, tags: dict[str, str], groups: dict) -> dict:
    referenced = None
    if r["source_group_id"]:
        source = groups.get(r["source_group_id"])
        referenced = {"groupId": r["source_group_id"], "userId": r["account_id"],
                      "vpcId": group_vpc(source) if source
                      else default_vpc_id(r["account_id"])}
    return {"securityGroupRuleId": r["id"], "groupId": r["group_id"],
            "groupOwnerId": r["account_id"], "isEgress": bool(r["egress"]),
            "ipProtocol": r["protocol"], "fromPort": r["from_port"], "toPort": r["to_port"],
            "cidrIpv4": r["cidr"], "cidrIpv6": r["cidr_ipv6"],
            "prefixListId": r["prefix_list_id"], "referencedGroupInfo": referenced,
            "description": r["description"], "tagSet": tag_list(tags)}


def _group_item(g, rules, groups, tags) -> dict:
    mine = [r for r in rules if r["group_id"] == g["id"]]
    return {"ownerId": g["account_id"], "groupId": g["id"], "groupName": g["name"],
            "groupDescription": g["description"], "vpcId": group_vpc(g),
            "ipPermissions": permission_items([r for r in mine if not r["egress"]], groups),
            "ipPermissionsEgress": permission_items([r for r in mine if r["egress"]], groups),
            "tagSet": tag_list(tags)}


def _permission_field(egress: bool, pick):
    return lambda item: [v for p in item["ipPermissionsEgress" if egress else "ipPermissions"]
                         for v in pick(p)]


def _permission_filters() -> dict:
    picks = {
        "protocol": lambda p: [p["ipProtocol"]],
        "from-port": lambda p: [str(p["fromPort"])] if "fromPort" in p else [],
        "to-port": lambda p: [str(p["toPort"])] if "toPort" in p else [],
        "cidr": lambda p: [r["cidrIp"] for r in p["ipRanges"]],
        "ipv6-cidr": lambda p: [r["cidrIpv6"] for r in p["ipv6Ranges"]],
        "prefix-list-id": lambda p: [r["prefixListId"] for r in p["prefixListIds"]],
        "group-id": lambda p: [g["groupId"] for g in p["groups"]],
        "group-name": lambda p: [g["groupName"] for g in p["groups"] if g["groupName"]],
        "user-id": lambda p: [g["userId"] for g in p["groups"]],
    }
    fields = {}
    for name, pick in picks.items():
        fields[f"ip-permission.{name}"] = _permission_field(False, pick)
        fields[f"egress.ip-permission.{name}"] = _permission_field(True, pick)
    return fields


GROUP_FILTERS = {
    "group-name": lambda i: i["groupName"], "group-id": lambda i: i["groupId"],
    "description": lambda i: i["groupDescription"], "vpc-id": lambda i: i["vpcId"],
    "owner-id": lambda i: i["ownerId"], **_permission_filters(),
}


async def _render_groups(ctx: RequestContext, groups) -> list[dict]:
    service = ctx.cloud.security_groups
    rules = await service.rules_of([g["id"] for g in groups])
    by_id = await service.by_id(ctx.account_id)
    tags = await ctx.cloud.tags.of([g["id"] for g in groups])
    return [_group_item(g, rules, by_id, tags[g["id"]]) for g in groups]


async def create_security_group(ctx: RequestContext, req: CreateSecurityGroupRequest) -> dict:
    description = req.description if req.description is not None else req.description_alt
    if description is None:
        raise errors.MissingParameter("The request must contain the parameter GroupDescription")
    check_group_name(req.group_name)
    check_group_description(description)
    tags = tags_for(req.tag_specifications, "security-group")
    row = await ctx.cloud.security_groups.create(ctx.account_id, req.group_name, description,
                                                 req.vpc_id)
    if tags:
        await ctx.cloud.tags.create(ctx.account_id, [row["id"]], tags)
    return {"return": True, "groupId": row["id"], "tagSet": tag_list(dict(tags))}


async def delete_security_group(ctx: RequestContext, req: GroupRequest) -> dict:
    service = ctx.cloud.security_groups
    group = await service.find(ctx.account_id, req.group_name, req.group_id)
    await service.delete(ctx.account_id, group)
    return {"return": True, "groupId": group["id"]}


async def describe_security_groups(ctx: RequestContext,
                                   req: DescribeSecurityGroupsRequest) -> dict:
    groups = await ctx.cloud.security_groups.describe(ctx.account_id, req.group_names,
                                                      req.group_ids)
    items = FilterSet(req.filters, GROUP_FILTERS, tags=lambda i: {
        t["key"]: t["value"] for t in i["tagSet"]}).apply(await _render_groups(ctx, groups))
    chunk, token = page(items, lambda i: i["groupId"], req.max_results, req.next_token)
    return {"securityGroupInfo": chunk, "nextToken": token}


async def _change(ctx: RequestContext, req: PermissionsRequest, egress: bool,
                  authorize: bool) -> dict:
    service = ctx.cloud.security_groups
    group = await service.find(ctx.account_id, req.group_name, req.group_id)
    if authorize:
        tags = tags_for(req.tag_specifications, "security-group-rule")
        rules = await service.authorize(ctx.account_id, group, egress, _permissions(req))
        if tags:
            await ctx.cloud.tags.create(ctx.account_id, [r["id"] for r in rules], tags)
        by_id = await service.by_id(ctx.account_id)
        return {"return": True,
                "securityGroupRuleSet": [rule_item(r, dict(tags), by_id) for r in rules]}
    if req.rule_ids and not req.ip_permissions:
        await service.revoke_ids(ctx.account_id, group, egress, req.rule_ids)
    else:
        await service.revoke(ctx.account_id, group, egress, _permissions(req))
    return {"return": True}


async def authorize_ingress(ctx: RequestContext, req: PermissionsRequest) -> dict:
    return await _change(ctx, req, egress=False, authorize=True)


async def authorize_egress(ctx: RequestContext, req: PermissionsRequest) -> dict:
    return await _change(ctx, req, egress=True, authorize=True)


async def revoke_ingress(ctx: RequestContext, req: PermissionsRequest) -> dict:
    return await _change(ctx, req, egress=False, authorize=False)


async def revoke_egress(ctx: RequestContext, req: PermissionsRequest) -> dict:
    return await _change(ctx, req, egress=True, authorize=False)


async def describe_security_group_rules(ctx: RequestContext,
                                        req: DescribeSecurityGroupRulesRequest) -> dict:
    await ctx.cloud.security_groups.ensure_default(ctx.account_id)
    rules = await ctx.cloud.security_groups.rules_of_account(ctx.account_id)
    if req.rule_ids:
        missing = set(req.rule_ids) - {r["id"] for r in rules}
        if missing:
            raise errors.InvalidSecurityGroupRuleIdNotFound(
                f"The security group rule ID '{sorted(missing)[0]}' does not exist")
        rules = [r for r in rules if r["id"] in req.rule_ids]
    tags = await ctx.cloud.tags.of([r["id"] for r in rules])
    rules = FilterSet(req.filters, {
        "group-id": lambda r: r["group_id"], "security-group-rule-id": lambda r: r["id"],
    }, tags=lambda r: tags[r["id"]]).apply(rules)
    chunk, token = page(rules, lambda r: r["id"], req.max_results, req.next_token)
    by_id = await ctx.cloud.security_groups.by_id(ctx.account_id)
    return {"securityGroupRuleSet": [rule_item(r, tags[r["id"]], by_id) for r in chunk],
            "nextToken": token}
