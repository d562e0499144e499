"""Elastic IPs and EDGE's public addresses at launch, from each cluster's pool.

An elastic IP (kind 'elastic') belongs to an account until released and is
associated with at most one instance; an instance has at most one public
address (the database enforces both). With `[network] public_ip_at_launch`
an instance gets a pool address (kind 'launch') that it gives up when it
ends or when an elastic IP takes its place. instances.public_ip mirrors the
instance's current public address for DescribeInstances and the view.
"""
from __future__ import annotations

import ipaddress
import logging

from cloud_controller.db.addresses import AddressRepository
from cloud_controller.services.notify import ChangeNotifier
from mallee import errors, ids

log = logging.getLogger(__name__)

LIVE = ("pending", "running")


def parse_pool(entries) -> list[str]:
    """Addresses from "a-b" ranges, CIDRs or single addresses, in order, no repeats."""
    found: dict[str, None] = {}
    for entry in entries:
        entry = entry.strip()
        try:
            if "-" in entry:
                first, last = (ipaddress.IPv4Address(p.strip()) for p in entry.split("-", 1))
                span = range(int(first), int(last) + 1)
                found.update({str(ipaddress.IPv4Address(v)): None for v in span})
            elif "/" in entry:
                found.update({str(a): None for a in ipaddress.IPv4Network(entry).hosts()})
            elif entry:
                found[str(ipaddress.IPv4Address(entry))] = None
        except ValueError as exc:
            raise ValueError(f"bad public address pool entry {entry!r}: {exc}") from exc
    return list(found)


class AddressService:
    def __init__(self, db, settings, clusters, tags, network_changed: ChangeNotifier):
        self.db = db
        self.settings = settings
        self.clusters = clusters  # ClusterMonitor: each CC reports its pool
        self.tags = tags  # TagService: a released address's tags go with it
        self.network_changed = network_changed
        self.repo = AddressRepository(db)
        # Checks a release must pass, added by the services that use elastic IPs
        # (NatGatewayService: a live NAT gateway keeps its address).
        self.release_checks: list = []
        # Checks an association must pass, (address, instance, private_ip) inside its
        # unit, and what follows one that touches an own VPC: VpcAddresses (vpc mode).
        self.associate_checks: list = []
        # async (address, instance, eni id, private ip) -> (eni id, private ip) | None,
        # inside associate's unit: what an association to an own subnet's instance maps
        self.associate_target = None
        self.vpc_changed = None

    def pool(self, cluster) -> list[str]:
        return parse_pool((cluster.network or {}).get("public_ips")
                          or self.settings.network.public_ips)

    async def _take(self, account_id: str, kind: str, domain: str, clusters,
                    wanted: str | None = None):
        """A free pool address of one of `clusters`, recorded; None if there is none."""
        used = await self.repo.used_ips()
        for cluster in clusters:
            pool = self.pool(cluster)
            for ip in ([wanted] if wanted else pool):
                if ip in pool and ip not in used:
                    address_id = ids.resource_id("eipalloc")
                    await self.repo.insert(address_id, account_id, ip, cluster.ref.name,
                                           kind, domain)
                    return address_id, ip
        return None

    async def allocate(self, account_id: str, domain: str | None, address: str | None = None):
        domain = domain or "vpc"
        if domain not in ("vpc", "standard"):
            raise errors.InvalidParameterValue(f"Invalid value '{domain}' for domain.")
        limit = self.settings.network.max_addresses_per_account
        async with self.db.unit():  # the count and the free addresses decide the insert
            if len(await self.repo.elastic(account_id)) >= limit:
                raise errors.AddressLimitExceeded(
                    f"The maximum number of addresses ({limit}) has been reached.")
            taken = await self._take(account_id, "elastic", domain, self.clusters.clusters,
                                     address)
            if taken is None:
                if address:
                    raise errors.InvalidAddressNotFound(
                        f"Address {address} is not in the pool or is in use.")
                raise errors.InsufficientAddressCapacity(
                    "There are no free public addresses in the pool.")
        return await self.repo.find(account_id, address_id=taken[0])

    async def find(self, account_id: str, allocation_id: str | None = None,
                   public_ip: str | None = None):
        if not allocation_id and not public_ip:
            raise errors.MissingParameter(
                "The request must contain the parameter AllocationId or PublicIp")
        row = await self.repo.find(account_id, address_id=allocation_id, public_ip=public_ip)
        if row is None and allocation_id:
            raise errors.InvalidAllocationIDNotFound(
                f"The allocation ID '{allocation_id}' does not exist")
        if row is None:
            raise errors.InvalidAddressNotFound(f"Address '{public_ip}' not found.")
        return row

    async def at_launch_of(self, account_id: str) -> list:
        """The public addresses the account's instances got at launch (not elastic IPs:
        DescribeAddresses does not list them)."""
        return await self.repo.at_launch(account_id)

    async def describe(self, account_id: str, public_ips: list[str], allocation_ids: list[str]):
        rows = await self.repo.elastic(account_id)
        for ip in public_ips:
            await self.find(account_id, public_ip=ip)
        for allocation_id in allocation_ids:
            await self.find(account_id, allocation_id=allocation_id)
        if public_ips or allocation_ids:
            rows = [r for r in rows if r["public_ip"] in public_ips
                    or r["id"] in allocation_ids]
        return rows

    async def associate(self, account_id: str, address, instance, allow_reassociation: bool | None,
                        private_ip: str | None = None, eni_id: str | None = None):
        """Associate the address with `instance` (the caller's row, from InstanceService).
        Both are read again inside the unit: a racing release or terminate may have
        changed them since the caller looked."""
        association_id = ids.resource_id("eipassoc")
        async with self.db.unit():
            address = await self._again(account_id, address["id"])
            found = await self.repo.instance(account_id, instance["id"])
            if found is None:
                raise errors.InvalidInstanceIDNotFound(
                    f"The instance ID '{instance['id']}' does not exist")
            instance = found
            if instance["state"] not in LIVE:
                raise errors.IncorrectInstanceState(
                    f"The instance '{instance['id']}' is not in a valid state for this "
                    f"operation.")
            if instance["cluster"] != address["cluster"]:
                raise errors.InvalidParameterValue(
                    f"Address {address['public_ip']} belongs to another cluster than "
                    f"{instance['id']} ({instance['zone']}).")
            for check in self.associate_checks:
                await check(address, instance, private_ip)
            target = None
            if self.associate_target is not None:
                target = await self.associate_target(address, instance, eni_id, private_ip)
            if target is not None:
                association_id = await self._associate_target(
                    address, instance, allow_reassociation, target)
            else:
                if address["instance_id"] == instance["id"]:
                    return address["association_id"]
                if address["instance_id"] and address["domain"] == "vpc" and \
                        not allow_reassociation:
                    raise errors.ResourceAlreadyAssociated(
                        f"resource {address['id']} is already associated with associate-id "
                        f"{address['association_id']}")
                if address["instance_id"]:  # moving it: the old instance loses it
                    await self.repo.associate(address["id"], None, None)
                    await self.repo.set_instance_ip(address["instance_id"], None)
                current = await self.repo.of_instance(instance["id"])
                if current is not None:  # an elastic IP replaces the one it had
                    if current["kind"] == "launch":
                        await self.repo.delete(current["id"])
                    else:
                        await self.repo.associate(current["id"], None, None)
                await self.repo.associate(address["id"], instance["id"], association_id)
                await self.repo.set_instance_ip(instance["id"], address["public_ip"])
        self.network_changed.notify()
        await self._vpcs_follow(address["vpc_id"] or instance["vpc_id"])
        return association_id

    async def _associate_target(self, address, instance, allow_reassociation, target):
        """Inside associate's unit: an own subnet's interface and private address; an
        address mapped there before loses it, and so does the place this one leaves."""
        if address["instance_id"] == instance["id"] and \
                (address["eni_id"], address["private_ip"]) == target:
            return address["association_id"]
        if address["instance_id"] and not allow_reassociation:
            raise errors.ResourceAlreadyAssociated(
                f"resource {address['id']} is already associated with associate-id "
                f"{address['association_id']}")
        current = await self.repo.of_target(target)
        if current is not None and current["kind"] == "launch":
            await self.repo.delete(current["id"])  # an elastic IP replaces it, as in EC2
        elif current is not None:
            await self.repo.associate(current["id"], None, None)
        association_id = ids.resource_id("eipassoc")
        if address["instance_id"]:  # it leaves its old place
            await self.repo.associate(address["id"], None, None)
        await self.repo.associate(address["id"], instance["id"], association_id, target)
        for affected in {address["instance_id"], instance["id"]} - {None}:
            await self.repo.refresh_instance_ip(affected)
        return association_id

    async def _vpcs_follow(self, vpc_id: str | None) -> None:
        """An own VPC's mapping changed: answered once OVN holds it."""
        if vpc_id and self.vpc_changed is not None:
            await self.vpc_changed()

    async def disassociate(self, account_id: str, association_id: str | None,
                           public_ip: str | None) -> None:
        if not association_id and not public_ip:
            raise errors.MissingParameter(
                "The request must contain the parameter AssociationId or PublicIp")
        async with self.db.unit():
            row = await self.repo.find(account_id, association_id=association_id,
                                       public_ip=public_ip)
            if row is None or not row["instance_id"]:
                if association_id:
                    raise errors.InvalidAssociationIDNotFound(
                        f"The association ID '{association_id}' does not exist")
                if row is None:
                    raise errors.InvalidAddressNotFound(f"Address '{public_ip}' not found.")
                return  # not associated: nothing to do, as in EC2
            await self.repo.associate(row["id"], None, None)
            if row["target_eni"]:  # an own subnet's: another address may stay mapped
                await self.repo.refresh_instance_ip(row["instance_id"])
            else:
                await self.repo.set_instance_ip(row["instance_id"], None)
        self.network_changed.notify()
        await self._vpcs_follow(row["vpc_id"])

    async def _again(self, account_id: str, address_id: str):
        """The address as it is now (inside the caller's unit)."""
        row = await self.repo.find(account_id, address_id=address_id)
        if row is None:
            raise errors.InvalidAllocationIDNotFound(
                f"The allocation ID '{address_id}' does not exist")
        return row

    async def release(self, account_id: str, address) -> None:
        """Read again in the unit: a racing associate may have just taken it."""
        async with self.db.unit():
            address = await self._again(account_id, address["id"])
            if address["instance_id"]:
                raise errors.InvalidIPAddressInUse(
                    f"Address {address['public_ip']} is associated with "
                    f"{address['instance_id']}: disassociate it first.")
            for check in self.release_checks:
                await check(address)
            await self.repo.delete(address["id"])
            await self.tags.forget(address["id"])

    async def at_launch(self, account_id: str, cluster, instance_ids: list[str],
                        targets: list[tuple[str, str]] | None = None) -> None:
        """A public address for each new instance, while the pool has one (in the
        launch's unit, or a unit of its own): EDGE's, or in an own subnet the one its
        VPC's router maps (`targets`: each instance's primary interface and address)."""
        async with self.db.unit():
            for index, instance_id in enumerate(instance_ids):
                taken = await self._take(account_id, "launch", "vpc", [cluster])
                if taken is None:
                    log.warning("no free public address for %s in %s", instance_id,
                                cluster.ref.name)
                    break
                await self.repo.associate(taken[0], instance_id, None,
                                          targets[index] if targets else None)
                await self.repo.set_instance_ip(instance_id, taken[1])

    async def sweep(self, cluster=None) -> None:
        """Ended instances give their public addresses back (after every poll)."""
        if not await self.repo.of_ended_instances():
            return  # the common case: no unit, no wait for the writer
        async with self.db.unit():
            ended = await self.repo.of_ended_instances()
            for row in ended:
                if row["kind"] == "launch":
                    await self.repo.delete(row["id"])
                else:
                    await self.repo.associate(row["id"], None, None)
                await self.repo.set_instance_ip(row["instance_id"], None)
        if ended:
            self.network_changed.notify()
