"""Route tables of accounts' own VPCs (VPC mode, docs/vpc.md): each VPC's main
table (made with the VPC, gone with it), tables of its own, their subnet
associations and routes. The `local` route (the VPC's CIDR) is implicit:
it is the router's connected networks in OVN and has no row here.

A member of VpcService: the main table is made with the VPC and goes with it;
a VPC with tables besides the main one is refused (DependencyViolation), as
EC2 does; a deleted subnet's association goes with it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cloud_controller.db.route_tables import RouteTableRepository
from cloud_controller.services.vpcs import VpcPart, has_dependencies
from mallee import errors
from mallee.ids import resource_id

# The kinds of targets a route may name: (request field, table kind, id prefix).
TARGETS = (("gateway_id", "gateway"), ("nat_gateway_id", "nat-gateway"),
           ("instance_id", "instance"), ("network_interface_id", "network-interface"))


@dataclass(frozen=True)
class RouteTarget:
    kind: str
    id: str


# NAT gateways a route may lead to (OVN holds their rows).
ROUTING_NATS = ("pending", "available")


class RouteTargets:
    """What routes point at now, to tell `active` from `blackhole` (DescribeRouteTables)
    and which routes OVN gets (the routing model): internet gateways attached to the
    route's VPC, NAT gateways OVN holds, live instances' and interfaces' addresses."""

    def __init__(self, gateways, nats, ips: dict[str, str]):
        self.gateway_vpc = {g["id"]: g["vpc_id"] for g in gateways}
        self.nats = {n["id"]: n for n in nats if n["state"] in ROUTING_NATS}
        self.ips = ips

    def live(self, vpc_id: str, route) -> bool:
        kind, target = route["target_kind"], route["target_id"]
        if kind == "gateway":
            return self.gateway_vpc.get(target) == vpc_id
        if kind == "nat-gateway":
            return target in self.nats
        return target in self.ips


def _destination(cidr: str | None) -> ipaddress.IPv4Network:
    if not cidr:
        raise errors.MissingParameter(
            "The request must contain the parameter destinationCidrBlock")
    try:
        return ipaddress.IPv4Network(cidr)
    except ValueError:
        raise errors.InvalidParameterValue(
            f"Value ({cidr}) for parameter destinationCidrBlock is invalid. This is not a "
            "valid CIDR block.")


class RouteTableService(VpcPart):
    def __init__(self, db, vpcs, tags, gateways, nat_gateways):
        self.db = db
        self.vpcs = vpcs  # VpcService
        self.tags = tags
        self.gateways = gateways  # InternetGatewayService, NatGatewayService: route targets
        self.nat_gateways = nat_gateways
        self.repo = RouteTableRepository(db)
        vpcs.members.append(self)

    # ---- the hooks VpcService calls inside its units ----

    async def vpc_created(self, account_id: str, vpc_id: str) -> None:
        derived = self.vpcs.default_parts(account_id, vpc_id)
        rtb_id = derived.route_table_id if derived else resource_id("rtb")
        await self.repo.insert_table(rtb_id, account_id, vpc_id)
        await self.repo.associate(derived.main_association_id if derived
                                  else resource_id("rtbassoc"), rtb_id, vpc_id, None)

    async def default_vpc_created(self, account_id: str, vpc_id: str) -> None:
        """AWS's default VPC: an internet gateway attached, and the main table's
        0.0.0.0/0 to it."""
        igw_id = await self.gateways.create_attached(
            account_id, vpc_id, self.vpcs.parts(account_id).internet_gateway_id)
        (main,) = [a["route_table_id"] for a in await self.repo.associations()
                   if a["vpc_id"] == vpc_id and a["subnet_id"] is None]
        await self.repo.put_route(main, "0.0.0.0/0", "gateway", igw_id)

    async def vpc_deleting(self, vpc_id: str) -> None:
        tables = await self.repo.tables_of_vpc(vpc_id)
        main = {a["route_table_id"] for a in await self.repo.associations()
                if a["vpc_id"] == vpc_id and a["subnet_id"] is None}
        if any(t["id"] not in main for t in tables):
            raise has_dependencies("vpc", vpc_id)
        await self.repo.disassociate_vpc(vpc_id)
        for table in tables:
            await self.repo.delete_table(table["id"])
            await self.tags.forget(table["id"])

    async def subnet_deleting(self, subnet_id: str) -> None:
        await self.repo.disassociate_subnet(subnet_id)

    # ---- tables ----

    async def table(self, account_id: str, rtb_id: str | None):
        row = await self.repo.table(account_id, rtb_id or "")
        if row is None:
            raise errors.InvalidRouteTableIDNotFound(
                f"The routeTable ID '{rtb_id}' does not exist")
        return row

    async def create(self, account_id: str, vpc_id: str, tags: list[tuple[str, str]],
                     client_token: str | None = None):
        """A new table, or the one an earlier call with the same ClientToken made."""
        rtb_id = resource_id("rtb")
        async with self.db.unit():
            await self.vpcs.own_vpc(account_id, vpc_id)
            if client_token:
                earlier = await self.repo.by_token(account_id, client_token)
                if earlier is not None:
                    if earlier["vpc_id"] != vpc_id:
                        raise errors.IdempotentParameterMismatch(
                            "The client token was used with different parameters.")
                    return earlier
            await self.repo.insert_table(rtb_id, account_id, vpc_id, client_token)
            await self.tags.tag_new(account_id, rtb_id, "route-table", tags)
        return await self.repo.table(account_id, rtb_id)

    async def delete(self, account_id: str, rtb_id: str) -> None:
        async with self.db.unit():
            await self.table(account_id, rtb_id)
            if await self.repo.associations_of_table(rtb_id):
                raise has_dependencies("routeTable", rtb_id)
            await self.repo.delete_table(rtb_id)
            await self.tags.forget(rtb_id)
        await self.vpcs.changed()

    async def targets(self, account_id: str | None) -> RouteTargets:
        """What the account's (None: every account's) routes point at now."""
        return RouteTargets(await self.gateways.list(account_id),
                            await self.nat_gateways.list(account_id),
                            await self.repo.private_ips())

    async def listing(self, account_id: str | None):
        """The account's tables, their associations and routes, read once each."""
        tables = await self.repo.tables(account_id)
        associations = await self.repo.associations(account_id)
        routes = await self.repo.routes([t["id"] for t in tables])
        return tables, associations, routes

    # ---- associations ----

    async def associate(self, account_id: str, rtb_id: str, subnet_id: str) -> str:
        association_id = resource_id("rtbassoc")
        async with self.db.unit():
            table = await self.table(account_id, rtb_id)
            subnet = await self.vpcs.own_subnet(account_id, subnet_id)
            if subnet.vpc_id != table["vpc_id"]:
                raise errors.InvalidParameterValue(
                    f"Route table {rtb_id} and subnet {subnet_id} belong to different "
                    "networks")
            current = await self.repo.association_of_subnet(subnet_id)
            if current is not None:
                raise errors.ResourceAlreadyAssociated(
                    f"the specified association for route table {rtb_id} conflicts with "
                    f"an existing association ({current['id']})")
            await self.repo.associate(association_id, rtb_id, table["vpc_id"], subnet_id)
        await self.vpcs.changed()
        return association_id

    async def _association(self, account_id: str, association_id: str | None):
        row = await self.repo.association(account_id, association_id or "")
        if row is None:
            raise errors.InvalidAssociationIDNotFound(
                f"The association ID '{association_id}' does not exist")
        return row

    async def disassociate(self, account_id: str, association_id: str) -> None:
        async with self.db.unit():
            row = await self._association(account_id, association_id)
            if row["subnet_id"] is None:
                raise errors.InvalidParameterValue(
                    f"cannot disassociate the main route table association {association_id}")
            await self.repo.disassociate(association_id)
        await self.vpcs.changed()

    async def replace_association(self, account_id: str, association_id: str,
                                  rtb_id: str) -> str:
        """Point a subnet's association, or the VPC's main one, at another table (a new
        association id, as EC2 gives)."""
        new_id = resource_id("rtbassoc")
        async with self.db.unit():
            row = await self._association(account_id, association_id)
            table = await self.table(account_id, rtb_id)
            if table["vpc_id"] != row["vpc_id"]:
                raise errors.InvalidParameterValue(
                    f"Route table {rtb_id} and association {association_id} belong to "
                    "different networks")
            await self.repo.reassociate(association_id, new_id, rtb_id)
        await self.vpcs.changed()
        return new_id

    # ---- routes ----

    async def _target(self, account_id: str, table, target: RouteTarget) -> None:
        """The target exists for the account and is in the table's VPC."""
        vpc_id = table["vpc_id"]
        elsewhere = errors.InvalidParameterValue(
            f"Route table {table['id']} and network gateway {target.id} belong to "
            "different networks")
        if target.kind == "gateway":
            if not target.id.startswith("igw-"):
                raise errors.InvalidGatewayIDNotFound(
                    f"The gateway ID '{target.id}' does not exist")
            row = await self.gateways.gateway(account_id, target.id)
            if row["vpc_id"] != vpc_id:
                raise elsewhere
        elif target.kind == "nat-gateway":
            row = await self.nat_gateways.find(account_id, target.id)
            if row is None or row["state"] in ("deleting", "deleted"):
                raise errors.InvalidNatGatewayIDNotFound(
                    f"The natGateway ID '{target.id}' does not exist")
            if row["vpc_id"] != vpc_id:
                raise elsewhere
        else:  # an instance or interface: its private address must be in the VPC
            found, ip = await self.repo.private_ip_of(account_id, target.kind, target.id)
            if not found:
                not_found = errors.InvalidInstanceIDNotFound if target.kind == "instance" \
                    else errors.InvalidNetworkInterfaceIDNotFound
                raise not_found(f"The {target.kind} ID '{target.id}' does not exist")
            subnets = [s.cidr for s in await self.vpcs.own_subnets(account_id)
                       if s.vpc_id == vpc_id]
            if ip is None or not any(ipaddress.ip_address(ip) in ipaddress.ip_network(c)
                                     for c in subnets):
                raise errors.InvalidParameterValue(
                    f"Route table {table['id']} and {target.kind} {target.id} belong to "
                    "different networks")

    async def _route_change(self, account_id: str, rtb_id: str, cidr: str | None,
                            target: RouteTarget | None, *, replace: bool) -> None:
        network = _destination(cidr)
        async with self.db.unit():
            table = await self.table(account_id, rtb_id)
            vpc = await self.vpcs.own_vpc(account_id, table["vpc_id"])
            if network.subnet_of(ipaddress.IPv4Network(vpc.cidr)):
                raise errors.InvalidParameterValue(
                    f"The destination CIDR block {network} is equal to or more specific "
                    f"than one of this VPC's CIDR blocks (the local route of {rtb_id}).")
            existing = await self.repo.route(rtb_id, str(network))
            if target is None:  # DeleteRoute
                if existing is None:
                    raise errors.InvalidRouteNotFound(
                        f"no route with destination-cidr-block {network} in route table "
                        f"{rtb_id}")
                await self.repo.delete_route(rtb_id, str(network))
            else:
                if replace and existing is None:
                    raise errors.InvalidRouteNotFound(
                        f"There is no route defined for '{network}' in the route table. "
                        "Use CreateRoute instead.")
                if not replace and existing is not None:
                    raise errors.RouteAlreadyExists(
                        f"The route identified by {network} already exists.")
                await self._target(account_id, table, target)
                await self.repo.put_route(rtb_id, str(network), target.kind, target.id)
        await self.vpcs.changed()

    async def create_route(self, account_id: str, rtb_id: str, cidr: str | None,
                           target: RouteTarget) -> None:
        await self._route_change(account_id, rtb_id, cidr, target, replace=False)

    async def replace_route(self, account_id: str, rtb_id: str, cidr: str | None,
                            target: RouteTarget) -> None:
        await self._route_change(account_id, rtb_id, cidr, target, replace=True)

    async def delete_route(self, account_id: str, rtb_id: str, cidr: str | None) -> None:
        await self._route_change(account_id, rtb_id, cidr, None, replace=False)
