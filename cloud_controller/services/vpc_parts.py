"""The services of an own VPC's parts (VPC mode, docs/vpc.md), built together."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.services.dhcp_options import DhcpOptionsService
from cloud_controller.services.internet_gateways import InternetGatewayService
from cloud_controller.services.nat_gateways import NatGatewayService
from cloud_controller.services.route_tables import RouteTableService
from cloud_controller.services.vpc_addresses import VpcAddresses


@dataclass
class VpcParts:
    internet_gateways: InternetGatewayService
    route_tables: RouteTableService
    nat_gateways: NatGatewayService
    dhcp_options: DhcpOptionsService
    addresses: VpcAddresses  # elastic IPs on instances in own VPCs

    @classmethod
    def build(cls, db, settings, vpcs, tags, addresses, interfaces) -> "VpcParts":
        gateways = InternetGatewayService(db, settings, vpcs, tags)
        nat_gateways = NatGatewayService(db, vpcs, tags, addresses, gateways)
        return cls(gateways, RouteTableService(db, vpcs, tags, gateways, nat_gateways),
                   nat_gateways, DhcpOptionsService(db, vpcs, tags),
                   VpcAddresses(vpcs, addresses, gateways, interfaces))
