"""Elastic IPs on instances in own VPCs (VPC mode, docs/vpc.md): EC2's rules for
associating one, the internet gateway it needs, and the `dnat_and_snat` rows
of the VPCs' routers (centralized: no logical_port, so the NAT happens on the
gateway port's chassis, as for a NAT gateway's `snat`).

EDGE's associations (instances without a VPC of their own) pass every check
here untouched: the EDGE data plane does their NAT on the node.
"""
from __future__ import annotations

from cloud_controller.ovn.routing import NatRule
from cloud_controller.services.internet_gateways import mapped_addresses
from mallee import errors


class VpcAddresses:
    def __init__(self, vpcs, addresses, gateways, interfaces):
        self.vpcs = vpcs  # VpcService: the change notice OVN follows
        self.addresses = addresses  # AddressService
        self.gateways = gateways  # InternetGatewayService
        self.interfaces = interfaces  # NetworkInterfaceService: what an association maps
        addresses.associate_checks.append(self._may_associate)
        addresses.associate_target = self._target
        addresses.vpc_changed = vpcs.changed
        gateways.detach_checks.append(self._keep_gateway)

    # ---- other services' hooks (inside their units) ----

    async def _may_associate(self, address, instance, private_ip: str | None) -> None:
        if instance["vpc_id"] is None:
            return  # EDGE's, as before VPC mode
        if address["domain"] != "vpc":
            raise errors.InvalidParameterCombination(
                "You must specify an allocation id when mapping an address to a VPC "
                "instance")
        if await self.gateways.of_vpc(instance["vpc_id"]) is None:
            raise errors.GatewayNotAttached(
                f"Network {instance['vpc_id']} is not attached to any internet gateway")

    async def _target(self, address, instance, eni_id: str | None,
                      private_ip: str | None) -> tuple[str, str] | None:
        """(interface, private address) an association maps: NetworkInterfaceId or the
        instance's primary interface, PrivateIpAddress or that interface's primary one."""
        if instance["vpc_id"] is None:
            return None
        eni_id = eni_id or instance["eni_id"]
        row = await self.interfaces.find(address["account_id"], eni_id)
        if row["instance_id"] != instance["id"]:
            raise errors.InvalidParameterCombination(
                f"The network interface {eni_id} is not attached to {instance['id']}.")
        held = [a["private_ip"] for a in
                (await self.interfaces.addresses_of([eni_id]))[eni_id]]
        if private_ip and private_ip not in held:
            raise errors.InvalidParameterValue(
                f"The private IP address {private_ip} is not associated with the network "
                f"interface {eni_id}")
        return eni_id, private_ip or held[0]

    async def _keep_gateway(self, vpc_id: str) -> None:
        if await self.addresses.repo.mapped_in_vpcs(vpc_id):
            raise mapped_addresses(vpc_id)

    # ---- the OVN model ----

    async def nat_rules(self, vpcs_with_gateway) -> list[NatRule]:
        """One dnat_and_snat per mapped address of a VPC with an internet gateway."""
        return [NatRule(row["vpc_id"], row["account_id"], row["id"], "dnat_and_snat",
                        row["public_ip"], row["private_ip"])
                for row in await self.addresses.repo.mapped_in_vpcs()
                if row["vpc_id"] in vpcs_with_gateway]
