"""DescribeVpcAttribute (the default VPC's, and own VPCs' in VPC mode);
ModifyVpcAttribute, AssociateVpcCidrBlock and DisassociateVpcCidrBlock on own
VPCs; CreateDefaultVpc, which finds the default VPC that every account has
(docs/vpc.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import BooleanValue, param
from cloud_controller.api.vpcs import cidr_association
from cloud_controller.services.vpc_attributes import ATTRIBUTES
from mallee import errors


@dataclass
class DescribeVpcAttributeRequest:
    vpc_id: str = param("VpcId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ModifyVpcAttributeRequest:
    vpc_id: str = param("VpcId", required=True)
    enable_dns_support: BooleanValue = param("EnableDnsSupport")
    enable_dns_hostnames: BooleanValue = param("EnableDnsHostnames")
    enable_nau_metrics: BooleanValue = param("EnableNetworkAddressUsageMetrics")


@dataclass
class AssociateVpcCidrBlockRequest:
    vpc_id: str = param("VpcId", required=True)
    cidr_block: str = param("CidrBlock")
    amazon_ipv6: bool = param("AmazonProvidedIpv6CidrBlock", default=False)
    ipv6_cidr: str = param("Ipv6CidrBlock")
    ipv6_pool: str = param("Ipv6Pool")
    ipv4_pool: str = param("Ipv4IpamPoolId")
    ipv6_ipam_pool: str = param("Ipv6IpamPoolId")
    IGNORED: ClassVar[tuple[str, ...]] = ("Ipv4NetmaskLength", "Ipv6NetmaskLength",
                                          "Ipv6CidrBlockNetworkBorderGroup")


@dataclass
class DisassociateVpcCidrBlockRequest:
    association_id: str = param("AssociationId", required=True)


@dataclass
class CreateDefaultVpcRequest:
    dry_run: bool = param("DryRun", default=False)


async def describe_vpc_attribute(ctx: RequestContext, req: DescribeVpcAttributeRequest) -> dict:
    values = await ctx.cloud.vpc_attributes.attributes(ctx.account_id, req.vpc_id)
    if req.attribute not in ATTRIBUTES:
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid. Unknown attribute.")
    return {"vpcId": req.vpc_id, req.attribute: {"value": values[req.attribute]}}


async def modify_vpc_attribute(ctx: RequestContext, req: ModifyVpcAttributeRequest) -> dict:
    given = {"enableDnsSupport": req.enable_dns_support,
             "enableDnsHostnames": req.enable_dns_hostnames,
             "enableNetworkAddressUsageMetrics": req.enable_nau_metrics}
    values = {k: v.value for k, v in given.items() if v is not None and v.value is not None}
    await ctx.cloud.vpc_attributes.modify(ctx.account_id, req.vpc_id, values)
    return {"return": True}


async def associate_vpc_cidr_block(ctx: RequestContext,
                                   req: AssociateVpcCidrBlockRequest) -> dict:
    if req.amazon_ipv6 or req.ipv6_cidr or req.ipv6_pool or req.ipv6_ipam_pool:
        raise errors.UnsupportedOperation("IPv6 in a VPC is not supported by this cloud yet.")
    if req.ipv4_pool:
        raise errors.UnsupportedOperation("IPAM pools are not supported by this cloud.")
    if req.cidr_block is None:
        raise errors.MissingParameter("Either 'cidrBlock' or 'ipv4IpamPoolId' should be "
                                      "provided.")
    association_id, cidr = await ctx.cloud.vpc_attributes.associate(
        ctx.account_id, req.vpc_id, req.cidr_block)
    return {"cidrBlockAssociation": cidr_association(association_id, cidr),
            "vpcId": req.vpc_id}


async def disassociate_vpc_cidr_block(ctx: RequestContext,
                                      req: DisassociateVpcCidrBlockRequest) -> dict:
    vpc_id, cidr = await ctx.cloud.vpc_attributes.disassociate(ctx.account_id,
                                                                req.association_id)
    return {"cidrBlockAssociation": cidr_association(req.association_id, cidr,
                                                     "disassociated"), "vpcId": vpc_id}


async def create_default_vpc(ctx: RequestContext, req: CreateDefaultVpcRequest) -> dict:
    """Every account's EDGE network is its default VPC from the start."""
    raise errors.DefaultVpcAlreadyExists()
