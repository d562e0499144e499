"""AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress,
DescribeAddresses: elastic IPs from the clusters' public pools."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from mallee import errors


@dataclass
class AllocateAddressRequest:
    domain: str = param("Domain")
    address: str = param("Address")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "CustomerOwnedIpv4Pool", "IpamPoolId", "NetworkBorderGroup", "PublicIpv4Pool",
    )


@dataclass
class AssociateAddressRequest:
    allocation_id: str = param("AllocationId")
    public_ip: str = param("PublicIp")
    instance_id: str = param("InstanceId")
    network_interface_id: str = param("NetworkInterfaceId")
    private_ip: str = param("PrivateIpAddress")
    allow_reassociation: bool = param("AllowReassociation")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DisassociateAddressRequest:
    association_id: str = param("AssociationId")
    public_ip: str = param("PublicIp")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ReleaseAddressRequest:
    allocation_id: str = param("AllocationId")
    public_ip: str = param("PublicIp")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("NetworkBorderGroup",)


@dataclass
class DescribeAddressesRequest:
    public_ips: list[str] = listparam("PublicIp")
    allocation_ids: list[str] = listparam("AllocationId")
    filters: list[Filter] = listparam("Filter")
    dry_run: bool = param("DryRun", default=False)


def address_item(ctx: RequestContext, row, tags: dict[str, str]) -> dict:
    associated = row["instance_id"] is not None
    return {"publicIp": row["public_ip"], "allocationId": row["id"], "domain": row["domain"],
            "instanceId": row["instance_id"], "associationId": row["association_id"],
            "networkInterfaceId": row["eni_id"] if associated else None,
            "networkInterfaceOwnerId": row["account_id"] if associated else None,
            "privateIpAddress": row["private_ip"] if associated else None,
            "publicIpv4Pool": "mallee", "networkBorderGroup": ctx.cloud.settings.cloud.region,
            "tagSet": tag_list(tags)}


ADDRESS_FILTERS = {
    "public-ip": lambda i: i["publicIp"], "allocation-id": lambda i: i["allocationId"],
    "association-id": lambda i: i["associationId"], "instance-id": lambda i: i["instanceId"],
    "domain": lambda i: i["domain"], "private-ip-address": lambda i: i["privateIpAddress"],
    "network-interface-id": lambda i: i["networkInterfaceId"],
    "network-interface-owner-id": lambda i: i["networkInterfaceOwnerId"],
    "network-border-group": lambda i: i["networkBorderGroup"],
    "public-ipv4-pool": lambda i: i["publicIpv4Pool"],
}


async def allocate_address(ctx: RequestContext, req: AllocateAddressRequest) -> dict:
    tags = tags_for(req.tag_specifications, "elastic-ip")
    row = await ctx.cloud.addresses.allocate(ctx.account_id, req.domain, req.address)
    if tags:
        await ctx.cloud.tags.create(ctx.account_id, [row["id"]], tags)
    return {"publicIp": row["public_ip"], "allocationId": row["id"], "domain": row["domain"],
            "publicIpv4Pool": "mallee", "networkBorderGroup": ctx.cloud.settings.cloud.region}


async def associate_address(ctx: RequestContext, req: AssociateAddressRequest) -> dict:
    service = ctx.cloud.addresses
    address = await service.find(ctx.account_id, req.allocation_id, req.public_ip)
    instance = await ctx.cloud.instances.attached_to(ctx.account_id, req.instance_id,
                                                     req.network_interface_id)
    association_id = await service.associate(
        ctx.account_id, address, instance,
        req.allow_reassociation if address["domain"] == "vpc" else True, req.private_ip,
        req.network_interface_id)
    return {"return": True, "associationId": association_id}


async def disassociate_address(ctx: RequestContext, req: DisassociateAddressRequest) -> dict:
    await ctx.cloud.addresses.disassociate(ctx.account_id, req.association_id, req.public_ip)
    return {"return": True}


async def release_address(ctx: RequestContext, req: ReleaseAddressRequest) -> dict:
    service = ctx.cloud.addresses
    address = await service.find(ctx.account_id, req.allocation_id, req.public_ip)
    await service.release(ctx.account_id, address)
    return {"return": True}


async def describe_addresses(ctx: RequestContext, req: DescribeAddressesRequest) -> dict:
    rows = await ctx.cloud.addresses.describe(ctx.account_id, req.public_ips,
                                              req.allocation_ids)
    tags = await ctx.cloud.tags.of([r["id"] for r in rows])
    items = [address_item(ctx, r, tags[r["id"]]) for r in rows]
    items = FilterSet(req.filters, ADDRESS_FILTERS, tags=lambda i: {
        t["key"]: t["value"] for t in i["tagSet"]}).apply(items)
    return {"addressesSet": items}


@dataclass
class DescribeAddressesAttributeRequest:
    allocation_ids: list[str] = listparam("AllocationId")
    attribute: str = param("Attribute")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


async def describe_addresses_attribute(ctx: RequestContext,
                                       req: DescribeAddressesAttributeRequest) -> dict:
    """domain-name, the one attribute: no address here has a reverse DNS (PTR) record
    set (ModifyAddressAttribute is not offered), so each is listed without ptrRecord."""
    if req.attribute not in (None, "domain-name"):  # botocore's model: optional
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid. Expecting "
            f"'domain-name'.")
    rows = await ctx.cloud.addresses.describe(ctx.account_id, [], req.allocation_ids)
    items = [{"publicIp": r["public_ip"], "allocationId": r["id"]} for r in rows]
    chunk, token = page(items, lambda i: i["allocationId"], req.max_results, req.next_token)
    return {"addressSet": chunk, "nextToken": token}
