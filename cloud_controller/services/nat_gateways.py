"""NAT gateways of accounts' own VPCs (VPC mode, docs/vpc.md): public ones,
each with an elastic IP (Domain vpc) of the account and a private address
in its subnet. A gateway is `pending` until OVN holds it, then `available`;
a delete goes `deleting` then `deleted` (the row stays listed, as EC2's
does for a while). In a VPC without an internet gateway it is `failed`
with EC2's Gateway.NotAttached, as EC2 does.
"""
from __future__ import annotations

import ipaddress

from cloud_controller.db.nat_gateways import NatGatewayRepository
from cloud_controller.services.internet_gateways import highest_free, mapped_addresses
from cloud_controller.services.vpcs import VpcPart, has_dependencies
from mallee import errors
from mallee.ids import resource_id


class NatGatewayService(VpcPart):
    def __init__(self, db, vpcs, tags, addresses, gateways):
        self.db = db
        self.vpcs = vpcs  # VpcService
        self.tags = tags
        self.addresses = addresses  # AddressService: the elastic IPs
        self.gateways = gateways  # InternetGatewayService: a public gateway needs one
        self.repo = NatGatewayRepository(db)
        vpcs.members.append(self)
        gateways.detach_checks.append(self._keep_gateway)
        addresses.release_checks.append(self._keep_address)

    # ---- other services' hooks (inside their units) ----

    async def _keep_address(self, address) -> None:
        for nat in await self.repo.live("allocation_id", address["id"]):
            raise errors.InvalidIPAddressInUse(
                f"Address {address['public_ip']} is in use by {nat['id']}: delete the NAT "
                "gateway first.")

    async def vpc_deleting(self, vpc_id: str) -> None:
        if await self.repo.live("vpc_id", vpc_id):
            raise has_dependencies("vpc", vpc_id)

    async def subnet_deleting(self, subnet_id: str) -> None:
        if await self.repo.live("subnet_id", subnet_id):
            raise has_dependencies("subnet", subnet_id)

    async def _keep_gateway(self, vpc_id: str) -> None:
        if await self.repo.live("vpc_id", vpc_id):
            raise mapped_addresses(vpc_id)

    async def held_addresses(self, subnet_id: str) -> set[str]:
        return {row["private_ip"] for row in await self.repo.live("subnet_id", subnet_id)}

    async def _private_ip(self, subnet) -> str:
        """The highest host of the subnet nothing holds (instances are given addresses
        from the bottom)."""
        used = await self.vpcs.addresses_held(subnet.id)
        host = highest_free(ipaddress.ip_network(subnet.cidr), used, reserved_low=4)
        if host is not None:  # (.1-.3 are EC2's)
            return host
        raise errors.InsufficientFreeAddressesInSubnet(
            "Subnet has insufficient free addresses to create this NAT gateway")

    async def create(self, account_id: str, subnet_id: str, allocation_id: str | None,
                     tags: list[tuple[str, str]], client_token: str | None = None):
        """A new NAT gateway, or the one an earlier call with the same ClientToken made
        (boto3 sends one with every call, so a retried request makes no second one)."""
        nat_id = resource_id("nat")
        async with self.db.unit():
            subnet = await self.vpcs.own_subnet(account_id, subnet_id)
            if not allocation_id:
                raise errors.MissingParameter(
                    "The request must contain the parameter AllocationId")
            if client_token:
                earlier = await self.repo.by_token(account_id, client_token)
                if earlier is not None:
                    if (earlier["subnet_id"], earlier["allocation_id"]) != \
                            (subnet_id, allocation_id):
                        raise errors.IdempotentParameterMismatch(
                            "The client token was used with different parameters.")
                    return earlier
            address = await self.addresses.find(account_id, allocation_id=allocation_id)
            if address["instance_id"] or await self.repo.live("allocation_id", allocation_id):
                raise errors.ResourceAlreadyAssociated(
                    f"Elastic IP address [{allocation_id}] is already associated")
            row = {"id": nat_id, "account_id": account_id, "vpc_id": subnet.vpc_id,
                   "subnet_id": subnet.id, "allocation_id": allocation_id,
                   "public_ip": address["public_ip"],
                   "private_ip": await self._private_ip(subnet), "state": "pending",
                   "client_token": client_token}
            if await self.gateways.of_vpc(subnet.vpc_id) is None:
                row.update(state="failed", failure_code="Gateway.NotAttached",
                           failure_message=f"Network {subnet.vpc_id} has no Internet "
                                           "gateway attached")
            await self.repo.insert(row)
            await self.tags.tag_new(account_id, nat_id, "natgateway", tags)
        created = await self.repo.nat(account_id, nat_id)
        if row["state"] == "pending":
            await self._settle(nat_id, "available")
        return created

    async def _settle(self, nat_id: str, state: str) -> None:
        """Once OVN follows the change: pending -> available, deleting -> deleted."""
        await self.vpcs.changed()
        async with self.db.unit():
            await self.repo.set_state(nat_id, state)

    async def find(self, account_id: str, nat_id: str):
        """The account's NAT gateway, or None."""
        return await self.repo.nat(account_id, nat_id)

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
                await self.repo.set_state(nat_id, "deleted")
                return
            await self.repo.set_state(nat_id, "deleting")
        await self._settle(nat_id, "deleted")

    async def list(self, account_id: str | None) -> list:
        """One account's NAT gateways, or (None) every account's."""
        return await self.repo.nats(account_id)
