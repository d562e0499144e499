"""Network interfaces: DescribeNetworkInterfaces and
DescribeNetworkInterfaceAttribute in either mode (an EDGE instance's one
interface, read from its instance), and in vpc mode the interfaces of own
subnets (services/network_interfaces.py): CreateNetworkInterface,
DeleteNetworkInterface, Attach/DetachNetworkInterface,
ModifyNetworkInterfaceAttribute, Assign/UnassignPrivateIpAddresses.
DescribeInstances shows the same items in its NetworkInterfaces."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from cloud_controller.api.query import (BooleanValue, Filter, AttributeValue,
                                        TagSpecification, listparam, param)
from cloud_controller.api.tagging import tag_list, tags_by_type
from cloud_controller.services.network_interfaces import NicSpec
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


@dataclass
class PrivateIpAddressSpecification:
    primary: bool = param("Primary", default=False)
    private_ip: str = param("PrivateIpAddress")


@dataclass
class CreateNetworkInterfaceRequest:
    subnet_id: str = param("SubnetId", required=True)
    description: str = param("Description")
    private_ip: str = param("PrivateIpAddress")
    group_ids: list[str] = listparam("SecurityGroupId")
    private_ips: list[PrivateIpAddressSpecification] = listparam("PrivateIpAddresses")
    secondary_count: int = param("SecondaryPrivateIpAddressCount")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    client_token: str = param("ClientToken")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = (
        "Ipv4Prefix", "Ipv4PrefixCount", "Ipv6Prefix", "Ipv6PrefixCount", "InterfaceType",
        "EnablePrimaryIpv6", "ConnectionTrackingSpecification", "Operator", "Ipv6Addresses",
        "Ipv6AddressCount")


@dataclass
class NetworkInterfaceIdRequest:
    network_interface_id: str = param("NetworkInterfaceId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class AttachNetworkInterfaceRequest:
    network_interface_id: str = param("NetworkInterfaceId", required=True)
    instance_id: str = param("InstanceId", required=True)
    device_index: int = param("DeviceIndex", required=True)
    network_card_index: int = param("NetworkCardIndex")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("EnaSrdSpecification", "EnaQueueCount")


@dataclass
class DetachNetworkInterfaceRequest:
    attachment_id: str = param("AttachmentId", required=True)
    force: bool = param("Force", default=False)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class AttachmentChanges:
    attachment_id: str = param("AttachmentId")
    delete_on_termination: bool = param("DeleteOnTermination")
    IGNORED: ClassVar[tuple[str, ...]] = ("DefaultEnaQueueCount", "EnaQueueCount")


@dataclass
class ModifyNetworkInterfaceAttributeRequest:
    network_interface_id: str = param("NetworkInterfaceId", required=True)
    description: AttributeValue = param("Description")
    source_dest_check: BooleanValue = param("SourceDestCheck")
    group_ids: list[str] = listparam("SecurityGroupId")
    attachment: AttachmentChanges = param("Attachment")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = (
        "EnaSrdSpecification", "EnablePrimaryIpv6", "ConnectionTrackingSpecification",
        "AssociatePublicIpAddress", "AssociatedSubnetId")


@dataclass
class AssignPrivateIpAddressesRequest:
    network_interface_id: str = param("NetworkInterfaceId", required=True)
    private_ips: list[str] = listparam("PrivateIpAddress")
    secondary_count: int = param("SecondaryPrivateIpAddressCount")
    allow_reassignment: bool = param("AllowReassignment", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("Ipv4Prefix", "Ipv4PrefixCount")


@dataclass
class UnassignPrivateIpAddressesRequest:
    network_interface_id: str = param("NetworkInterfaceId", required=True)
    private_ips: list[str] = listparam("PrivateIpAddress")
    IGNORED: ClassVar[tuple[str, ...]] = ("Ipv4Prefix",)


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


def _associated(field):
    return lambda i: (i["association"] or {}).get(field)


def _attached(field):
    return lambda i: (i["attachment"] or {}).get(field)


INTERFACE_FILTERS = {
    "network-interface-id": lambda i: i["networkInterfaceId"],
    "group-id": lambda i: [g["groupId"] for g in i["groupSet"]],
    "group-name": lambda i: [g["groupName"] for g in i["groupSet"]],
    "vpc-id": lambda i: i["vpcId"], "subnet-id": lambda i: i["subnetId"],
    "availability-zone": lambda i: i["availabilityZone"],
    "attachment.instance-id": _attached("instanceId"),
    "attachment.instance-owner-id": _attached("instanceOwnerId"),
    "attachment.attachment-id": _attached("attachmentId"),
    "attachment.device-index": lambda i: str(i["attachment"]["deviceIndex"])
    if i["attachment"] else None,
    "attachment.status": _attached("status"),
    "attachment.delete-on-termination": _attached("deleteOnTermination"),
    "private-ip-address": lambda i: i["privateIpAddress"],
    "addresses.private-ip-address": _each("privateIpAddress"),
    "addresses.primary": _each("primary"),
    "private-dns-name": lambda i: i["privateDnsName"],
    "association.public-ip": _associated("publicIp"),
    "association.allocation-id": _associated("allocationId"),
    "association.association-id": _associated("associationId"),
    "association.ip-owner-id": _associated("ipOwnerId"),
    "addresses.association.public-ip": _associated("publicIp"),
    "description": lambda i: i["description"], "status": lambda i: i["status"],
    "mac-address": lambda i: i["macAddress"], "owner-id": lambda i: i["ownerId"],
    "interface-type": lambda i: i["interfaceType"],
    "requester-managed": lambda i: i["requesterManaged"],
    "source-dest-check": lambda i: i["sourceDestCheck"],
}


def vpc_interface_item(row, addresses: list, groups: list[dict], region: str,
                       mapped: dict | None = None, source_dest_check: bool | None = None
                       ) -> dict:
    """An interface of an own subnet (services/network_interfaces.py) as EC2's
    InstanceNetworkInterface; `mapped`: {(eni id, private address): the elastic IP's
    association}; `source_dest_check`: its instance's attribute (a primary interface)."""
    primary = addresses[0]["private_ip"] if addresses else None
    mapped = mapped or {}
    association = mapped.get((row["id"], primary))
    attachment = None
    if row["instance_id"]:
        attachment = {"attachmentId": row["attachment_id"], "deviceIndex": row["device_index"],
                      "status": "attached", "attachTime": iso8601(row["attached_at"]),
                      "deleteOnTermination": bool(row["delete_on_termination"]),
                      "networkCardIndex": 0}
    return {
        "networkInterfaceId": row["id"], "subnetId": row["subnet_id"], "vpcId": row["vpc_id"],
        "description": row["description"], "ownerId": row["account_id"],
        "status": "in-use" if row["instance_id"] else "available",
        "macAddress": row["mac"], "privateIpAddress": primary,
        "privateDnsName": private_dns_name(primary, region) or None,
        "sourceDestCheck": bool(row["source_dest_check"]) if source_dest_check is None
        else source_dest_check,
        "groupSet": groups, "interfaceType": "interface", "attachment": attachment,
        "association": association,
        "privateIpAddressesSet": [
            {"privateIpAddress": a["private_ip"],
             "privateDnsName": private_dns_name(a["private_ip"], region) or None,
             "primary": bool(a["is_primary"]),
             "association": mapped.get((row["id"], a["private_ip"]))} for a in addresses],
        "ipv6AddressesSet": [],
    }


async def _mapped(ctx: RequestContext) -> dict:
    """{(eni id, private address): its elastic IP's association} of the account; a
    public address at launch is owned by the cloud ("amazon" in EC2), with no ids."""
    region = ctx.cloud.settings.cloud.region
    out = {(a["eni_id"], a["private_ip"]): {
        "publicIp": a["public_ip"], "ipOwnerId": "amazon",
        "publicDnsName": public_dns_name(a["public_ip"], region)}
        for a in await ctx.cloud.addresses.at_launch_of(ctx.account_id) if a["eni_id"]}
    return out | {(a["eni_id"], a["private_ip"]): {
        "publicIp": a["public_ip"], "ipOwnerId": a["account_id"],
        "publicDnsName": public_dns_name(a["public_ip"], region), "allocationId": a["id"],
        "associationId": a["association_id"]}
        for a in await ctx.cloud.addresses.describe(ctx.account_id, [], [])
        if a["instance_id"] and a["eni_id"]}


async def vpc_interfaces(ctx: RequestContext, instances: list) -> dict[str, list[dict]]:
    """{instance id: its interfaces' items, in device-index order} of instances in own
    subnets (DescribeInstances' networkInterfaceSet)."""
    own = [r for r in instances if r["subnet_id"] and r["state"] != "terminated"]
    if not own:
        return {}
    service = ctx.cloud.network_interfaces
    attached = await service.of_instances([r["id"] for r in own])
    eni_ids = [n["id"] for rows in attached.values() for n in rows]
    addresses = await service.addresses_of(eni_ids)
    groups = await service.groups_of(eni_ids)
    attributes = await ctx.cloud.instance_attributes.of([r["id"] for r in own])
    region = ctx.cloud.settings.cloud.region
    mapped = await _mapped(ctx)
    out = {}
    for row in own:
        out[row["id"]] = [vpc_interface_item(
            n, addresses[n["id"]], _groups(groups[n["id"]]), region, mapped,
            attributes[row["id"]]["source_dest_check"] if n["device_index"] == 0 else None)
            for n in attached[row["id"]]]
    return out


def _groups(rows: list[dict]) -> list[dict]:
    return [{"groupId": g["id"], "groupName": g["name"]} for g in rows]


async def _interfaces(ctx: RequestContext) -> list[dict]:
    rows = await ctx.cloud.instances.interfaces(ctx.account_id)
    edge = [r for r in rows if not r["subnet_id"]]
    groups = await ctx.cloud.instances.groups_of([r["id"] for r in edge])
    addresses = {a["instance_id"]: a for a in
                 await ctx.cloud.addresses.describe(ctx.account_id, [], [])
                 if a["instance_id"]}
    attributes = await ctx.cloud.instance_attributes.of([r["id"] for r in rows])
    region = ctx.cloud.settings.cloud.region
    items = [network_interface(r, _groups(groups[r["id"]]), region, {},
                               addresses.get(r["id"]),
                               attributes[r["id"]]["source_dest_check"])
             for r in edge]
    service = ctx.cloud.network_interfaces
    if ctx.cloud.vpcs.vpc_mode and service is not None:
        own = await service.describe(ctx.account_id)
        eni_ids = [n["id"] for n in own]
        own_addresses = await service.addresses_of(eni_ids)
        own_groups = await service.groups_of(eni_ids)
        by_id = {r["id"]: r for r in rows}
        mapped = await _mapped(ctx)
        for n in own:
            instance = by_id.get(n["instance_id"]) if n["device_index"] == 0 else None
            item = vpc_interface_item(
                n, own_addresses[n["id"]], _groups(own_groups[n["id"]]), region, mapped,
                attributes[instance["id"]]["source_dest_check"] if instance is not None
                else None)
            if item["attachment"] is not None:
                item["attachment"].update(instanceId=n["instance_id"],
                                          instanceOwnerId=n["account_id"])
            item.update(availabilityZone=n["zone"], availabilityZoneId=n["zone"],
                        requesterManaged=False, tagSet=[], ipv4PrefixSet=[],
                        ipv6PrefixSet=[], denyAllIgwTraffic=False)
            items.append(item)
    tags = await ctx.cloud.tags.of([i["networkInterfaceId"] for i in items])
    for item in items:
        item["tagSet"] = tag_list(tags[item["networkInterfaceId"]])
    return items


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


# ---- vpc mode: interfaces of own subnets ----

def _service(ctx: RequestContext):
    return ctx.cloud.network_interfaces


async def _item(ctx: RequestContext, eni_id: str) -> dict:
    items = await _interfaces(ctx)
    _check_ids([eni_id], items)
    return next(i for i in items if i["networkInterfaceId"] == eni_id)


async def create_network_interface(ctx: RequestContext,
                                   req: CreateNetworkInterfaceRequest) -> dict:
    tags = tags_by_type(req.tag_specifications, ("network-interface",))
    row = await _service(ctx).create(ctx.account_id, NicSpec(
        subnet_id=req.subnet_id, private_ip=req.private_ip, group_ids=req.group_ids,
        private_ips=[(p.private_ip, p.primary) for p in req.private_ips if p.private_ip],
        secondary_count=req.secondary_count, description=req.description),
        tags["network-interface"])
    return {"networkInterface": await _item(ctx, row["id"]), "clientToken": req.client_token}


async def delete_network_interface(ctx: RequestContext, req: NetworkInterfaceIdRequest) -> dict:
    await _service(ctx).delete(ctx.account_id, req.network_interface_id)
    return {"return": True}


async def attach_network_interface(ctx: RequestContext,
                                   req: AttachNetworkInterfaceRequest) -> dict:
    if req.network_card_index not in (None, 0):
        raise errors.InvalidParameterValue(
            f"Value ({req.network_card_index}) for parameter networkCardIndex is invalid. "
            "Instances here have one network card (index 0).")
    attachment_id = await _service(ctx).attach(ctx.account_id, req.network_interface_id,
                                               req.instance_id, req.device_index)
    return {"attachmentId": attachment_id, "networkCardIndex": 0}


async def detach_network_interface(ctx: RequestContext,
                                   req: DetachNetworkInterfaceRequest) -> dict:
    await _service(ctx).detach(ctx.account_id, req.attachment_id, req.force)
    return {"return": True}


async def modify_network_interface_attribute(
        ctx: RequestContext, req: ModifyNetworkInterfaceAttributeRequest) -> dict:
    service = _service(ctx)
    check = req.source_dest_check.value if req.source_dest_check else None
    row = await service.find(ctx.account_id, req.network_interface_id)
    if check is not None and row["device_index"] == 0 and row["instance_id"] and \
            not (req.description or req.group_ids or req.attachment):
        # a primary interface's is its instance's attribute (DescribeInstances shows it)
        await ctx.cloud.instance_attributes.modify(ctx.account_id, row["instance_id"],
                                                   "sourceDestCheck", check)
        return {"return": True}
    attachment = None
    if req.attachment is not None:
        if not req.attachment.attachment_id or req.attachment.delete_on_termination is None:
            raise errors.MissingParameter(
                "The request must contain the parameters attachment.attachmentId and "
                "attachment.deleteOnTermination")
        attachment = (req.attachment.attachment_id, req.attachment.delete_on_termination)
    await service.modify(
        ctx.account_id, req.network_interface_id,
        description=req.description.value if req.description else None,
        group_ids=req.group_ids or None, source_dest_check=check, attachment=attachment)
    return {"return": True}


async def assign_private_ip_addresses(ctx: RequestContext,
                                      req: AssignPrivateIpAddressesRequest) -> dict:
    new = await _service(ctx).assign(ctx.account_id, req.network_interface_id,
                                     req.private_ips, req.secondary_count,
                                     req.allow_reassignment)
    return {"networkInterfaceId": req.network_interface_id,
            "assignedPrivateIpAddressesSet": [{"privateIpAddress": a} for a in new]}


async def unassign_private_ip_addresses(ctx: RequestContext,
                                        req: UnassignPrivateIpAddressesRequest) -> dict:
    await _service(ctx).unassign(ctx.account_id, req.network_interface_id, req.private_ips)
    return {"return": True}
