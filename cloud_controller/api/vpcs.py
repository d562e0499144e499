"""DescribeVpcs and DescribeSubnets: each account's default VPC and its
default subnet per zone (the EDGE network, as tools expect to find it)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from cloud_controller.api.tagging import tag_list
from cloud_controller.services.vpcs import default_vpc_id
from cloud_controller.api.query import Filter, listparam, param


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
    "vpc-id": lambda v: v["vpcId"], "is-default": lambda v: True, "isDefault": lambda v: True,
    "cidr": lambda v: v["cidrBlock"], "cidr-block": lambda v: v["cidrBlock"],
    "cidrBlock": lambda v: v["cidrBlock"],
    "cidr-block-association.cidr-block": lambda v: v["cidrBlock"],
    "state": lambda v: v["state"], "owner-id": lambda v: v["ownerId"],
    "dhcp-options-id": lambda v: v["dhcpOptionsId"],
}

SUBNET_FILTERS = {
    "subnet-id": lambda s: s["subnetId"], "vpc-id": lambda s: s["vpcId"],
    "availability-zone": lambda s: s["availabilityZone"],
    "availabilityZone": lambda s: s["availabilityZone"],
    "availability-zone-id": lambda s: s["availabilityZoneId"],
    "default-for-az": lambda s: True, "defaultForAz": lambda s: True,
    "cidr": lambda s: s["cidrBlock"], "cidr-block": lambda s: s["cidrBlock"],
    "cidrBlock": lambda s: s["cidrBlock"], "state": lambda s: s["state"],
    "owner-id": lambda s: s["ownerId"],
    "map-public-ip-on-launch": lambda s: s["mapPublicIpOnLaunch"],
}


async def describe_vpcs(ctx: RequestContext, req: DescribeVpcsRequest) -> dict:
    vpcs = ctx.cloud.vpcs
    await vpcs.ensure(ctx.account_id)
    for vpc_id in req.vpc_ids:
        vpcs.check_vpc(ctx.account_id, vpc_id)
    vpc_id = default_vpc_id(ctx.account_id)
    tags = (await ctx.cloud.tags.of([vpc_id]))[vpc_id]
    item = {"vpcId": vpc_id, "state": "available", "cidrBlock": vpcs.cidr,
            "dhcpOptionsId": "default", "instanceTenancy": "default", "isDefault": True,
            "ownerId": ctx.account_id,
            "cidrBlockAssociationSet": [{"associationId": "vpc-cidr-assoc-" + vpc_id[4:],
                                         "cidrBlock": vpcs.cidr,
                                         "cidrBlockState": {"state": "associated"}}],
            "tagSet": tag_list(tags)}
    items = FilterSet(req.filters, VPC_FILTERS, tags=_tags).apply([item])
    chunk, token = page(items, lambda v: v["vpcId"], req.max_results, req.next_token)
    return {"vpcSet": chunk, "nextToken": token}


def _free(cidr: str) -> int:
    # AWS reserves five addresses per subnet; EDGE reserves network, gateway, broadcast.
    return max(0, ipaddress.ip_network(cidr).num_addresses - 3)


async def describe_subnets(ctx: RequestContext, req: DescribeSubnetsRequest) -> dict:
    vpcs = ctx.cloud.vpcs
    await vpcs.ensure(ctx.account_id)
    subnets = vpcs.subnets(ctx.account_id)
    for subnet_id in req.subnet_ids:
        vpcs.subnet(ctx.account_id, subnet_id)
    if req.subnet_ids:
        subnets = [s for s in subnets if s.id in req.subnet_ids]
    tags = await ctx.cloud.tags.of([s.id for s in subnets])
    public = ctx.cloud.settings.network.public_ip_at_launch
    region = ctx.cloud.settings.cloud.region
    items = [{"subnetId": s.id, "state": "available", "vpcId": s.vpc_id, "cidrBlock": s.cidr,
              "availableIpAddressCount": _free(s.cidr), "availabilityZone": s.zone,
              "availabilityZoneId": s.zone, "defaultForAz": True,
              "mapPublicIpOnLaunch": public, "ownerId": s.account_id,
              "assignIpv6AddressOnCreation": False, "ipv6CidrBlockAssociationSet": [],
              "subnetArn": f"arn:aws:ec2:{region}:{s.account_id}:subnet/{s.id}",
              "tagSet": tag_list(tags[s.id])} for s in subnets]
    items = FilterSet(req.filters, SUBNET_FILTERS, tags=_tags).apply(items)
    chunk, token = page(items, lambda s: s["subnetId"], req.max_results, req.next_token)
    return {"subnetSet": chunk, "nextToken": token}
