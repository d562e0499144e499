"""DHCP option sets: the account's default one (the default VPC's, and own
VPCs' until they are given another) and, in VPC mode, sets of its own
(Create/Delete/AssociateDhcpOptions, docs/vpc.md)."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import TagSpecification, listparam, param
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.vpcs import DescribeDhcpOptionsRequest, _check_asked, listing
from cloud_controller.services.dhcp_options import config_of
from cloud_controller.services.vpc_routing_model import default_dhcp_config
from mallee import errors


@dataclass
class DhcpConfiguration:
    key: str = param("Key", required=True)
    values: list[str] = listparam("Value")


@dataclass
class CreateDhcpOptionsRequest:
    configurations: list[DhcpConfiguration] = listparam("DhcpConfiguration")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DeleteDhcpOptionsRequest:
    dhcp_options_id: str = param("DhcpOptionsId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class AssociateDhcpOptionsRequest:
    dhcp_options_id: str = param("DhcpOptionsId", required=True)
    vpc_id: str = param("VpcId", required=True)
    dry_run: bool = param("DryRun", default=False)


def options_item(account_id: str, dopt_id: str, config, tags: dict[str, str]) -> dict:
    return {"dhcpOptionsId": dopt_id, "ownerId": account_id,
            "dhcpConfigurationSet": [{"key": k, "valueSet": [{"value": v} for v in values]}
                                     for k, values in config],
            "tagSet": tag_list(tags)}


async def create_dhcp_options(ctx: RequestContext, req: CreateDhcpOptionsRequest) -> dict:
    tags = tags_for(req.tag_specifications, "dhcp-options")
    config = [(c.key, list(c.values)) for c in req.configurations]
    dopt_id = await ctx.cloud.vpc_parts.dhcp_options.create(ctx.account_id, config, tags)
    return {"dhcpOptions": options_item(ctx.account_id, dopt_id, config, dict(tags))}


async def delete_dhcp_options(ctx: RequestContext, req: DeleteDhcpOptionsRequest) -> dict:
    await ctx.cloud.vpc_parts.dhcp_options.delete(ctx.account_id, req.dhcp_options_id)
    return {"return": True}


async def associate_dhcp_options(ctx: RequestContext, req: AssociateDhcpOptionsRequest) -> dict:
    await ctx.cloud.vpc_parts.dhcp_options.associate(ctx.account_id, req.dhcp_options_id,
                                                     req.vpc_id)
    return {"return": True}


async def describe_dhcp_options(ctx: RequestContext, req: DescribeDhcpOptionsRequest) -> dict:
    parts = ctx.cloud.vpcs.parts(ctx.account_id)
    own = await ctx.cloud.vpc_parts.dhcp_options.list(ctx.account_id)
    tags = await ctx.cloud.tags.of([row["id"] for row in own])
    default = default_dhcp_config(ctx.account_id, ctx.cloud.settings.cloud.region)
    items = [options_item(ctx.account_id, parts.dhcp_options_id, default, {})] + [
        options_item(ctx.account_id, row["id"], config_of(row), tags[row["id"]])
        for row in own]
    _check_asked(req.ids, {i["dhcpOptionsId"] for i in items},
                 errors.InvalidDhcpOptionIDNotFound, "dhcpOption")
    if req.ids:
        items = [i for i in items if i["dhcpOptionsId"] in req.ids]
    return listing(items, req, {
        "dhcp-options-id": lambda d: d["dhcpOptionsId"], "owner-id": lambda d: d["ownerId"],
        "key": lambda d: [c["key"] for c in d["dhcpConfigurationSet"]],
        "value": lambda d: [v["value"] for c in d["dhcpConfigurationSet"]
                            for v in c["valueSet"]],
    }, "dhcpOptionsSet", "dhcpOptionsId")
