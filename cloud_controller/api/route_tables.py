"""Route tables: the default VPC's implicit main table and, in VPC mode, the
account's own VPCs' tables (docs/vpc.md): Create/Delete/DescribeRouteTables,
Associate/Disassociate/ReplaceRouteTableAssociation, Create/Replace/DeleteRoute."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import TagSpecification, listparam, param
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.vpcs import DescribeRouteTablesRequest, _check_asked, listing
from cloud_controller.services.route_tables import TARGETS, RouteTarget, RouteTargets
from mallee import errors

@dataclass
class CreateRouteTableRequest:
    vpc_id: str = param("VpcId", required=True)
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    client_token: str = param("ClientToken")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class RouteTableIdRequest:
    route_table_id: str = param("RouteTableId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class AssociateRouteTableRequest:
    route_table_id: str = param("RouteTableId", required=True)
    subnet_id: str = param("SubnetId")
    gateway_id: str = param("GatewayId")
    public_ipv4_pool: str = param("PublicIpv4Pool")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DisassociateRouteTableRequest:
    association_id: str = param("AssociationId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ReplaceRouteTableAssociationRequest:
    association_id: str = param("AssociationId", required=True)
    route_table_id: str = param("RouteTableId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class RouteRequest:
    """CreateRoute and ReplaceRoute (one target), DeleteRoute (none)."""
    route_table_id: str = param("RouteTableId", required=True)
    destination_cidr_block: str = param("DestinationCidrBlock")
    gateway_id: str = param("GatewayId")
    nat_gateway_id: str = param("NatGatewayId")
    instance_id: str = param("InstanceId")
    network_interface_id: str = param("NetworkInterfaceId")
    destination_prefix_list_id: str = param("DestinationPrefixListId")
    vpc_endpoint_id: str = param("VpcEndpointId")
    transit_gateway_id: str = param("TransitGatewayId")
    local_gateway_id: str = param("LocalGatewayId")
    carrier_gateway_id: str = param("CarrierGatewayId")
    core_network_arn: str = param("CoreNetworkArn")
    odb_network_arn: str = param("OdbNetworkArn")
    egress_only_gateway_id: str = param("EgressOnlyInternetGatewayId")
    peering_id: str = param("VpcPeeringConnectionId")
    destination_ipv6: str = param("DestinationIpv6CidrBlock")
    local_target: bool = param("LocalTarget")
    dry_run: bool = param("DryRun", default=False)
    UNSUPPORTED: ClassVar[tuple[str, ...]] = (
        "destination_prefix_list_id", "vpc_endpoint_id", "transit_gateway_id",
        "local_gateway_id", "carrier_gateway_id", "core_network_arn", "odb_network_arn",
        "egress_only_gateway_id", "peering_id", "destination_ipv6", "local_target")

    def check_supported(self) -> None:
        for name in self.UNSUPPORTED:
            if getattr(self, name) not in (None, False):
                raise errors.UnsupportedOperation(
                    f"Routes with {name} are not supported by this cloud: internet and NAT "
                    "gateways, instances and network interfaces are.")

    def target(self) -> RouteTarget:
        given = [RouteTarget(kind, getattr(self, name)) for name, kind in TARGETS
                 if getattr(self, name)]
        if not given:
            raise errors.MissingParameter(
                "The request must contain exactly one of gatewayId, natGatewayId, "
                "instanceId or networkInterfaceId")
        if len(given) > 1:
            raise errors.InvalidParameterCombination(
                "Only one of gatewayId, natGatewayId, instanceId and networkInterfaceId "
                "may be given")
        return given[0]


@dataclass
class DeleteRouteRequest:
    route_table_id: str = param("RouteTableId", required=True)
    destination_cidr_block: str = param("DestinationCidrBlock")
    destination_prefix_list_id: str = param("DestinationPrefixListId")
    destination_ipv6: str = param("DestinationIpv6CidrBlock")
    dry_run: bool = param("DryRun", default=False)


# ---- describing ----

def _default_table(ctx: RequestContext) -> dict:
    vpcs = ctx.cloud.vpcs
    parts = vpcs.parts(ctx.account_id)
    return {"routeTableId": parts.route_table_id, "vpcId": parts.vpc_id,
            "ownerId": ctx.account_id,
            "routeSet": [{"destinationCidrBlock": vpcs.cidr, "gatewayId": "local",
                          "state": "active", "origin": "CreateRouteTable"},
                         {"destinationCidrBlock": "0.0.0.0/0",
                          "gatewayId": parts.internet_gateway_id, "state": "active",
                          "origin": "CreateRoute"}],
            "associationSet": [{"main": True,
                                "routeTableAssociationId": parts.main_association_id,
                                "routeTableId": parts.route_table_id,
                                "associationState": {"state": "associated"}}],
            "propagatingVgwSet": [], "tagSet": []}


WIRE_TARGET = {"gateway": "gatewayId", "nat-gateway": "natGatewayId",
               "instance": "instanceId", "network-interface": "networkInterfaceId"}


def _route_item(route, state: str, account_id: str) -> dict:
    item = {"destinationCidrBlock": route["destination"], "state": state,
            "origin": route["origin"], WIRE_TARGET[route["target_kind"]]: route["target_id"]}
    if route["target_kind"] == "instance":
        item["instanceOwnerId"] = account_id
    return item


def table_item(account_id: str, table, vpc_cidr: str, associations, routes, live: RouteTargets,
               tags: dict[str, str]) -> dict:
    return {"routeTableId": table["id"], "vpcId": table["vpc_id"], "ownerId": account_id,
            "routeSet": [{"destinationCidrBlock": vpc_cidr, "gatewayId": "local",
                          "state": "active", "origin": "CreateRouteTable"}] + [
                _route_item(r, "active" if live.live(table["vpc_id"], r) else "blackhole",
                            account_id) for r in routes],
            "associationSet": [{"main": a["subnet_id"] is None,
                                "routeTableAssociationId": a["id"],
                                "routeTableId": table["id"], "subnetId": a["subnet_id"],
                                "associationState": {"state": "associated"}}
                               for a in associations],
            "propagatingVgwSet": [], "tagSet": tag_list(tags)}


async def _own_tables(ctx: RequestContext, only: set[str] | None = None) -> list[dict]:
    parts = ctx.cloud.vpc_parts
    tables, associations, routes = await parts.route_tables.listing(ctx.account_id)
    if only is not None:
        tables = [t for t in tables if t["id"] in only]
    if not tables:
        return []
    cidrs = {v.id: v.cidr for v in await ctx.cloud.vpcs.own_vpcs(ctx.account_id)}
    live = await parts.route_tables.targets(ctx.account_id)
    tags = await ctx.cloud.tags.of([t["id"] for t in tables])
    return [table_item(ctx.account_id, t, cidrs[t["vpc_id"]],
                       [a for a in associations if a["route_table_id"] == t["id"]],
                       [r for r in routes if r["route_table_id"] == t["id"]], live,
                       tags[t["id"]]) for t in tables]


def _routes(field):
    return lambda t: [r[field] for r in t["routeSet"] if r.get(field)]


def _associations(field):
    return lambda t: [a[field] for a in t["associationSet"] if a.get(field) is not None]


ROUTE_TABLE_FILTERS = {
    "route-table-id": lambda t: t["routeTableId"], "vpc-id": lambda t: t["vpcId"],
    "owner-id": lambda t: t["ownerId"],
    "association.main": _associations("main"),
    "association.route-table-association-id": _associations("routeTableAssociationId"),
    "association.route-table-id": _associations("routeTableId"),
    "association.subnet-id": _associations("subnetId"),
    "association.association-state": lambda t: [
        a["associationState"]["state"] for a in t["associationSet"]],
    "route.destination-cidr-block": _routes("destinationCidrBlock"),
    "route.gateway-id": _routes("gatewayId"), "route.origin": _routes("origin"),
    "route.state": _routes("state"), "route.nat-gateway-id": _routes("natGatewayId"),
    "route.instance-id": _routes("instanceId"),
}


async def describe_route_tables(ctx: RequestContext, req: DescribeRouteTablesRequest) -> dict:
    # vpc mode: the default VPC's tables are rows of its own (real); edge: EDGE's facade
    items = ([] if ctx.cloud.vpcs.vpc_mode else [_default_table(ctx)]) + await _own_tables(ctx)
    _check_asked(req.ids, {t["routeTableId"] for t in items},
                 errors.InvalidRouteTableIDNotFound, "routeTable")
    if req.ids:
        items = [t for t in items if t["routeTableId"] in req.ids]
    return listing(items, req, ROUTE_TABLE_FILTERS, "routeTableSet", "routeTableId")


# ---- changing ----

async def create_route_table(ctx: RequestContext, req: CreateRouteTableRequest) -> dict:
    tags = tags_for(req.tag_specifications, "route-table")
    table = await ctx.cloud.vpc_parts.route_tables.create(ctx.account_id, req.vpc_id, tags,
                                                          req.client_token)
    (item,) = await _own_tables(ctx, {table["id"]})
    return {"routeTable": item, "clientToken": req.client_token}


async def delete_route_table(ctx: RequestContext, req: RouteTableIdRequest) -> dict:
    await ctx.cloud.vpc_parts.route_tables.delete(ctx.account_id, req.route_table_id)
    return {"return": True}


async def associate_route_table(ctx: RequestContext, req: AssociateRouteTableRequest) -> dict:
    if req.gateway_id or req.public_ipv4_pool:
        raise errors.UnsupportedOperation(
            "Gateway route tables (edge associations) are not supported by this cloud.")
    if not req.subnet_id:
        raise errors.MissingParameter("The request must contain the parameter SubnetId")
    association_id = await ctx.cloud.vpc_parts.route_tables.associate(
        ctx.account_id, req.route_table_id, req.subnet_id)
    return {"associationId": association_id, "associationState": {"state": "associated"}}


async def disassociate_route_table(ctx: RequestContext,
                                   req: DisassociateRouteTableRequest) -> dict:
    await ctx.cloud.vpc_parts.route_tables.disassociate(ctx.account_id, req.association_id)
    return {"return": True}


async def replace_route_table_association(ctx: RequestContext,
                                          req: ReplaceRouteTableAssociationRequest) -> dict:
    new_id = await ctx.cloud.vpc_parts.route_tables.replace_association(
        ctx.account_id, req.association_id, req.route_table_id)
    return {"newAssociationId": new_id, "associationState": {"state": "associated"}}


async def create_route(ctx: RequestContext, req: RouteRequest) -> dict:
    req.check_supported()
    await ctx.cloud.vpc_parts.route_tables.create_route(
        ctx.account_id, req.route_table_id, req.destination_cidr_block, req.target())
    return {"return": True}


async def replace_route(ctx: RequestContext, req: RouteRequest) -> dict:
    req.check_supported()
    await ctx.cloud.vpc_parts.route_tables.replace_route(
        ctx.account_id, req.route_table_id, req.destination_cidr_block, req.target())
    return {"return": True}


async def delete_route(ctx: RequestContext, req: DeleteRouteRequest) -> dict:
    if req.destination_prefix_list_id or req.destination_ipv6:
        raise errors.UnsupportedOperation("Prefix lists and IPv6 routes are not supported "
                                          "by this cloud.")
    await ctx.cloud.vpc_parts.route_tables.delete_route(
        ctx.account_id, req.route_table_id, req.destination_cidr_block)
    return {"return": True}
