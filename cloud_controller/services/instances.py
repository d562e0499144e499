"""Running, describing and ending instances: the CLC's rules.

RunInstances answers at once with `pending` rows; `Launcher` then hands the
instances to the chosen cluster, and the reconciler (services/reconcile.py)
moves them on as the CC's polls report what the nodes did.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
import time
from dataclasses import dataclass, field, replace

from cloud_controller.db.instance_attributes import InstanceAttributeRepository
from cloud_controller.db.instances import InstanceRepository
from cloud_controller.services import lifecycle
from cloud_controller.services.boot_volumes import BlockDevice, check_mappings, merge, planned_row
from cloud_controller.services.placement import Reservations, choose_cluster, launchable
from cloud_controller.services.root_device import check_shutdown_behavior
from mallee import errors, ids
from mallee.faults import crash_point

MAX_USER_DATA = 16384


@dataclass
class LaunchRequest:
    image_id: str
    min_count: int
    max_count: int
    instance_type: str
    key_name: str | None = None
    user_data: str | None = None  # base64, as the API carries it
    zone: str | None = None
    group_names: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    client_token: str | None = None
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    tags: list[tuple[str, str]] = field(default_factory=list)
    public_ip: bool | None = None  # a public address at launch; None: [network] setting
    interface_tags: list[tuple[str, str]] = field(default_factory=list)  # its primary ENI's
    metadata_options: dict = field(default_factory=dict)  # checked: metadata_options()
    disable_api_termination: bool | None = None  # None: EC2's default (false)
    disable_api_stop: bool | None = None
    shutdown_behavior: str | None = None  # stop | terminate; None: EC2's default
    block_devices: list[BlockDevice] = field(default_factory=list)  # BlockDeviceMapping.N
    volume_tags: list[tuple[str, str]] = field(default_factory=list)  # for the volumes it makes
    # VPC mode: an own subnet (its NIC is an OVN port) and the address asked for in it
    subnet_id: str | None = None
    private_ip: str | None = None
    # VPC mode: every interface (services/network_interfaces.py NicSpec), device 0 first
    interfaces: list = field(default_factory=list)


def mac_for(instance_id: str) -> str:
    """Eucalyptus-style MAC: d0:0d plus four bytes derived from the instance id."""
    digest = hashlib.sha1(instance_id.encode()).digest()
    return "d0:0d:" + ":".join(f"{b:02x}" for b in digest[:4])


METADATA_OPTIONS = {  # column -> (wire name, the values EC2 takes; None: 1 to 64)
    "http_tokens": ("HttpTokens", ("optional", "required")),
    "http_put_response_hop_limit": ("HttpPutResponseHopLimit", None),
    "http_endpoint": ("HttpEndpoint", ("enabled", "disabled")),
    "http_protocol_ipv6": ("HttpProtocolIpv6", ("enabled", "disabled")),
    "instance_metadata_tags": ("InstanceMetadataTags", ("enabled", "disabled")),
}


def metadata_options(**given) -> dict:
    """The metadata options a request sets ({column: value}), checked as EC2 checks them."""
    out = {}
    for column, value in given.items():
        if value is None:
            continue
        wire, allowed = METADATA_OPTIONS[column]
        if allowed is None:
            if not 1 <= value <= 64:
                raise errors.InvalidParameterValue(
                    f"The HttpPutResponseHopLimit ({value}) must be between 1 and 64.")
        elif value not in allowed:
            raise errors.InvalidParameterValue(
                f"Value ({value}) for parameter {wire} is invalid. Valid values: "
                f"{', '.join(allowed)}.")
        out[column] = value
    return out


USER_STOP = ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")


def _check_stoppable(row, flags, hibernate: bool) -> None:
    if row["root_device_type"] != "ebs":
        raise errors.UnsupportedOperation(
            f"The instance '{row['id']}' does not have an 'ebs' root device type and cannot "
            f"be stopped.")
    if hibernate:
        raise errors.UnsupportedHibernationConfiguration(
            f"The instance '{row['id']}' is not enabled for hibernation.")
    if flags["disable_api_stop"] and row["state"] == "running":
        raise errors.OperationNotPermitted(
            f"The instance '{row['id']}' may not be stopped. Modify its 'disableApiStop' "
            f"instance attribute and try again.")
    if row["state"] not in ("running", "stopping", "stopped"):
        raise errors.IncorrectInstanceState(
            f"This instance '{row['id']}' is not in a state from which it can be stopped.")


def decode_user_data(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidUserDataMalformed("User data must be base64-encoded.")
    if len(data) > MAX_USER_DATA:
        raise errors.InvalidParameterValue(f"User data is limited to {MAX_USER_DATA} bytes.")
    return data


class InstanceService:
    def __init__(self, db, settings, *, images, keypairs, tags, security_groups, addresses,
                 clusters, launcher, network_changed, vpcs, interfaces=None):
        self.db = db
        self.settings = settings
        self.repo = InstanceRepository(db)
        # the instance's other attributes (services/instance_attributes.py)
        self.attributes = InstanceAttributeRepository(db)
        self.images = images  # ImageService: what may be launched
        self.keypairs = keypairs  # KeyPairService: the public key for the guest
        self.tags = tags  # TagService: TagSpecification at launch
        self.security_groups = security_groups  # SecurityGroupService: the groups it is in
        self.addresses = addresses  # AddressService: a public address at launch
        self.clusters = clusters  # ClusterMonitor: capacity for choosing a cluster
        self.launcher = launcher  # Launcher: hands the new instances to their cluster
        # metadata options travel to the nodes in the network view
        self.network_changed = network_changed
        self.vpcs = vpcs  # VpcService: own subnets' addresses, OVN's ports follow launches
        self.reservations: dict[str, Reservations] = {}
        # NetworkInterfaceService (VPC mode): an own subnet's instance's interfaces
        self.nics = interfaces
        if interfaces is not None:
            interfaces.instances = self

    async def run(self, account_id: str, req: LaunchRequest):
        """Validate, place on a cluster, record `pending` rows; returns the rows.
        One unit: the quota count, the capacity held and the rows go together."""
        if req.min_count < 1 or req.max_count < req.min_count:
            raise errors.InvalidParameterValue(
                "MinCount must be at least 1 and MaxCount at least MinCount.")
        vmtype = self.settings.vmtype(req.instance_type)
        if vmtype is None:
            raise errors.InvalidParameterValue(
                f"Invalid value '{req.instance_type}' for InstanceType.")
        user_data = decode_user_data(req.user_data)
        placed = None
        try:
            async with self.db.unit():
                if req.client_token:
                    earlier = await self.repo.by_token(account_id, req.client_token)
                    if earlier:
                        if earlier[0]["image_id"] != req.image_id or \
                                earlier[0]["instance_type"] != req.instance_type:
                            raise errors.IdempotentParameterMismatch(
                                "The client token was used with different parameters.")
                        return earlier
                placed = await self._record(account_id, req, vmtype, user_data)
        except BaseException as exc:
            if placed is not None:  # the unit did not commit: give back what it held
                self.reservations[placed[0].ref.name].release([r["id"] for r in placed[1]])
            if isinstance(exc, sqlite3.IntegrityError):
                raise errors.IdempotentParameterMismatch(
                    "The client token is already in use.") from None
            raise
        cluster, rows = placed
        crash_point("clc.run.recorded")
        if req.interfaces:  # the ports exist before the guests ask for their addresses
            await self.vpcs.ports_changed()
        self.launcher.launch(cluster, [row["id"] for row in rows])
        made = await self.repo.page(account_id, ended_after=lifecycle.visible_since(),
                                    ids=[r["id"] for r in rows])
        return sorted(made, key=lambda r: r["launch_index"])

    async def _record(self, account_id: str, req: LaunchRequest, vmtype, user_data):
        """Inside run's unit: check, choose the cluster, insert, hold the capacity."""
        image = await self.images.launchable(account_id, req.image_id)
        if image["image_type"] != "machine":
            raise errors.InvalidParameterValue(f"{req.image_id} is not a machine image.")
        check_mappings(req.block_devices, launch=True)
        image_maps = (await self.images.block_devices([image["id"]]))[image["id"]]
        volumes = merge([BlockDevice.of_row(m) for m in image_maps], req.block_devices)
        ebs = image["root_device_type"] == "ebs"
        if ebs and not any(v.device_name == image["root_device_name"] for v in volumes):
            raise errors.InvalidBlockDeviceMapping(
                f"The root device {image['root_device_name']} of {image['id']} cannot be "
                f"removed with NoDevice.")
        kernel_id = req.kernel_id or image["kernel_id"]
        ramdisk_id = req.ramdisk_id or image["ramdisk_id"]
        for extra_id in filter(None, (kernel_id, ramdisk_id)):
            await self.images.launchable(account_id, extra_id)
        public_key = None
        if req.key_name:
            public_key = (await self.keypairs.find(account_id, name=req.key_name))["public_key"]
        vpc = bool(req.interfaces) and self.nics is not None
        if vpc:  # the subnets and groups are checked with the interfaces, below
            for spec in req.interfaces:
                if spec.subnet_id:
                    await self.vpcs.own_subnet(account_id, spec.subnet_id)
        else:
            groups = await self.security_groups.for_launch(account_id, req.group_names,
                                                           req.group_ids, None)
        quota = self.settings.clc.max_instances_per_account
        running = await self.repo.running_count(account_id)
        if running + req.min_count > quota:
            raise errors.InstanceLimitExceeded(
                f"Your quota allows for {max(0, quota - running)} more running "
                f"instance(s). You requested at least {req.min_count}.")
        cluster, count = choose_cluster(self.clusters.clusters, self.reservations, vmtype,
                                        req.zone, req.min_count,
                                        min(req.max_count, quota - running))
        if vpc and any(not s.subnet_id and not s.network_interface_id for s in req.interfaces):
            # vpc mode, no SubnetId given: the default subnet of the zone chosen
            subnet = await self.vpcs.default_subnet(account_id, cluster.ref.zone)
            req = replace(req, interfaces=[
                s if s.subnet_id or s.network_interface_id else replace(s, subnet_id=subnet.id)
                for s in req.interfaces])
        reservation_id = ids.resource_id("r")
        now = time.time()
        rows = []
        plans = [[] for _ in range(count)]
        if vpc:
            plans = await self.nics.plan_launch(account_id, req.interfaces, count,
                                                      req.group_names)
            groups = [{"id": g} for g in await self.nics.primary_groups(plans[0][0])]
        for index in range(count):
            instance_id = ids.resource_id("i")
            primary = plans[index][0] if vpc else None
            if primary is not None and primary.mac is None:
                primary.mac = mac_for(instance_id)
            subnet_id, vpc_id = primary.place() if primary else (None, None)
            rows.append({
                "id": instance_id, "account_id": account_id, "reservation_id": reservation_id,
                "launch_index": index, "client_token": req.client_token,
                "image_id": image["id"], "kernel_id": kernel_id, "ramdisk_id": ramdisk_id,
                "instance_type": vmtype.name, "key_name": req.key_name,
                "public_key": public_key, "user_data": user_data, "zone": cluster.ref.zone,
                "cluster": cluster.ref.name, "state": "pending",
                "mac": primary.mac if primary else mac_for(instance_id),
                "launched_at": now, "updated_at": now,
                "root_device_type": image["root_device_type"],
                "root_device_name": image["root_device_name"],
                "subnet_id": subnet_id, "vpc_id": vpc_id,
                "private_ip": primary and await self.nics.primary_address(primary),
            })
        # EC2: an EBS-backed instance stops when its guest shuts down, unless told otherwise
        behaviour = req.shutdown_behavior or ("stop" if ebs else None)
        attributes = {"disable_api_termination": req.disable_api_termination,
                      "disable_api_stop": req.disable_api_stop,
                      "shutdown_behavior": behaviour and rows and
                      check_shutdown_behavior(behaviour, rows[0])}
        attributes = {k: v for k, v in attributes.items() if v is not None}
        for row, plan in zip(rows, plans):
            eni_id = None if vpc else ids.resource_id("eni")
            row.update(req.metadata_options)
            await self.repo.insert(row, [g["id"] for g in groups], eni_id)
            if vpc:
                await self.nics.record_launch(account_id, row, plan, req.interface_tags)
            if volumes:
                await self.repo.insert_block_devices(
                    [planned_row(row["id"], v, req.volume_tags) for v in volumes])
            if attributes:
                await self.attributes.put(row["id"], **attributes)
            await self.tags.tag_new(account_id, row["id"], "instance", req.tags)
            if eni_id:
                await self.tags.tag_new(account_id, eni_id, "network-interface",
                                        req.interface_tags)
        if vpc:  # the primary interface's subnet's MapPublicIpOnLaunch (docs/vpc.md)
            primary = plans[0][0]
            public = primary.existing is None and (
                primary.subnet.map_public_ip if req.public_ip is None else req.public_ip)
        else:
            public = self.settings.network.public_ip_at_launch if req.public_ip is None \
                else req.public_ip
        if public:
            await self.addresses.at_launch(
                account_id, cluster, [row["id"] for row in rows],
                [(plan[0].eni_id, row["private_ip"]) for row, plan in zip(rows, plans)]
                if vpc else None)
        self.reservations[cluster.ref.name].hold([row["id"] for row in rows], vmtype)
        return cluster, rows

    async def find(self, account_id: str, instance_ids: list[str]):
        for instance_id in instance_ids:
            if not instance_id.startswith("i-"):
                raise errors.InvalidInstanceIDMalformed(f"Invalid id: \"{instance_id}\"")
        rows = await self.repo.page(account_id, ended_after=lifecycle.visible_since(),
                                    ids=instance_ids)
        missing = sorted(set(instance_ids) - {r["id"] for r in rows})
        if missing:
            raise errors.InvalidInstanceIDNotFound(
                f"The instance ID{'s' if len(missing) > 1 else ''} "
                f"'{', '.join(missing)}' do{'' if len(missing) > 1 else 'es'} not exist")
        return rows

    async def attached_to(self, account_id: str, instance_id: str | None,
                          eni_id: str | None):
        """The caller's instance named by its id or by its network interface's id."""
        if eni_id and not instance_id:
            row = await self.repo.by_interface(account_id, eni_id)
            instance_id = row["id"] if row is not None and row["state"] != "terminated" \
                else None
            if instance_id is None and self.nics is not None and eni_id.startswith("eni-"):
                found = [n for n in await self.nics.describe(account_id) if n["id"] == eni_id]
                instance_id = found[0]["instance_id"] if found else None
            if instance_id is None:
                raise errors.InvalidNetworkInterfaceIDNotFound(
                    f"The networkInterface ID '{eni_id}' does not exist")
        if not instance_id:
            raise errors.MissingParameter(
                "The request must contain the parameter InstanceId or NetworkInterfaceId")
        return (await self.find(account_id, [instance_id]))[0]

    async def terminate(self, account_id: str, instance_ids: list[str]):
        """[(id, previous state, current state)]; ends each instance once. One protected
        by disableApiTermination refuses the whole request, as EC2 does."""
        changes = []
        async with self.db.unit():  # the protection read where the states change
            rows = await self.find(account_id, instance_ids)
            flags = await self.attributes.of([r["id"] for r in rows])
            for row in rows:
                if flags[row["id"]]["disable_api_termination"] and \
                        row["state"] not in ("shutting-down", "terminated"):
                    raise errors.OperationNotPermitted(
                        f"The instance '{row['id']}' may not be terminated. Modify its "
                        f"'disableApiTermination' instance attribute and try again.")
            for row in rows:
                previous, current = row["state"], row["state"]
                for _ in range(3):  # a racing poll may move it; try again from what it is now
                    if current in ("shutting-down", "terminated"):
                        break
                    if await lifecycle.transition(self.repo, row["id"], current, "shutting-down",
                                                  transition_reason="User initiated"):
                        current = "shutting-down"
                        break
                    current = (await self.repo.get(row["id"]))["state"]
                changes.append((row["id"], previous, current))
            ending = [i for i, prev, cur in changes if cur == "shutting-down" and prev != cur]
            own = [r["id"] for r in rows if r["id"] in ending and r["subnet_id"]]
            if own and self.nics is not None:  # DeleteOnTermination, or detached
                await self.nics.instances_ending(account_id, own)
        ending = [i for i, prev, cur in changes if cur == "shutting-down"]
        if any(row["subnet_id"] for row in rows if row["id"] in ending):
            await self.vpcs.ports_changed()  # their OVN ports go
        for held in self.reservations.values():  # an instance never placed holds nothing
            held.release(ending)
        crash_point("clc.terminate.marked")
        if ending:
            self.launcher.terminate(ending)
        return changes

    async def stop(self, account_id: str, instance_ids: list[str], force: bool = False,
                   hibernate: bool = False):
        """StopInstances: [(id, previous state, current state)]. All or none: an
        instance-store or protected instance, or one that cannot stop now, refuses
        the whole request, as EC2 does."""
        changes = []
        async with self.db.unit():
            rows = await self.find(account_id, instance_ids)
            flags = await self.attributes.of([r["id"] for r in rows])
            for row in rows:
                _check_stoppable(row, flags[row["id"]], hibernate)
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            for row in rows:
                current = row["state"]
                if current == "running" and await lifecycle.transition(
                        self.repo, row["id"], "running", "stopping",
                        transition_reason=f"User initiated ({when} GMT)",
                        reason=USER_STOP):
                    current = "stopping"
                changes.append((row["id"], row["state"], current))
        stopping = [i for i, _, cur in changes if cur == "stopping"]
        crash_point("clc.stop.marked")
        if stopping:
            self.launcher.stop(stopping, force)
        return changes

    async def stop_on_shutdown(self, row) -> None:
        """The reconciler's hook: a running EBS-backed instance whose guest powered
        itself off with the `stop` behaviour is stopped (its node removes the domain)."""
        if await lifecycle.transition(
                self.repo, row["id"], "running", "stopping",
                transition_reason="Client.InstanceInitiatedShutdown",
                reason=("Client.InstanceInitiatedShutdown",
                        "Client.InstanceInitiatedShutdown: Instance initiated shutdown")):
            self.launcher.stop([row["id"]], True)

    async def start(self, account_id: str, instance_ids: list[str]):
        """StartInstances: [(id, previous state, current state)]; a stopped instance
        goes pending and is placed again in its cluster (on any of its nodes), with
        its id, MAC, private address, groups and volumes."""
        changes = []
        async with self.db.unit():
            rows = await self.find(account_id, instance_ids)
            for row in rows:
                if row["root_device_type"] != "ebs":
                    raise errors.UnsupportedOperation(
                        f"The instance '{row['id']}' does not have an 'ebs' root device type "
                        f"and cannot be started.")
                if row["state"] not in ("stopped", "pending", "running"):
                    raise errors.IncorrectInstanceState(
                        f"The instance '{row['id']}' is not in a state from which it can be "
                        f"started.")
            starting: dict[str, list[str]] = {}
            for row in rows:
                current = row["state"]
                if current == "stopped":
                    cluster = next((c for c in self.clusters.clusters
                                    if c.ref.name == row["cluster"]), None)
                    vmtype = self.settings.vmtype(row["instance_type"])
                    if cluster is None or launchable(cluster, self.reservations, vmtype) < 1:
                        raise errors.InsufficientInstanceCapacity(
                            f"There is not enough capacity in {row['zone']} to start "
                            f"{row['id']} ({row['instance_type']}) now; try again later.")
                    if await lifecycle.transition(self.repo, row["id"], "stopped", "pending",
                                                  transition_reason="", reason=("", ""),
                                                  node=None):
                        current = "pending"
                        self.reservations[row["cluster"]].hold([row["id"]], vmtype)
                        starting.setdefault(row["cluster"], []).append(row["id"])
                changes.append((row["id"], row["state"], current))
        crash_point("clc.start.marked")
        for name, chunk in starting.items():
            self.launcher.launch_in(name, chunk)
        return changes

    async def reboot(self, account_id: str, instance_ids: list[str]) -> None:
        rows = await self.find(account_id, instance_ids)
        await self.launcher.reboot([r for r in rows if r["state"] == "running"])

    async def console_output(self, account_id: str, instance_id: str) -> tuple[float, str]:
        row = (await self.find(account_id, [instance_id]))[0]
        if row["state"] in ("pending", "terminated") or not row["node"]:
            return time.time(), ""
        return await self.launcher.console_output(row)

    async def describe(self, account_id: str, *, instance_ids=None, after=None, limit=None):
        if instance_ids:
            return await self.find(account_id, instance_ids)
        return await self.repo.page(account_id, ended_after=lifecycle.visible_since(),
                                    after=after, limit=limit)

    async def groups_of(self, instance_ids: list[str]) -> dict[str, list[dict]]:
        return await self.repo.groups_of(instance_ids)

    async def interfaces(self, account_id: str):
        """The account's instances whose primary interface exists (not terminated)."""
        rows = await self.describe(account_id)
        return [r for r in rows if r["state"] != "terminated" and r["eni_id"]]

    async def set_metadata_options(self, account_id: str, instance_id: str,
                                   options: dict):
        """ModifyInstanceMetadataOptions: the instance's row after the change."""
        async with self.db.unit():
            row = (await self.find(account_id, [instance_id]))[0]
            if row["state"] in ("shutting-down", "terminated"):
                raise errors.IncorrectInstanceState(
                    f"The instance '{instance_id}' is not in a state from which its metadata "
                    f"options can be modified.")
            if options:
                await self.repo.update(instance_id, **options, updated_at=time.time())
        self.network_changed.notify()
        return (await self.find(account_id, [instance_id]))[0]
