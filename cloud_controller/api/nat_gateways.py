"""NAT gateways of own VPCs (VPC mode, docs/vpc.md): Create/Delete/DescribeNatGateways."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from mallee.xmlwrite import iso8601
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.vpcs import _check_asked, listing
from mallee import errors


@dataclass
class CreateNatGatewayRequest:
    subnet_id: str = param("SubnetId")
    allocation_id: str = param("AllocationId")
    connectivity_type: str = param("ConnectivityType", default="public")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    client_token: str = param("ClientToken")
    private_ip: str = param("PrivateIpAddress")
    secondary_allocations: list[str] = listparam("SecondaryAllocationId")
    secondary_ips: list[str] = listparam("SecondaryPrivateIpAddress")
    secondary_count: int = param("SecondaryPrivateIpAddressCount")
    availability_mode: str = param("AvailabilityMode")
    vpc_id: str = param("VpcId")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("AvailabilityZoneAddress",)


@dataclass
class DeleteNatGatewayRequest:
    nat_gateway_id: str = param("NatGatewayId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeNatGatewaysRequest:
    ids: list[str] = listparam("NatGatewayId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


def nat_item(row, tags: dict[str, str]) -> dict:
    return {"natGatewayId": row["id"], "vpcId": row["vpc_id"], "subnetId": row["subnet_id"],
            "state": row["state"], "connectivityType": "public",
            "createTime": iso8601(row["created_at"]),
            "deleteTime": iso8601(row["deleted_at"]) if row["deleted_at"] else None,
            "failureCode": row["failure_code"], "failureMessage": row["failure_message"],
            "natGatewayAddressSet": [{"allocationId": row["allocation_id"],
                                      "publicIp": row["public_ip"],
                                      "privateIp": row["private_ip"], "isPrimary": True,
                                      "status": "succeeded"}],
            "tagSet": tag_list(tags)}


async def create_nat_gateway(ctx: RequestContext, req: CreateNatGatewayRequest) -> dict:
    if req.connectivity_type != "public":
        raise errors.UnsupportedOperation(
            f"ConnectivityType '{req.connectivity_type}' is not supported by this cloud: "
            "public NAT gateways are.")
    if req.private_ip or req.secondary_allocations or req.secondary_ips or \
            req.secondary_count or req.vpc_id or req.availability_mode:
        raise errors.UnsupportedOperation(
            "Chosen or secondary addresses and regional NAT gateways are not supported by "
            "this cloud.")
    if not req.subnet_id:
        raise errors.MissingParameter("The request must contain the parameter SubnetId")
    tags = tags_for(req.tag_specifications, "natgateway")
    row = await ctx.cloud.vpc_parts.nat_gateways.create(ctx.account_id, req.subnet_id,
                                                        req.allocation_id, tags,
                                                        req.client_token)
    made = await ctx.cloud.tags.of([row["id"]])
    return {"natGateway": nat_item(row, made[row["id"]]), "clientToken": req.client_token}


async def delete_nat_gateway(ctx: RequestContext, req: DeleteNatGatewayRequest) -> dict:
    await ctx.cloud.vpc_parts.nat_gateways.delete(ctx.account_id, req.nat_gateway_id)
    return {"natGatewayId": req.nat_gateway_id}


async def describe_nat_gateways(ctx: RequestContext, req: DescribeNatGatewaysRequest) -> dict:
    rows = await ctx.cloud.vpc_parts.nat_gateways.list(ctx.account_id)
    tags = await ctx.cloud.tags.of([row["id"] for row in rows])
    items = [nat_item(row, tags[row["id"]]) for row in rows]
    _check_asked(req.ids, {i["natGatewayId"] for i in items}, errors.NatGatewayNotFound,
                 "NAT gateway")
    if req.ids:
        items = [i for i in items if i["natGatewayId"] in req.ids]
    return listing(items, req, {
        "nat-gateway-id": lambda n: n["natGatewayId"], "state": lambda n: n["state"],
        "subnet-id": lambda n: n["subnetId"], "vpc-id": lambda n: n["vpcId"],
    }, "natGatewaySet", "natGatewayId")
