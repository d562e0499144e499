"""Internet gateways: the default VPC's implicit one (EDGE's NAT to the
uplink) and, in VPC mode, the account's own (Create/Attach/Detach/Delete,
docs/vpc.md)."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import TagSpecification, listparam, param
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.vpcs import DescribeInternetGatewaysRequest, _check_asked, listing
from mallee import errors


@dataclass
class CreateInternetGatewayRequest:
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class GatewayAttachmentRequest:
    internet_gateway_id: str = param("InternetGatewayId", required=True)
    vpc_id: str = param("VpcId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DeleteInternetGatewayRequest:
    internet_gateway_id: str = param("InternetGatewayId", required=True)
    dry_run: bool = param("DryRun", default=False)


def gateway_item(account_id: str, row, tags: dict[str, str]) -> dict:
    attached = [{"vpcId": row["vpc_id"], "state": "available"}] if row["vpc_id"] else []
    return {"internetGatewayId": row["id"], "ownerId": account_id, "attachmentSet": attached,
            "tagSet": tag_list(tags)}


async def create_internet_gateway(ctx: RequestContext,
                                  req: CreateInternetGatewayRequest) -> dict:
    tags = tags_for(req.tag_specifications, "internet-gateway")
    igw_id = await ctx.cloud.vpc_parts.internet_gateways.create(ctx.account_id, tags)
    return {"internetGateway": {"internetGatewayId": igw_id, "ownerId": ctx.account_id,
                                "attachmentSet": [], "tagSet": tag_list(dict(tags))}}


async def attach_internet_gateway(ctx: RequestContext, req: GatewayAttachmentRequest) -> dict:
    await ctx.cloud.vpc_parts.internet_gateways.attach(ctx.account_id,
                                                       req.internet_gateway_id, req.vpc_id)
    return {"return": True}


async def detach_internet_gateway(ctx: RequestContext, req: GatewayAttachmentRequest) -> dict:
    await ctx.cloud.vpc_parts.internet_gateways.detach(ctx.account_id,
                                                       req.internet_gateway_id, req.vpc_id)
    return {"return": True}


async def delete_internet_gateway(ctx: RequestContext,
                                  req: DeleteInternetGatewayRequest) -> dict:
    await ctx.cloud.vpc_parts.internet_gateways.delete(ctx.account_id, req.internet_gateway_id)
    return {"return": True}


async def describe_internet_gateways(ctx: RequestContext,
                                     req: DescribeInternetGatewaysRequest) -> dict:
    parts = ctx.cloud.vpcs.parts(ctx.account_id)
    own = await ctx.cloud.vpc_parts.internet_gateways.list(ctx.account_id)
    tags = await ctx.cloud.tags.of([row["id"] for row in own])
    items = [] if ctx.cloud.vpcs.vpc_mode else [  # edge mode: EDGE's facade
        {"internetGatewayId": parts.internet_gateway_id, "ownerId": ctx.account_id,
         "attachmentSet": [{"vpcId": parts.vpc_id, "state": "available"}], "tagSet": []}]
    items += [gateway_item(ctx.account_id, row, tags[row["id"]]) for row in own]
    _check_asked(req.ids, {i["internetGatewayId"] for i in items},
                 errors.InvalidInternetGatewayIDNotFound, "internetGateway")
    if req.ids:
        items = [i for i in items if i["internetGatewayId"] in req.ids]
    return listing(items, req, {
        "internet-gateway-id": lambda g: g["internetGatewayId"],
        "owner-id": lambda g: g["ownerId"],
        "attachment.vpc-id": lambda g: [a["vpcId"] for a in g["attachmentSet"]],
        "attachment.state": lambda g: [a["state"] for a in g["attachmentSet"]],
    }, "internetGatewaySet", "internetGatewayId")
