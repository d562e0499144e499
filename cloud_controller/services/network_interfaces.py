"""Network interfaces in own subnets (VPC mode, docs/vpc.md): EC2's
CreateNetworkInterface, attachments, secondary private addresses and a group
set per interface, and an instance's interfaces at launch and termination.

Every interface in an own subnet is a row here with its addresses (unique per
subnet) and, unless it is an instance's primary one (device index 0, whose
groups are the instance's groupSet), its own groups. While it is attached to
a live instance it is a Logical_Switch_Port of its own (VpcService.ovn_ports)
in its groups' port groups (VpcService.group_ports). An EDGE instance's one
interface keeps its address and groups on the instance, as before VPC mode.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from cloud_controller.db.network_interfaces import NetworkInterfaceRepository
from cloud_controller.services import subnet_addresses
from cloud_controller.services.instances import mac_for
from cloud_controller.services.vpcs import VpcPart, has_dependencies
from mallee import errors, ids

# Private IPv4 addresses per interface (EC2's limit depends on the instance type;
# its smaller types allow 2 to 15; one limit for every interface here).
MAX_ADDRESSES_PER_INTERFACE = 10
MAX_INTERFACES_PER_INSTANCE = 8
MAX_GROUPS_PER_INTERFACE = 5
# An instance's interfaces can be attached or detached only while it is stopped:
# the NC builds a guest's NICs when it starts it (no hot plug yet, docs/vpc.md).
ATTACHABLE = ("stopped",)
HOT = ("pending", "running", "stopping")
ENDED = ("shutting-down", "terminated")


@dataclass
class NicSpec:
    """One RunInstances NetworkInterface.N (or the instance-level SubnetId, as
    device 0), or CreateNetworkInterface's parameters."""
    device_index: int | None = None
    subnet_id: str | None = None
    network_interface_id: str | None = None
    group_ids: list[str] = field(default_factory=list)
    private_ip: str | None = None
    private_ips: list[tuple[str, bool]] = field(default_factory=list)  # (address, primary)
    secondary_count: int | None = None
    delete_on_termination: bool | None = None
    description: str | None = None


@dataclass
class PlannedNic:
    """An interface one launched instance gets: a new one (`subnet`, `addresses`,
    `groups`) or an existing available one (`existing`)."""
    device_index: int
    delete_on_termination: bool
    eni_id: str
    subnet: object = None
    addresses: list[str] = field(default_factory=list)  # the primary first
    groups: list[dict] = field(default_factory=list)
    description: str = ""
    existing: object = None  # the interface's row
    mac: str | None = None

    def place(self) -> tuple[str, str]:
        """(subnet id, VPC id) of the interface."""
        if self.existing is not None:
            return self.existing["subnet_id"], self.existing["vpc_id"]
        return self.subnet.id, self.subnet.vpc_id


def not_found(eni_id: str) -> errors.ApiError:
    return errors.InvalidNetworkInterfaceIDNotFound(
        f"The networkInterface ID '{eni_id}' does not exist")


def in_use(eni_id: str) -> errors.ApiError:
    return errors.InvalidNetworkInterfaceInUse(f"Interface: [{eni_id}] in use.")


def _listed_and_counted() -> errors.ApiError:
    return errors.InvalidParameterCombination(
        "The parameters privateIpAddresses and secondaryPrivateIpAddressCount cannot be "
        "used together.")


def _check_id(eni_id: str) -> None:
    if not eni_id or not eni_id.startswith("eni-"):
        raise errors.InvalidNetworkInterfaceIDMalformed(
            f"Invalid id: \"{eni_id}\" (expecting \"eni-...\")")


def _limit(count: int) -> None:
    if count > MAX_ADDRESSES_PER_INTERFACE:
        raise errors.PrivateIpAddressLimitExceeded(
            f"Number of private addresses will exceed limit of "
            f"{MAX_ADDRESSES_PER_INTERFACE} for this interface.")


def _requested(spec: NicSpec) -> tuple[str | None, list[str]]:
    """(primary address asked for, secondary addresses asked for) of a spec."""
    primaries = [a for a, primary in spec.private_ips if primary]
    if len(primaries) > 1:
        raise errors.InvalidParameterValue(
            "Only one private IP address can be designated as primary.")
    if spec.private_ip and primaries and primaries[0] != spec.private_ip:
        raise errors.InvalidParameterCombination(
            "The primary private IP address was specified twice with different values.")
    primary = spec.private_ip or (primaries[0] if primaries else None)
    secondary = [a for a, p in spec.private_ips if not p and a != primary]
    if spec.secondary_count is not None:
        if spec.private_ips and secondary:
            raise _listed_and_counted()
        if spec.secondary_count < 1:
            raise errors.InvalidParameterValue(
                f"Value ({spec.secondary_count}) for parameter "
                "secondaryPrivateIpAddressCount is invalid. It must be at least 1.")
    if len(set(secondary)) != len(secondary):
        raise errors.InvalidParameterValue("The same private IP address was given twice.")
    return primary, secondary


class NetworkInterfaceService(VpcPart):
    def __init__(self, db, vpcs, security_groups, tags):
        self.db = db
        self.vpcs = vpcs  # VpcService: own subnets, their held addresses; OVN follows
        self.security_groups = security_groups  # the groups an interface may be in
        self.tags = tags
        self.repo = NetworkInterfaceRepository(db)
        self.instances = None  # InstanceService, which sets itself here
        vpcs.members.append(self)
        security_groups.delete_checks.append(self._keep_group)

    # ---- other services' hooks (inside their units) ----

    async def subnet_deleting(self, subnet_id: str) -> None:
        if await self.repo.count_in(subnet_id):
            raise has_dependencies("subnet", subnet_id)

    async def held_addresses(self, subnet_id: str) -> set[str]:
        return await self.repo.addresses_in(subnet_id)

    async def _keep_group(self, group) -> None:
        users = await self.repo.using_group(group["id"])
        if users:
            raise errors.DependencyViolation(
                f"resource {group['id']} has a dependent object: it is in use by "
                f"{', '.join(users[:5])}")

    # ---- reading ----

    async def find(self, account_id: str, eni_id: str):
        _check_id(eni_id)
        row = await self.repo.get(account_id, eni_id)
        if row is None or row["instance_state"] == "terminated":
            raise not_found(eni_id)
        return row

    async def describe(self, account_id: str) -> list:
        return await self.repo.of_account(account_id)

    async def addresses_of(self, eni_ids: list[str]) -> dict[str, list]:
        return await self.repo.addresses_of(eni_ids)

    async def groups_of(self, eni_ids: list[str]) -> dict[str, list[dict]]:
        return await self.repo.groups_of(eni_ids)

    async def of_instances(self, instance_ids: list[str]) -> dict[str, list]:
        return await self.repo.of_instances(instance_ids)

    # ---- addresses ----

    @staticmethod
    def _choose(subnet, used: set[str], primary: str | None, secondary: list[str],
                count: int) -> list[str]:
        """The interface's addresses, the primary first; `used` takes them."""
        _limit(1 + len(secondary) + count)
        out = []
        for asked in ([primary] if primary else []) + secondary:
            out.append(subnet_addresses.check_requested(subnet.cidr, asked, used))
            used.add(out[-1])
        need = (0 if primary else 1) + count
        if need:
            chosen = subnet_addresses.choose(subnet.cidr, used, need)
            used.update(chosen)
            out = (chosen[:1] + out + chosen[1:]) if not primary else out + chosen
        return out

    async def _groups(self, account_id: str, group_ids: list[str], subnet) -> list[dict]:
        if len(dict.fromkeys(group_ids)) > MAX_GROUPS_PER_INTERFACE:
            raise errors.SecurityGroupsPerInterfaceLimitExceeded(
                f"The maximum number of security groups per interface "
                f"({MAX_GROUPS_PER_INTERFACE}) has been reached.")
        return await self.security_groups.for_launch(account_id, [], group_ids, subnet)

    # ---- CreateNetworkInterface, DeleteNetworkInterface ----

    async def create(self, account_id: str, spec: NicSpec, tags: list[tuple[str, str]]):
        if not spec.subnet_id:
            raise errors.MissingParameter("The request must contain the parameter subnetId")
        primary, secondary = _requested(spec)
        eni_id = ids.resource_id("eni")
        async with self.db.unit():  # the free addresses are read where they are taken
            subnet = await self.vpcs.own_subnet(account_id, spec.subnet_id)
            groups = await self._groups(account_id, spec.group_ids, subnet)
            used = await self.vpcs.addresses_held(subnet.id)
            addresses = self._choose(subnet, used, primary, secondary,
                                     spec.secondary_count or 0)
            await self._insert(account_id, PlannedNic(
                0, False, eni_id, subnet, addresses, groups, spec.description or ""), None)
            await self.tags.tag_new(account_id, eni_id, "network-interface", tags)
        return await self.find(account_id, eni_id)

    async def _insert(self, account_id: str, nic: PlannedNic, instance) -> None:
        """A new interface's rows; attached to `instance` (a row) if given."""
        now = time.time()
        subnet = nic.subnet
        await self.repo.insert({
            "id": nic.eni_id, "account_id": account_id, "description": nic.description,
            "subnet_id": subnet.id, "vpc_id": subnet.vpc_id, "zone": subnet.zone,
            "mac": nic.mac or mac_for(nic.eni_id), "created_at": now,
            "delete_on_termination": nic.delete_on_termination,
            **({"instance_id": instance["id"], "device_index": nic.device_index,
                "attachment_id": ids.resource_id("eni-attach"), "attached_at": now}
               if instance is not None else {})})
        await self.repo.add_addresses(nic.eni_id, subnet.id, nic.addresses[:1], primary=True)
        await self.repo.add_addresses(nic.eni_id, subnet.id, nic.addresses[1:])
        if instance is None or nic.device_index != 0:
            await self.repo.set_groups(nic.eni_id, [g["id"] for g in nic.groups])

    async def delete(self, account_id: str, eni_id: str) -> None:
        async with self.db.unit():
            row = await self.find(account_id, eni_id)
            if row["instance_id"] and row["instance_state"] != "terminated":
                raise errors.InvalidNetworkInterfaceInUse(
                    f"The network interface '{eni_id}' is currently in use.")
            await self.repo.delete(eni_id)
            await self.tags.forget(eni_id)

    # ---- AttachNetworkInterface, DetachNetworkInterface ----

    async def attach(self, account_id: str, eni_id: str, instance_id: str,
                     device_index: int) -> str:
        if device_index is None or device_index < 0:
            raise errors.InvalidParameterValue(
                f"Value ({device_index}) for parameter deviceIndex is invalid.")
        attachment_id = ids.resource_id("eni-attach")
        async with self.db.unit():
            row = await self.find(account_id, eni_id)
            instance = (await self.instances.find(account_id, [instance_id]))[0]
            if row["instance_id"]:
                raise in_use(eni_id)
            if not instance["subnet_id"]:
                raise errors.InvalidParameterCombination(
                    f"The network interface {eni_id} and the instance {instance_id} belong "
                    "to different networks.")
            if instance["zone"] != row["zone"]:
                raise errors.InvalidParameterCombination(
                    "You may not attach a network interface to an instance if they are not "
                    "in the same availability zone")
            if instance["vpc_id"] != row["vpc_id"]:
                raise errors.InvalidParameterCombination(
                    f"The network interface {eni_id} and the instance {instance_id} belong "
                    "to different networks.")
            attached = (await self.repo.of_instances([instance_id]))[instance_id]
            if any(a["device_index"] == device_index for a in attached):
                raise errors.InvalidParameterValue(
                    f"Instance '{instance_id}' already has an interface attached at device "
                    f"index '{device_index}'.")
            if len(attached) >= MAX_INTERFACES_PER_INSTANCE:
                raise errors.AttachmentLimitExceeded(
                    f"Interface count {len(attached) + 1} exceeds the limit for "
                    f"{instance['instance_type']}")
            self._attachable(instance)
            await self.repo.attach(eni_id, instance_id, device_index, attachment_id,
                                   time.time(), False)
        await self.vpcs.ports_changed()
        return attachment_id

    @staticmethod
    def _attachable(instance) -> None:
        if instance["state"] in HOT:
            raise errors.UnsupportedOperation(
                f"The instance '{instance['id']}' is {instance['state']}: this cloud attaches "
                "and detaches network interfaces only while an instance is stopped (no hot "
                "plug yet).")
        if instance["state"] not in ATTACHABLE:
            raise errors.IncorrectInstanceState(
                f"The instance '{instance['id']}' is not in a valid state for this "
                "operation.")

    async def detach(self, account_id: str, attachment_id: str, force: bool = False) -> None:
        async with self.db.unit():
            row = await self.repo.by_attachment(account_id, attachment_id or "")
            if row is None or row["instance_state"] == "terminated":
                raise errors.InvalidAttachmentIDNotFound(
                    f"The attachment ID '{attachment_id}' does not exist")
            if row["device_index"] == 0:
                raise errors.OperationNotPermitted(
                    "The network interface at device index 0 cannot be detached.")
            instance = (await self.instances.find(account_id, [row["instance_id"]]))[0]
            self._attachable(instance)
            await self.repo.detach(row["id"])
        await self.vpcs.ports_changed()

    # ---- ModifyNetworkInterfaceAttribute ----

    async def modify(self, account_id: str, eni_id: str, *, description: str | None = None,
                     group_ids: list[str] | None = None, source_dest_check: bool | None = None,
                     attachment: tuple[str, bool] | None = None) -> None:
        given = [v for v in (description, group_ids, source_dest_check, attachment)
                 if v is not None]
        if not given:
            raise errors.MissingParameter(
                "The request must contain exactly one of description, groupSet, "
                "sourceDestCheck or attachment")
        if len(given) > 1:
            raise errors.InvalidParameterCombination(
                "Only one attribute can be modified at a time.")
        async with self.db.unit():
            row = await self.find(account_id, eni_id)
            if description is not None:
                await self.repo.update(eni_id, description=description)
            elif source_dest_check is not None:
                await self.repo.update(eni_id, source_dest_check=int(source_dest_check))
            elif attachment is not None:
                if attachment[0] != row["attachment_id"]:
                    raise errors.InvalidAttachmentIDNotFound(
                        f"The attachment ID '{attachment[0]}' does not exist")
                await self.repo.update(eni_id, delete_on_termination=int(attachment[1]))
            else:
                subnet = await self.vpcs.own_subnet(account_id, row["subnet_id"])
                if not group_ids:
                    raise errors.MissingParameter(
                        "The request must contain the parameter groupSet")
                groups = [g["id"] for g in await self._groups(account_id, group_ids, subnet)]
                if row["device_index"] == 0:
                    await self.repo.set_instance_groups(row["instance_id"], groups)
                else:
                    await self.repo.set_groups(eni_id, groups)
        if (group_ids is not None or source_dest_check is not None) and row["instance_id"]:
            await self.vpcs.ports_changed()  # its port changes port groups or security

    # ---- AssignPrivateIpAddresses, UnassignPrivateIpAddresses ----

    async def assign(self, account_id: str, eni_id: str, addresses: list[str],
                     count: int | None, allow_reassignment: bool = False) -> list[str]:
        if addresses and count is not None:
            raise _listed_and_counted()
        if not addresses and count is None:
            raise errors.MissingParameter(
                "The request must contain the parameter privateIpAddresses or "
                "secondaryPrivateIpAddressCount")
        if count is not None and count < 1:
            raise errors.InvalidParameterValue(
                f"Value ({count}) for parameter secondaryPrivateIpAddressCount is invalid.")
        async with self.db.unit():
            row = await self.find(account_id, eni_id)
            subnet = await self.vpcs.own_subnet(account_id, row["subnet_id"])
            have = [a["private_ip"] for a in (await self.repo.addresses_of([eni_id]))[eni_id]]
            used = await self.vpcs.addresses_held(subnet.id)
            if allow_reassignment:
                await self._take_back(account_id, subnet.id, eni_id, addresses, used)
            asked = [a for a in dict.fromkeys(addresses) if a not in have]
            _limit(len(have) + len(asked) + (count or 0))
            new = []
            for address in asked:
                new.append(subnet_addresses.check_requested(subnet.cidr, address, used))
                used.add(new[-1])
            if count:
                new += subnet_addresses.choose(subnet.cidr, used, count)
            await self.repo.add_addresses(eni_id, subnet.id, new)
        if row["instance_id"]:
            await self.vpcs.ports_changed()
        return new

    async def _take_back(self, account_id: str, subnet_id: str, eni_id: str,
                         addresses: list[str], used: set[str]) -> None:
        """AllowReassignment: a secondary address of another of the account's interfaces
        in the subnet moves to this one."""
        for other in await self.repo.of_account(account_id):
            if other["id"] == eni_id or other["subnet_id"] != subnet_id:
                continue
            rows = (await self.repo.addresses_of([other["id"]]))[other["id"]]
            moving = [r["private_ip"] for r in rows
                      if r["private_ip"] in addresses and not r["is_primary"]]
            if moving:
                await self.repo.remove_addresses(other["id"], moving)
                used.difference_update(moving)

    async def unassign(self, account_id: str, eni_id: str, addresses: list[str]) -> None:
        if not addresses:
            raise errors.MissingParameter(
                "The request must contain the parameter privateIpAddress")
        async with self.db.unit():
            row = await self.find(account_id, eni_id)
            rows = {a["private_ip"]: a for a in
                    (await self.repo.addresses_of([eni_id]))[eni_id]}
            if any(a not in rows for a in addresses):
                raise errors.InvalidParameterValue(
                    f"Some of the specified addresses are not assigned to interface {eni_id}")
            if any(rows[a]["is_primary"] for a in addresses):
                raise errors.InvalidParameterValue(
                    f"The primary private IP address of interface {eni_id} cannot be "
                    "unassigned.")
            await self.repo.remove_addresses(eni_id, addresses)
        if row["instance_id"]:
            await self.vpcs.ports_changed()

    # ---- RunInstances and TerminateInstances (inside InstanceService's units) ----

    async def plan_launch(self, account_id: str, specs: list[NicSpec], count: int,
                          names: list[str]) -> list[list[PlannedNic]]:
        """For each of `count` instances, its interfaces in device-index order (device 0
        first); the addresses are taken from what the subnets hold now."""
        indexes = [0 if s.device_index is None and len(specs) == 1 else s.device_index
                   for s in specs]
        if any(i is None for i in indexes):
            raise errors.InvalidParameterValue("Each network interface requires a device index.")
        if len(set(indexes)) != len(indexes):
            raise errors.InvalidParameterValue(
                "Each network interface requires a unique device index.")
        if 0 not in indexes:
            raise errors.InvalidParameterValue(
                "When specifying network interfaces, you must include a device at index 0.")
        if len(specs) > MAX_INTERFACES_PER_INSTANCE:
            raise errors.AttachmentLimitExceeded(
                f"Interface count {len(specs)} exceeds the limit of "
                f"{MAX_INTERFACES_PER_INSTANCE}.")
        ordered = sorted(zip(indexes, specs), key=lambda p: p[0])
        subnets, existing, zones, vpcs = {}, {}, set(), set()
        for index, spec in ordered:
            if spec.network_interface_id:
                if spec.subnet_id or spec.group_ids or spec.private_ip or spec.private_ips \
                        or spec.secondary_count:
                    raise errors.InvalidParameterCombination(
                        "A network interface may not specify both a network interface ID "
                        "and a subnet, security groups or private addresses.")
                if count > 1:
                    raise errors.InvalidParameterCombination(
                        "Network interface ID may not be specified on launch of more than "
                        "one instance.")
                row = await self.find(account_id, spec.network_interface_id)
                if row["instance_id"]:
                    raise in_use(row["id"])
                existing[index] = row
                zones.add(row["zone"])
                vpcs.add(row["vpc_id"])
            else:
                if not spec.subnet_id:
                    raise errors.MissingParameter(
                        "The request must contain the parameter subnetId")
                subnet = subnets.get(spec.subnet_id) or await self.vpcs.own_subnet(
                    account_id, spec.subnet_id)
                subnets[spec.subnet_id] = subnet
                zones.add(subnet.zone)
                vpcs.add(subnet.vpc_id)
        if len(zones) > 1:
            raise errors.InvalidParameterCombination(
                "The network interfaces of an instance must all be in the same availability "
                "zone.")
        if len(vpcs) > 1:
            raise errors.InvalidParameterCombination(
                "The network interfaces of an instance must all be in the same VPC.")
        used = {s: await self.vpcs.addresses_held(s) for s in subnets}
        plans: list[list[PlannedNic]] = [[] for _ in range(count)]
        for index, spec in ordered:
            if index in existing:
                row = existing[index]
                dot = bool(spec.delete_on_termination)  # EC2: false for an existing one
                plans[0].append(PlannedNic(index, dot, row["id"], existing=row,
                                           mac=row["mac"]))
                continue
            subnet = subnets[spec.subnet_id]
            groups = await self.security_groups.for_launch(
                account_id, names if index == 0 else [], spec.group_ids, subnet)
            primary, secondary = _requested(spec)
            if (primary or secondary) and count > 1:
                raise errors.InvalidParameterCombination(
                    "Cannot specify a private IP address when launching more than one "
                    "instance.")
            dot = True if spec.delete_on_termination is None else spec.delete_on_termination
            for plan in plans:
                addresses = self._choose(subnet, used[subnet.id], primary, secondary,
                                         spec.secondary_count or 0)
                plan.append(PlannedNic(index, dot, ids.resource_id("eni"), subnet, addresses,
                                       groups, spec.description or ""))
        return plans

    async def primary_groups(self, nic: PlannedNic) -> list[str]:
        """The group ids of an instance whose device 0 is `nic`."""
        if nic.existing is None:
            return [g["id"] for g in nic.groups]
        return [g["id"] for g in (await self.repo.groups_of([nic.eni_id]))[nic.eni_id]]

    async def primary_address(self, nic: PlannedNic) -> str:
        if nic.existing is None:
            return nic.addresses[0]
        return (await self.repo.addresses_of([nic.eni_id]))[nic.eni_id][0]["private_ip"]

    async def record_launch(self, account_id: str, instance, plan: list[PlannedNic],
                            tags: list[tuple[str, str]]) -> None:
        """Inside the launch's unit, after the instance's row: its interfaces."""
        for nic in plan:
            if nic.existing is None:
                await self._insert(account_id, nic, instance)
                await self.tags.tag_new(account_id, nic.eni_id, "network-interface", tags)
                continue
            await self.repo.attach(nic.eni_id, instance["id"], nic.device_index,
                                   ids.resource_id("eni-attach"), time.time(),
                                   nic.delete_on_termination)
            if nic.device_index == 0:  # its groups are the instance's from now on
                await self.repo.set_groups(nic.eni_id, [])

    async def sweep(self, _cluster=None) -> None:
        """After a poll: interfaces still attached to instances that ended without
        TerminateInstances (a launch that failed) are deleted or detached as then."""
        ended = await self.repo.attached_to_ended()
        if ended:
            async with self.db.unit():
                await self.instances_ending(None, ended)

    async def instances_ending(self, account_id: str | None,
                               instance_ids: list[str]) -> None:
        """Inside TerminateInstances' unit: each ending instance's interfaces in own
        subnets with DeleteOnTermination go, the others are detached (available)."""
        for rows in (await self.repo.of_instances(instance_ids)).values():
            for row in rows:
                if row["subnet_id"] is None:
                    continue
                if row["delete_on_termination"]:
                    await self.repo.delete(row["id"])
                    await self.tags.forget(row["id"])
                    continue
                if row["device_index"] == 0:  # it keeps the groups it had as the primary
                    groups = (await self.repo.groups_of([row["id"]]))[row["id"]]
                    await self.repo.set_groups(row["id"], [g["id"] for g in groups])
                await self.repo.detach(row["id"])
