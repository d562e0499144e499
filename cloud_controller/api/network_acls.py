"""DescribeNetworkAcls: the default VPC's implicit allow-all ACL (EDGE) and, in VPC
mode, the account's own VPCs' ACLs; CreateNetworkAcl, DeleteNetworkAcl,
Create/Replace/DeleteNetworkAclEntry and ReplaceNetworkAclAssociation on those
(docs/vpc.md)."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import TagSpecification, listparam, param
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.vpcs import DescribeNetworkAclsRequest, listing
from cloud_controller.services.network_acls import Entry, NetworkAcl
from mallee import errors

LAST_RULE = 32767  # the `*` entry every list ends with: deny


@dataclass
class CreateNetworkAclRequest:
    vpc_id: str = param("VpcId", required=True)
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    client_token: str = param("ClientToken")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class NetworkAclIdRequest:
    network_acl_id: str = param("NetworkAclId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class WirePortRange:
    port_from: int = param("From")
    port_to: int = param("To")


@dataclass
class WireIcmpTypeCode:
    type: int = param("Type")
    code: int = param("Code")


@dataclass
class NetworkAclEntryRequest:
    network_acl_id: str = param("NetworkAclId", required=True)
    rule_number: int = param("RuleNumber", required=True)
    egress: bool = param("Egress", required=True)
    protocol: str = param("Protocol")
    rule_action: str = param("RuleAction")
    cidr_block: str = param("CidrBlock")
    ipv6_cidr_block: str = param("Ipv6CidrBlock")
    port_range: WirePortRange = param("PortRange")
    icmp: WireIcmpTypeCode = param("Icmp")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ReplaceNetworkAclAssociationRequest:
    association_id: str = param("AssociationId", required=True)
    network_acl_id: str = param("NetworkAclId", required=True)
    dry_run: bool = param("DryRun", default=False)


def _entry_items(egress_and_rows) -> list[dict]:
    items = []
    for row in egress_and_rows:
        item = {"ruleNumber": row["rule_number"], "protocol": row["protocol"],
                "ruleAction": row["rule_action"], "egress": bool(row["egress"]),
                "cidrBlock": row["cidr"]}
        if row.get("from_port") is not None:
            item["portRange"] = {"from": row["from_port"], "to": row["to_port"]}
        if row.get("icmp_type") is not None:
            item["icmpTypeCode"] = {"type": row["icmp_type"], "code": row["icmp_code"]}
        items.append(item)
    return items


def _with_last(rows) -> list[dict]:
    """An ACL's entries, each direction ending with the `*` deny, as EC2 lists them."""
    rows = [dict(r) for r in rows]
    rows += [{"rule_number": LAST_RULE, "protocol": "-1", "rule_action": "deny",
              "egress": egress, "cidr": "0.0.0.0/0"} for egress in (1, 0)]
    return _entry_items(sorted(rows, key=lambda r: (-r["egress"], r["rule_number"])))


def _default_vpc_item(ctx: RequestContext) -> dict:
    vpcs = ctx.cloud.vpcs
    parts = vpcs.parts(ctx.account_id)
    allow_all = [{"rule_number": 100, "protocol": "-1", "rule_action": "allow",
                  "egress": egress, "cidr": "0.0.0.0/0"} for egress in (1, 0)]
    return {"networkAclId": parts.network_acl_id, "vpcId": parts.vpc_id, "default": True,
            "ownerId": ctx.account_id, "entrySet": _with_last(allow_all),
            "associationSet": [{"networkAclAssociationId": parts.acl_association_id(s.id),
                                "networkAclId": parts.network_acl_id, "subnetId": s.id}
                               for s in vpcs.subnets(ctx.account_id)],
            "tagSet": []}


def _own_item(acl: NetworkAcl, tags: dict[str, str]) -> dict:
    return {"networkAclId": acl.row["id"], "vpcId": acl.row["vpc_id"],
            "default": bool(acl.row["is_default"]), "ownerId": acl.row["account_id"],
            "entrySet": _with_last(acl.entries),
            "associationSet": [{"networkAclAssociationId": a["id"],
                                "networkAclId": acl.row["id"], "subnetId": a["subnet_id"]}
                               for a in acl.associations],
            "tagSet": tag_list(tags)}


def _entries(field):
    return lambda a: [e[field] for e in a["entrySet"]]


ACL_FILTERS = {
    "network-acl-id": lambda a: a["networkAclId"], "vpc-id": lambda a: a["vpcId"],
    "default": lambda a: a["default"], "owner-id": lambda a: a["ownerId"],
    "association.subnet-id": lambda a: [x["subnetId"] for x in a["associationSet"]],
    "association.network-acl-id": lambda a: [x["networkAclId"] for x in a["associationSet"]],
    "association.association-id": lambda a: [
        x["networkAclAssociationId"] for x in a["associationSet"]],
    "entry.cidr": _entries("cidrBlock"), "entry.egress": _entries("egress"),
    "entry.protocol": _entries("protocol"), "entry.rule-action": _entries("ruleAction"),
    "entry.rule-number": _entries("ruleNumber"),
}


async def describe_network_acls(ctx: RequestContext, req: DescribeNetworkAclsRequest) -> dict:
    items = []  # vpc mode: the default VPC's ACL is a row of its own (real)
    if not ctx.cloud.vpcs.vpc_mode:
        items.append(_default_vpc_item(ctx))
    else:
        own = await ctx.cloud.network_acls.list(ctx.account_id)
        tags = await ctx.cloud.tags.of([a.row["id"] for a in own])
        items += [_own_item(a, tags[a.row["id"]]) for a in own]
    known = {i["networkAclId"] for i in items}
    for asked in req.ids:
        if asked not in known:
            raise errors.InvalidNetworkAclIDNotFound(
                f"The network ACL ID '{asked}' does not exist")
    if req.ids:
        items = [i for i in items if i["networkAclId"] in req.ids]
    return listing(items, req, ACL_FILTERS, "networkAclSet", "networkAclId")


async def create_network_acl(ctx: RequestContext, req: CreateNetworkAclRequest) -> dict:
    tags = tags_for(req.tag_specifications, "network-acl")
    acl = await ctx.cloud.network_acls.create(ctx.account_id, req.vpc_id, tags)
    return {"networkAcl": _own_item(acl, dict(tags)), "clientToken": req.client_token}


async def delete_network_acl(ctx: RequestContext, req: NetworkAclIdRequest) -> dict:
    await ctx.cloud.network_acls.delete(ctx.account_id, req.network_acl_id)
    return {"return": True}


def _entry(req: NetworkAclEntryRequest) -> Entry:
    ports, icmp = req.port_range, req.icmp
    return Entry(req.rule_number, req.egress, req.protocol, req.rule_action, req.cidr_block,
                 req.ipv6_cidr_block, ports.port_from if ports else None,
                 ports.port_to if ports else None, icmp.type if icmp else None,
                 icmp.code if icmp else None)


async def create_network_acl_entry(ctx: RequestContext, req: NetworkAclEntryRequest) -> dict:
    await ctx.cloud.network_acls.put_entry(ctx.account_id, req.network_acl_id, _entry(req),
                                           replace=False)
    return {"return": True}


async def replace_network_acl_entry(ctx: RequestContext, req: NetworkAclEntryRequest) -> dict:
    await ctx.cloud.network_acls.put_entry(ctx.account_id, req.network_acl_id, _entry(req),
                                           replace=True)
    return {"return": True}


async def delete_network_acl_entry(ctx: RequestContext, req: NetworkAclEntryRequest) -> dict:
    await ctx.cloud.network_acls.delete_entry(ctx.account_id, req.network_acl_id, req.egress,
                                              req.rule_number)
    return {"return": True}


async def replace_network_acl_association(ctx: RequestContext,
                                          req: ReplaceNetworkAclAssociationRequest) -> dict:
    new_id = await ctx.cloud.network_acls.replace_association(
        ctx.account_id, req.association_id, req.network_acl_id)
    return {"newAssociationId": new_id}
