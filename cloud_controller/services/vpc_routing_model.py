"""The routing part of VPC mode's OVN model (docs/vpc.md): what OvnSync hands
to `Northbound.converge` besides the routers and switches, read through the
services of the VPCs and their parts (every account's own VPCs)."""
from __future__ import annotations

from cloud_controller.ovn.routing import Gateway, NatRule, Route, RoutingModel
from cloud_controller.services.dhcp_options import config_of, dhcp_for_ovn
from cloud_controller.services.internet_gateways import outside_segment
from cloud_controller.services.vpcs import implicit_parts

def default_dhcp_config(account_id: str, region: str) -> list[tuple[str, list[str]]]:
    """The account's default option set (`default`), as the default VPC shows it."""
    return [("domain-name", [implicit_parts(account_id, region).domain_name]),
            ("domain-name-servers", ["AmazonProvidedDNS"])]


class VpcRoutingModel:
    def __init__(self, settings, vpcs, parts):
        self.settings = settings
        self.vpcs = vpcs  # VpcService
        self.parts = parts  # VpcParts: gateways, route tables, NAT gateways, DHCP options

    def _gateway(self, row) -> Gateway:
        return Gateway(row["id"], row["vpc_id"], row["account_id"], row["outside_ip"],
                       outside_segment(self.settings).prefixlen,
                       self.settings.network.uplink_gateway)

    async def ovn_model(self) -> RoutingModel:
        parts = self.parts
        vpcs = {v.id: v for v in await self.vpcs.own_vpcs(None)}
        subnets = await self.vpcs.own_subnets(None)
        gateways = {row["vpc_id"]: self._gateway(row)
                    for row in await parts.internet_gateways.list(None)
                    if row["vpc_id"] in vpcs}
        table_rows, associations, routes = await parts.route_tables.listing(None)
        tables = {row["id"]: row for row in table_rows}
        main = {a["vpc_id"]: a["route_table_id"] for a in associations if a["subnet_id"] is None}
        explicit = {a["subnet_id"]: a["route_table_id"] for a in associations
                    if a["subnet_id"] is not None}
        port_tables = {s.id: explicit.get(s.id, main.get(s.vpc_id)) for s in subnets}
        targets = await parts.route_tables.targets(None)
        model = RoutingModel(gateways=list(gateways.values()),
                             port_tables={k: v for k, v in port_tables.items() if v})
        for route in routes:
            table = tables.get(route["route_table_id"])
            if table is None or table["vpc_id"] not in vpcs:
                continue
            vpc_id, account_id = table["vpc_id"], table["account_id"]
            kind, target = route["target_kind"], route["target_id"]
            gateway = gateways.get(vpc_id)
            if not targets.live(vpc_id, route):
                continue  # a blackhole: nothing to route to
            if kind in ("instance", "network-interface"):
                model.routes.append(Route(vpc_id, account_id, table["id"],
                                          route["destination"], targets.ips[target]))
                continue
            if gateway is None:  # a NAT gateway's way out is the internet gateway
                continue
            model.routes.append(Route(vpc_id, account_id, table["id"], route["destination"],
                                      gateway.next_hop, gateway.router_port))
            if kind == "nat-gateway":
                model.nats += [NatRule(vpc_id, account_id, target, "snat",
                                       targets.nats[target]["public_ip"], s.cidr)
                               for s in subnets if port_tables.get(s.id) == table["id"]]
        model.nats += await parts.addresses.nat_rules(gateways.keys())
        region = self.settings.cloud.region
        sets = {row["id"]: config_of(row) for row in await parts.dhcp_options.list(None)}
        for subnet in subnets:
            vpc = vpcs[subnet.vpc_id]
            config = sets.get(vpc.dhcp_options_id) or \
                default_dhcp_config(vpc.account_id, region)
            model.dhcp[subnet.id] = dhcp_for_ovn(config, vpc.cidr)
        return model
