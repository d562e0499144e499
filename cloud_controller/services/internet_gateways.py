"""Internet gateways of accounts' own VPCs (VPC mode, docs/vpc.md).

Attaching one gives the VPC's OVN router a gateway port with an address of
the outside segment (the network of `[network] uplink_address`), taken from
the top of that segment down, never an elastic IP of the pool, the uplink's
own address or its gateway; detaching gives the address back.
"""
from __future__ import annotations

import ipaddress

from cloud_controller.db.internet_gateways import InternetGatewayRepository
from cloud_controller.services.vpcs import VpcPart, dependency, has_dependencies
from mallee import errors
from mallee.ids import resource_id

from cloud_controller.services.addresses import parse_pool


def outside_segment(settings) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Interface(settings.network.uplink_address).network


def highest_free(network: ipaddress.IPv4Network, taken: set[str],
                 reserved_low: int = 1) -> str | None:
    """The highest host of `network` not in `taken`, above its first `reserved_low`
    addresses; at most len(taken) + 1 steps, never a list of the network."""
    lowest = int(network.network_address) + reserved_low
    for value in range(int(network.broadcast_address) - 1, lowest - 1, -1):
        host = str(ipaddress.IPv4Address(value))
        if host not in taken:
            return host
    return None


def mapped_addresses(vpc_id: str) -> errors.DependencyViolation:
    """EC2's refusal to detach a gateway that public addresses of the VPC use (a NAT
    gateway's, an elastic IP on an instance)."""
    return errors.DependencyViolation(
        f"Network {vpc_id} has some mapped public address(es). Please unmap those "
        "public address(es) before detaching the gateway.")


class InternetGatewayService(VpcPart):
    def __init__(self, db, settings, vpcs, tags):
        self.db = db
        self.settings = settings
        self.vpcs = vpcs  # VpcService: own VPCs, and the change notice OVN follows
        self.tags = tags
        self.repo = InternetGatewayRepository(db)
        # Checks a detach must pass, added by the services that depend on the gateway
        # (NatGatewayService: a VPC with live NAT gateways keeps its gateway).
        self.detach_checks: list = []
        vpcs.members.append(self)

    # ---- VpcService's hooks (inside its unit) ----

    async def vpc_deleting(self, vpc_id: str) -> None:
        if await self.repo.of_vpc(vpc_id) is not None:
            raise dependency(vpc_id)

    async def create(self, account_id: str, tags: list[tuple[str, str]],
                     igw_id: str | None = None) -> str:
        igw_id = igw_id or resource_id("igw")
        async with self.db.unit():
            await self.repo.insert(igw_id, account_id)
            await self.tags.tag_new(account_id, igw_id, "internet-gateway", tags)
        return igw_id

    async def gateway(self, account_id: str, igw_id: str | None):
        row = await self.repo.gateway(account_id, igw_id or "")
        if row is None:
            raise errors.InvalidInternetGatewayIDNotFound(
                f"The internetGateway ID '{igw_id}' does not exist")
        return row

    async def _outside_ip(self) -> str:
        network = self.settings.network
        taken = await self.repo.outside_ips() | set(parse_pool(network.public_ips)) | {
            str(ipaddress.IPv4Interface(network.uplink_address).ip), network.uplink_gateway}
        host = highest_free(outside_segment(self.settings), taken)
        if host is not None:
            return host
        raise errors.InsufficientAddressCapacity(
            "The outside segment has no free address for another internet gateway.")

    async def create_attached(self, account_id: str, vpc_id: str, igw_id: str) -> str:
        """In the caller's unit: a new gateway attached to the VPC (a default VPC's)."""
        await self.create(account_id, [], igw_id)
        await self.repo.attach(igw_id, vpc_id, await self._outside_ip())
        return igw_id

    async def attach(self, account_id: str, igw_id: str, vpc_id: str) -> None:
        async with self.db.unit():
            gateway = await self.gateway(account_id, igw_id)
            await self.vpcs.own_vpc(account_id, vpc_id)
            if gateway["vpc_id"] is not None:
                raise errors.ResourceAlreadyAssociated(
                    f"resource {igw_id} is already attached to network {gateway['vpc_id']}")
            if await self.repo.of_vpc(vpc_id) is not None:
                raise errors.ResourceAlreadyAssociated(
                    f"Network {vpc_id} already has an internet gateway attached")
            await self.repo.attach(igw_id, vpc_id, await self._outside_ip())
        await self.vpcs.changed()

    async def detach(self, account_id: str, igw_id: str, vpc_id: str) -> None:
        async with self.db.unit():
            gateway = await self.gateway(account_id, igw_id)
            await self.vpcs.own_vpc(account_id, vpc_id)
            if gateway["vpc_id"] != vpc_id:
                raise errors.GatewayNotAttached(
                    f"resource {igw_id} is not attached to network {vpc_id}")
            for check in self.detach_checks:
                await check(vpc_id)
            await self.repo.attach(igw_id, None, None)
        await self.vpcs.changed()

    async def delete(self, account_id: str, igw_id: str) -> None:
        async with self.db.unit():
            gateway = await self.gateway(account_id, igw_id)
            if gateway["vpc_id"] is not None:
                raise has_dependencies("internetGateway", igw_id)
            await self.repo.delete(igw_id)
            await self.tags.forget(igw_id)

    async def list(self, account_id: str | None) -> list:
        """One account's gateways, or (None) every account's."""
        return await self.repo.gateways(account_id)

    async def of_vpc(self, vpc_id: str):
        """The gateway attached to the VPC, or None."""
        return await self.repo.of_vpc(vpc_id)
