"""DescribeVpcs and DescribeSubnets: each account's default VPC and its
default subnet per zone (the EDGE network, as tools expect to find it); in
VPC mode also CreateVpc, DeleteVpc, CreateSubnet, DeleteSubnet and
ModifySubnetAttribute on the account's own VPCs (docs/vpc.md)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, make_dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.services.vpc_attributes import primary_association_id
from cloud_controller.services.vpcs import Subnet, available_addresses, default_vpc_id
from mallee import errors
from cloud_controller.api.query import BooleanValue, Filter, TagSpecification, listparam, param


@dataclass
class DescribeVpcsRequest:
    vpc_ids: list[str] = listparam("VpcId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeSubnetsRequest:
    subnet_ids: list[str] = listparam("SubnetId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


def _tags(item) -> dict[str, str]:
    return {t["key"]: t["value"] for t in item["tagSet"]}


VPC_FILTERS = {
    "vpc-id": lambda v: v["vpcId"], "is-default": lambda v: v["isDefault"],
    "isDefault": lambda v: v["isDefault"],
    "cidr": lambda v: v["cidrBlock"], "cidr-block": lambda v: v["cidrBlock"],
    "cidrBlock": lambda v: v["cidrBlock"],
    "cidr-block-association.cidr-block": lambda v: [
        a["cidrBlock"] for a in v["cidrBlockAssociationSet"]],
    "cidr-block-association.association-id": lambda v: [
        a["associationId"] for a in v["cidrBlockAssociationSet"]],
    "cidr-block-association.state": lambda v: [
        a["cidrBlockState"]["state"] for a in v["cidrBlockAssociationSet"]],
    "state": lambda v: v["state"], "owner-id": lambda v: v["ownerId"],
    "dhcp-options-id": lambda v: v["dhcpOptionsId"],
}

SUBNET_FILTERS = {
    "subnet-id": lambda s: s["subnetId"], "vpc-id": lambda s: s["vpcId"],
    "availability-zone": lambda s: s["availabilityZone"],
    "availabilityZone": lambda s: s["availabilityZone"],
    "availability-zone-id": lambda s: s["availabilityZoneId"],
    "default-for-az": lambda s: s["defaultForAz"], "defaultForAz": lambda s: s["defaultForAz"],
    "cidr": lambda s: s["cidrBlock"], "cidr-block": lambda s: s["cidrBlock"],
    "cidrBlock": lambda s: s["cidrBlock"], "state": lambda s: s["state"],
    "owner-id": lambda s: s["ownerId"],
    "map-public-ip-on-launch": lambda s: s["mapPublicIpOnLaunch"],
}


def cidr_association(association_id: str, cidr: str, state: str = "associated") -> dict:
    return {"associationId": association_id, "cidrBlock": cidr,
            "cidrBlockState": {"state": state}}


def _vpc_item(ctx: RequestContext, vpc_id: str, cidr: str, is_default: bool,
              tags: dict[str, str], blocks=(), dhcp_options_id: str | None = None) -> dict:
    """blocks: the VPC's secondary CIDR blocks (rows: id, cidr)."""
    return {"vpcId": vpc_id, "state": "available", "cidrBlock": cidr,
            "dhcpOptionsId": dhcp_options_id or
            ctx.cloud.vpcs.parts(ctx.account_id).dhcp_options_id,
            "instanceTenancy": "default", "isDefault": is_default,
            "ownerId": ctx.account_id,
            "cidrBlockAssociationSet": [cidr_association(primary_association_id(vpc_id), cidr)]
            + [cidr_association(b["id"], b["cidr"]) for b in blocks],
            "tagSet": tag_list(tags)}


def _check_asked(asked: list[str], known: set[str], not_found: type[errors.ApiError],
                 what: str) -> None:
    for asked_id in asked:
        if asked_id not in known:
            raise not_found(f"The {what} ID '{asked_id}' does not exist")


async def describe_vpcs(ctx: RequestContext, req: DescribeVpcsRequest) -> dict:
    vpcs = ctx.cloud.vpcs
    await vpcs.ensure(ctx.account_id)
    vpc_id = default_vpc_id(ctx.account_id)
    own = await vpcs.own_vpcs(ctx.account_id) if vpcs.vpc_mode else []
    _check_asked(req.vpc_ids, {vpc_id} | {v.id for v in own}, errors.InvalidVpcIDNotFound,
                 "vpc")
    tags = await ctx.cloud.tags.of([vpc_id] + [v.id for v in own])
    blocks = await ctx.cloud.vpc_attributes.blocks([v.id for v in own]) if own else {}
    # vpc mode: the default VPC is one of the rows (real); edge mode: EDGE's facade
    items = ([] if vpcs.vpc_mode else [_vpc_item(ctx, vpc_id, vpcs.cidr, True, tags[vpc_id])]) \
        + [_vpc_item(ctx, v.id, v.cidr, v.is_default, tags[v.id], blocks[v.id],
                     v.dhcp_options_id) for v in own]
    if req.vpc_ids:
        items = [v for v in items if v["vpcId"] in req.vpc_ids]
    items = FilterSet(req.filters, VPC_FILTERS, tags=_tags).apply(items)
    chunk, token = page(items, lambda v: v["vpcId"], req.max_results, req.next_token)
    return {"vpcSet": chunk, "nextToken": token}


def _free(cidr: str) -> int:
    # EDGE's default subnet reserves network, gateway and broadcast.
    return max(0, ipaddress.ip_network(cidr).num_addresses - 3)


def _subnet_item(ctx: RequestContext, s: Subnet, tags: dict[str, str], held: int = 0) -> dict:
    """`held`: the own subnet's addresses in use (instances, interfaces, NAT gateways)."""
    region = ctx.cloud.settings.cloud.region
    return {"subnetId": s.id, "state": "available", "vpcId": s.vpc_id, "cidrBlock": s.cidr,
            "availableIpAddressCount": _free(s.cidr) if s.edge
            else max(0, available_addresses(s.cidr) - held),
            "availabilityZone": s.zone, "availabilityZoneId": s.zone,
            "defaultForAz": s.default,
            "mapPublicIpOnLaunch": ctx.cloud.settings.network.public_ip_at_launch
            if s.edge else s.map_public_ip,
            "ownerId": s.account_id,
            "assignIpv6AddressOnCreation": False, "ipv6CidrBlockAssociationSet": [],
            "subnetArn": f"arn:aws:ec2:{region}:{s.account_id}:subnet/{s.id}",
            "tagSet": tag_list(tags)}


async def describe_subnets(ctx: RequestContext, req: DescribeSubnetsRequest) -> dict:
    vpcs = ctx.cloud.vpcs
    await vpcs.ensure(ctx.account_id)
    subnets = await vpcs.own_subnets(ctx.account_id) if vpcs.vpc_mode \
        else vpcs.subnets(ctx.account_id)
    _check_asked(req.subnet_ids, {s.id for s in subnets}, errors.InvalidSubnetIDNotFound,
                 "subnet")
    if req.subnet_ids:
        subnets = [s for s in subnets if s.id in req.subnet_ids]
    tags = await ctx.cloud.tags.of([s.id for s in subnets])
    items = [_subnet_item(ctx, s, tags[s.id], 0 if s.edge else
                          len(await vpcs.addresses_held(s.id))) for s in subnets]
    items = FilterSet(req.filters, SUBNET_FILTERS, tags=_tags).apply(items)
    chunk, token = page(items, lambda s: s["subnetId"], req.max_results, req.next_token)
    return {"subnetSet": chunk, "nextToken": token}


# ---- VPC mode: the account's own VPCs and subnets ---------------------------

@dataclass
class CreateVpcRequest:
    cidr_block: str = param("CidrBlock")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    instance_tenancy: str = param("InstanceTenancy", default="default")
    amazon_ipv6: bool = param("AmazonProvidedIpv6CidrBlock", default=False)
    ipv4_pool: str = param("Ipv4IpamPoolId")
    ipv6_cidr: str = param("Ipv6CidrBlock")
    ipv6_pool: str = param("Ipv6Pool")
    ipv6_ipam_pool: str = param("Ipv6IpamPoolId")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("Ipv4NetmaskLength", "Ipv6NetmaskLength",
                                          "Ipv6CidrBlockNetworkBorderGroup", "VpcEncryptionControl")


@dataclass
class DeleteVpcRequest:
    vpc_id: str = param("VpcId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class CreateSubnetRequest:
    vpc_id: str = param("VpcId", required=True)
    cidr_block: str = param("CidrBlock")
    availability_zone: str = param("AvailabilityZone")
    availability_zone_id: str = param("AvailabilityZoneId")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    ipv6_cidr: str = param("Ipv6CidrBlock")
    ipv6_native: bool = param("Ipv6Native", default=False)
    ipv4_pool: str = param("Ipv4IpamPoolId")
    outpost_arn: str = param("OutpostArn")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("Ipv4NetmaskLength", "Ipv6IpamPoolId",
                                          "Ipv6NetmaskLength")


@dataclass
class DeleteSubnetRequest:
    subnet_id: str = param("SubnetId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ModifySubnetAttributeRequest:
    subnet_id: str = param("SubnetId", required=True)
    map_public_ip_on_launch: BooleanValue = param("MapPublicIpOnLaunch")
    assign_ipv6: BooleanValue = param("AssignIpv6AddressOnCreation")
    IGNORED: ClassVar[tuple[str, ...]] = (
        "MapCustomerOwnedIpOnLaunch", "CustomerOwnedIpv4Pool", "EnableDns64",
        "PrivateDnsHostnameTypeOnLaunch", "EnableResourceNameDnsARecordOnLaunch",
        "EnableResourceNameDnsAAAARecordOnLaunch", "EnableLniAtDeviceIndex",
        "DisableLniAtDeviceIndex")


def _no_ipv6(*given) -> None:
    if any(given):
        raise errors.UnsupportedOperation("IPv6 in a VPC is not supported by this cloud yet.")


async def create_vpc(ctx: RequestContext, req: CreateVpcRequest) -> dict:
    _no_ipv6(req.amazon_ipv6, req.ipv6_cidr, req.ipv6_pool, req.ipv6_ipam_pool)
    if req.ipv4_pool:
        raise errors.UnsupportedOperation("IPAM pools are not supported by this cloud.")
    if req.cidr_block is None:
        raise errors.MissingParameter("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
    if req.instance_tenancy != "default":
        raise errors.UnsupportedOperation(
            f"Instance tenancy '{req.instance_tenancy}' is not supported by this cloud.")
    tags = tags_for(req.tag_specifications, "vpc")  # checked before the VPC exists
    vpc = await ctx.cloud.vpcs.create_vpc(ctx.account_id, req.cidr_block, tags)
    return {"vpc": _vpc_item(ctx, vpc.id, vpc.cidr, False, dict(tags))}


async def delete_vpc(ctx: RequestContext, req: DeleteVpcRequest) -> dict:
    await ctx.cloud.vpcs.delete_vpc(ctx.account_id, req.vpc_id)
    return {"return": True}


async def create_subnet(ctx: RequestContext, req: CreateSubnetRequest) -> dict:
    _no_ipv6(req.ipv6_cidr, req.ipv6_native)
    if req.ipv4_pool or req.outpost_arn:
        raise errors.UnsupportedOperation("IPAM pools and Outposts are not supported "
                                          "by this cloud.")
    if req.cidr_block is None:
        raise errors.MissingParameter("The request must contain the parameter CidrBlock")
    tags = tags_for(req.tag_specifications, "subnet")
    subnet = await ctx.cloud.vpcs.create_subnet(
        ctx.account_id, req.vpc_id, req.cidr_block, req.availability_zone,
        req.availability_zone_id, tags)
    return {"subnet": _subnet_item(ctx, subnet, dict(tags))}


async def delete_subnet(ctx: RequestContext, req: DeleteSubnetRequest) -> dict:
    await ctx.cloud.vpcs.delete_subnet(ctx.account_id, req.subnet_id)
    return {"return": True}


async def modify_subnet_attribute(ctx: RequestContext, req: ModifySubnetAttributeRequest) -> dict:
    if req.assign_ipv6 is not None and req.assign_ipv6.value:
        _no_ipv6(True)
    value = req.map_public_ip_on_launch
    if value is None or value.value is None:
        await ctx.cloud.vpcs.own_subnet(ctx.account_id, req.subnet_id)  # NotFound first
        raise errors.MissingParameter("The request must contain the parameter "
                                      "MapPublicIpOnLaunch.Value")
    await ctx.cloud.vpcs.set_map_public_ip(ctx.account_id, req.subnet_id, value.value)
    return {"return": True}


# ---- the default VPC's attributes and implicit parts (issue 12) ----------------

def _parts_request(name: str, ids_wire: str) -> type:
    """A Describe request for one of the default VPC's parts: its ids as
    `ids_wire`.N, filters and paging (the five differ only in the ids' name)."""
    return make_dataclass(name, [
        ("ids", list[str], listparam(ids_wire)),
        ("filters", list[Filter], listparam("Filter")),
        ("max_results", int, param("MaxResults")),
        ("next_token", str, param("NextToken")),
        ("dry_run", bool, param("DryRun", default=False))])


DescribeRouteTablesRequest = _parts_request("DescribeRouteTablesRequest", "RouteTableId")
DescribeInternetGatewaysRequest = _parts_request("DescribeInternetGatewaysRequest",
                                                 "InternetGatewayId")
DescribeNetworkAclsRequest = _parts_request("DescribeNetworkAclsRequest", "NetworkAclId")
DescribeDhcpOptionsRequest = _parts_request("DescribeDhcpOptionsRequest", "DhcpOptionsId")
DescribeVpcEndpointsRequest = _parts_request("DescribeVpcEndpointsRequest", "VpcEndpointId")


def listing(items: list[dict], req, fields: dict, key: str, id_field: str) -> dict:
    items = FilterSet(req.filters, fields, tags=_tags).apply(items)
    chunk, token = page(items, lambda i: i[id_field], req.max_results, req.next_token)
    return {key: chunk, "nextToken": token}




async def describe_vpc_endpoints(ctx: RequestContext, req: DescribeVpcEndpointsRequest) -> dict:
    """EDGE has no VPC endpoints: none to list, and any id named is not found."""
    for endpoint_id in req.ids:
        raise errors.InvalidVpcEndpointIdNotFound(
            f"The Vpc Endpoint Id '{endpoint_id}' does not exist")
    return listing([], req, {
        name: lambda e: None for name in (
            "vpc-endpoint-id", "vpc-id", "service-name", "vpc-endpoint-state",
            "vpc-endpoint-type", "ip-address-type")}, "vpcEndpointSet", "vpcEndpointId")
