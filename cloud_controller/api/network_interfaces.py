"""DescribeNetworkInterfaces and DescribeNetworkInterfaceAttribute: each
instance's primary interface (an `eni-` stored with the instance) as a read
model, the same one DescribeInstances shows in NetworkInterfaces.
Creating and attaching interfaces comes with VPC."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from cloud_controller.api.query import Filter, listparam, param
from cloud_controller.api.tagging import tag_list
from cloud_controller.services.vpcs import default_subnet_id, default_vpc_id
from mallee import errors
from mallee.netnames import private_dns_name, public_dns_name
from mallee.xmlwrite import iso8601


@dataclass
class DescribeNetworkInterfacesRequest:
    ids: list[str] = listparam("NetworkInterfaceId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("IncludeManagedResources",)


@dataclass
class DescribeNetworkInterfaceAttributeRequest:
    network_interface_id: str = param("NetworkInterfaceId", required=True)
    attribute: str = param("Attribute")
    dry_run: bool = param("DryRun", default=False)


def interface_item(row, groups: list[dict], region: str, address=None,
                   source_dest_check: bool = True) -> dict:
    """An instance's primary interface as EC2's InstanceNetworkInterface (`groups` as
    groupSet items; `address`: the elastic address associated with it, if any;
    `source_dest_check`: its instance's attribute)."""
    private_dns = private_dns_name(row["private_ip"], region) or None
    association = None
    if row["public_ip"]:
        association = {"publicIp": row["public_ip"], "ipOwnerId": row["account_id"],
                       "publicDnsName": public_dns_name(row["public_ip"], region)}
        if address is not None:
            association.update(allocationId=address["id"],
                               associationId=address["association_id"])
    eni = row["eni_id"]
    return {
        "networkInterfaceId": eni,
        "subnetId": row["subnet_id"] or default_subnet_id(row["account_id"], row["zone"]),
        "vpcId": row["vpc_id"] or default_vpc_id(row["account_id"]), "description": "",
        "ownerId": row["account_id"], "status": "in-use", "macAddress": row["mac"],
        "privateIpAddress": row["private_ip"], "privateDnsName": private_dns,
        "sourceDestCheck": source_dest_check, "groupSet": groups, "interfaceType": "interface",
        "attachment": {"attachmentId": "eni-attach-" + eni[4:], "deviceIndex": 0,
                       "status": "attached", "attachTime": iso8601(row["launched_at"]),
                       "deleteOnTermination": True, "networkCardIndex": 0},
        "association": association,
        "privateIpAddressesSet": [{"privateIpAddress": row["private_ip"],
                                   "privateDnsName": private_dns, "primary": True,
                                   "association": association}] if row["private_ip"] else [],
        "ipv6AddressesSet": [],
    }


def network_interface(row, groups: list[dict], region: str, tags: dict[str, str],
                      address=None, source_dest_check: bool = True) -> dict:
    """The same interface as DescribeNetworkInterfaces' NetworkInterface."""
    item = interface_item(row, groups, region, address, source_dest_check)
    item["attachment"].update(instanceId=row["id"], instanceOwnerId=row["account_id"])
    item.update(availabilityZone=row["zone"], availabilityZoneId=row["zone"],
                requesterManaged=False, tagSet=tag_list(tags), ipv4PrefixSet=[],
                ipv6PrefixSet=[], denyAllIgwTraffic=False)
    return item


def _each(field):
    return lambda i: [a[field] for a in i["privateIpAddressesSet"]]


def _association(field):
    return lambda i: (i["association"] or {}).get(field)


INTERFACE_FILTERS = {
    "network-interface-id": lambda i: i["networkInterfaceId"],
    "group-id": lambda i: [g["groupId"] for g in i["groupSet"]],
    "group-name": lambda i: [g["groupName"] for g in i["groupSet"]],
    "vpc-id": lambda i: i["vpcId"], "subnet-id": lambda i: i["subnetId"],
    "availability-zone": lambda i: i["availabilityZone"],
    "attachment.instance-id": lambda i: i["attachment"]["instanceId"],
    "attachment.instance-owner-id": lambda i: i["attachment"]["instanceOwnerId"],
    "attachment.attachment-id": lambda i: i["attachment"]["attachmentId"],
    "attachment.device-index": lambda i: str(i["attachment"]["deviceIndex"]),
    "attachment.status": lambda i: i["attachment"]["status"],
    "attachment.delete-on-termination": lambda i: i["attachment"]["deleteOnTermination"],
    "private-ip-address": lambda i: i["privateIpAddress"],
    "addresses.private-ip-address": _each("privateIpAddress"),
    "addresses.primary": _each("primary"),
    "private-dns-name": lambda i: i["privateDnsName"],
    "association.public-ip": _association("publicIp"),
    "association.allocation-id": _association("allocationId"),
    "association.association-id": _association("associationId"),
    "association.ip-owner-id": _association("ipOwnerId"),
    "addresses.association.public-ip": _association("publicIp"),
    "description": lambda i: i["description"], "status": lambda i: i["status"],
    "mac-address": lambda i: i["macAddress"], "owner-id": lambda i: i["ownerId"],
    "interface-type": lambda i: i["interfaceType"],
    "requester-managed": lambda i: i["requesterManaged"],
    "source-dest-check": lambda i: i["sourceDestCheck"],
}


async def _interfaces(ctx: RequestContext) -> list[dict]:
    rows = await ctx.cloud.instances.interfaces(ctx.account_id)
    groups = await ctx.cloud.instances.groups_of([r["id"] for r in rows])
    tags = await ctx.cloud.tags.of([r["eni_id"] for r in rows])
    addresses = {a["instance_id"]: a for a in
                 await ctx.cloud.addresses.describe(ctx.account_id, [], [])
                 if a["instance_id"]}
    attributes = await ctx.cloud.instance_attributes.of([r["id"] for r in rows])
    region = ctx.cloud.settings.cloud.region
    return [network_interface(r, [{"groupId": g["id"], "groupName": g["name"]}
                                  for g in groups[r["id"]]], region, tags[r["eni_id"]],
                              addresses.get(r["id"]),
                              attributes[r["id"]]["source_dest_check"])
            for r in rows]


def _check_ids(asked: list[str], items: list[dict]) -> None:
    known = {i["networkInterfaceId"] for i in items}
    missing = [i for i in asked if i not in known]
    if missing:
        raise errors.InvalidNetworkInterfaceIDNotFound(
            f"The networkInterface ID '{missing[0]}' does not exist")


async def describe_network_interfaces(ctx: RequestContext,
                                      req: DescribeNetworkInterfacesRequest) -> dict:
    items = await _interfaces(ctx)
    _check_ids(req.ids, items)
    if req.ids:
        items = [i for i in items if i["networkInterfaceId"] in req.ids]
    items = FilterSet(req.filters, INTERFACE_FILTERS, tags=lambda i: {
        t["key"]: t["value"] for t in i["tagSet"]}).apply(items)
    chunk, token = page(items, lambda i: i["networkInterfaceId"], req.max_results,
                        req.next_token)
    return {"networkInterfaceSet": chunk, "nextToken": token}


ATTRIBUTES = {  # EC2's NetworkInterfaceAttribute -> the response member and its value
    "description": lambda i: {"description": {"value": i["description"]}},
    "groupSet": lambda i: {"groupSet": i["groupSet"]},
    "sourceDestCheck": lambda i: {"sourceDestCheck": {"value": i["sourceDestCheck"]}},
    "attachment": lambda i: {"attachment": i["attachment"]},
    "associatePublicIpAddress": lambda i: {
        "associatePublicIpAddress": i["association"] is not None},
}


async def describe_network_interface_attribute(
        ctx: RequestContext, req: DescribeNetworkInterfaceAttributeRequest) -> dict:
    items = await _interfaces(ctx)
    _check_ids([req.network_interface_id], items)
    item = next(i for i in items if i["networkInterfaceId"] == req.network_interface_id)
    if req.attribute is None:
        raise errors.MissingParameter("The request must contain the parameter Attribute")
    if req.attribute not in ATTRIBUTES:
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid. Unknown attribute.")
    return {"networkInterfaceId": item["networkInterfaceId"], **ATTRIBUTES[req.attribute](item)}
