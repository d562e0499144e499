"""NAT gateways of accounts' own VPCs (VPC mode, docs/vpc.md): public ones,
each with an elastic IP (Domain vpc) of the account and a private address
in its subnet. A gateway is `pending` until OVN holds it, then `available`;
a delete goes `deleting` then `deleted` (the row stays listed, as EC2's
does for a while). In a VPC without an internet gateway it is `failed`
with EC2's Gateway.NotAttached, as EC2 does.
"""
from __future__ import annotations

import ipaddress

from cloud_controller.db.addresses import AddressRepository
from cloud_controller.db.vpc_routing import VpcRoutingRepository
from mallee import errors
from mallee.ids import resource_id

LIVE = ("pending", "available", "deleting")


class NatGatewayService:
    def __init__(self, db, vpcs, tags):
        self.db = db
        self.vpcs = vpcs  # VpcService
        self.tags = tags
        self.repo = VpcRoutingRepository(db)
        self.addresses = AddressRepository(db)

    async def _private_ip(self, subnet) -> str:
        """The highest host of the subnet no other NAT gateway holds (instances are
        given addresses from the bottom)."""
        used = {row["private_ip"] for row in await self.repo.nats()
                if row["subnet_id"] == subnet.id and row["state"] in LIVE}
        hosts = list(ipaddress.ip_network(subnet.cidr).hosts())[3:]  # .1-.3 are EC2's
        for host in reversed(hosts):
            if str(host) not in used:
                return str(host)
        raise errors.InsufficientFreeAddressesInSubnet(
            "Subnet has insufficient free addresses to create this NAT gateway")

    async def create(self, account_id: str, subnet_id: str, allocation_id: str | None,
                     tags: list[tuple[str, str]]):
        nat_id = resource_id("nat")
        async with self.db.unit():
            subnet = await self.vpcs.own_subnet(account_id, subnet_id)
            if not allocation_id:
                raise errors.MissingParameter(
                    "The request must contain the parameter AllocationId")
            address = await self.addresses.find(account_id, address_id=allocation_id)
            if address is None:
                raise errors.InvalidAllocationIDNotFound(
                    f"The allocation ID '{allocation_id}' does not exist")
            if address["instance_id"] or await self.repo.live_nats(allocation_id=allocation_id):
                raise errors.ResourceAlreadyAssociated(
                    f"Elastic IP address [{allocation_id}] is already associated")
            row = {"id": nat_id, "account_id": account_id, "vpc_id": subnet.vpc_id,
                   "subnet_id": subnet.id, "allocation_id": allocation_id,
                   "public_ip": address["public_ip"],
                   "private_ip": await self._private_ip(subnet), "state": "pending"}
            if await self.repo.gateway_of_vpc(subnet.vpc_id) is None:
                row.update(state="failed", failure_code="Gateway.NotAttached",
                           failure_message=f"Network {subnet.vpc_id} has no Internet "
                                           "gateway attached")
            await self.repo.insert_nat(row)
            await self.tags.tag_new(account_id, nat_id, "natgateway", tags)
        created = await self.repo.nat(account_id, nat_id)
        if row["state"] == "pending":
            await self._settle(nat_id, "available")
        return created

    async def _settle(self, nat_id: str, state: str) -> None:
        """Once OVN follows the change: pending -> available, deleting -> deleted."""
        await self.vpcs.changed()
        async with self.db.unit():
            await self.repo.set_nat_state(nat_id, state)

    async def nat(self, account_id: str, nat_id: str | None):
        row = await self.repo.nat(account_id, nat_id or "")
        if row is None:
            raise errors.NatGatewayNotFound(f"The Nat Gateway {nat_id} was not found")
        return row

    async def delete(self, account_id: str, nat_id: str) -> None:
        async with self.db.unit():
            row = await self.nat(account_id, nat_id)
            if row["state"] in ("deleted", "deleting"):
                return
            if row["state"] == "failed":
                await self.repo.set_nat_state(nat_id, "deleted")
                return
            await self.repo.set_nat_state(nat_id, "deleting")
        await self._settle(nat_id, "deleted")

    async def list(self, account_id: str) -> list:
        return await self.repo.nats(account_id)
