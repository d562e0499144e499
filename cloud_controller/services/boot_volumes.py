"""The volumes an instance boots with: an EBS-backed image's block device
mappings (its root from a snapshot) with RunInstances' BlockDeviceMapping over
them, made through the volume service and attached before the instance is sent
to its cluster.

A launch records what it wants (instance_block_devices, in RunInstances' unit);
`BootVolumes.prepare` makes each volume with the client token
'<instance>:<device>' (asking twice makes one), waits for it to be available
(a volume from a snapshot is filled first), and records it attached. A CLC
restarted in the middle does the same again for what is still missing.
"""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace

from cloud_controller.db.instances import InstanceRepository
from cloud_controller.db.volumes import AttachmentRepository, VolumeRepository
from cloud_controller.services.volumes import NewVolume
from mallee import errors

# Device names EC2 takes in a block device mapping on a Linux image.
DEVICE = re.compile(r"^/dev/(sd[a-z][1-9]?|xvd[a-z]{1,2}[1-9]?|vd[a-z])$")
EPHEMERAL = re.compile(r"^ephemeral([0-9]|1[0-9]|2[0-3])$")
POLL_SECONDS = 0.5
READY_TIMEOUT = 1800.0  # a big snapshot's fill


@dataclass(frozen=True)
class BlockDevice:
    device_name: str | None
    virtual_name: str | None = None
    no_device: bool = False
    snapshot_id: str | None = None
    volume_size: int | None = None
    volume_type: str | None = None
    iops: int | None = None
    delete_on_termination: bool | None = None
    encrypted: bool = False
    ebs: bool = False

    @classmethod
    def of_row(cls, row) -> "BlockDevice":
        """From an image_block_devices row."""
        return cls(row["device_name"], row["virtual_name"], bool(row["no_device"]),
                   row["snapshot_id"], row["volume_size"], row["volume_type"], row["iops"],
                   bool(row["delete_on_termination"]), bool(row["encrypted"]),
                   not row["no_device"] and not row["virtual_name"])


def check_mappings(mappings: list[BlockDevice], *, launch: bool = False) -> None:
    """EC2's rules for BlockDeviceMapping.N; a launch's EBS entries may leave out both
    size and snapshot only where the image's mapping gives them."""
    seen = set()
    for m in mappings:
        if not m.device_name:
            raise errors.MissingParameter(
                "The request must contain the parameter BlockDeviceMapping.DeviceName")
        if not DEVICE.match(m.device_name):
            raise errors.InvalidBlockDeviceMapping(
                f"Invalid device name {m.device_name}")
        if m.device_name in seen:
            raise errors.InvalidBlockDeviceMapping(
                f"The device '{m.device_name}' is used in more than one block-device mapping")
        seen.add(m.device_name)
        if sum((m.no_device, bool(m.virtual_name), m.ebs)) > 1:
            raise errors.InvalidBlockDeviceMapping(
                f"{m.device_name}: only one of Ebs, VirtualName and NoDevice may be given")
        if m.virtual_name and not EPHEMERAL.match(m.virtual_name):
            raise errors.InvalidBlockDeviceMapping(
                f"Invalid virtual name {m.virtual_name} (ephemeral0 to ephemeral23)")
        if m.encrypted:
            raise errors.UnsupportedOperation("Encrypted volumes are not supported by this cloud.")
        if m.ebs and not launch and m.snapshot_id is None and m.volume_size is None:
            raise errors.InvalidBlockDeviceMapping(
                f"{m.device_name}: the snapshot ID or the volume size must be given")


def merge(image: list[BlockDevice], launch: list[BlockDevice]) -> list[BlockDevice]:
    """The EBS volumes a launch makes: the image's mappings, each replaced, changed
    (size, type, DeleteOnTermination) or removed (NoDevice) by the launch's mapping
    of the same device, plus the launch's own. DeleteOnTermination defaults to true,
    as in EC2."""
    by_device = {m.device_name: m for m in image}
    for m in launch:
        base = by_device.get(m.device_name)
        if m.no_device:
            by_device.pop(m.device_name, None)
        elif m.ebs and base is not None and base.ebs:
            by_device[m.device_name] = replace(
                base, volume_size=m.volume_size or base.volume_size,
                volume_type=m.volume_type or base.volume_type, iops=m.iops or base.iops,
                snapshot_id=m.snapshot_id or base.snapshot_id,
                delete_on_termination=base.delete_on_termination
                if m.delete_on_termination is None else m.delete_on_termination)
        else:
            by_device[m.device_name] = m
    made = [m for m in by_device.values() if m.ebs]
    for m in made:
        if m.snapshot_id is None and m.volume_size is None:
            raise errors.InvalidBlockDeviceMapping(
                f"{m.device_name}: the snapshot ID or the volume size must be given")
    return [replace(m, delete_on_termination=True) if m.delete_on_termination is None else m
            for m in made]


def planned_row(instance_id: str, m: BlockDevice, tags) -> dict:
    """An instance_block_devices row."""
    return {"instance_id": instance_id, "device_name": m.device_name,
            "snapshot_id": m.snapshot_id, "volume_size": m.volume_size,
            "volume_type": m.volume_type, "iops": m.iops,
            "delete_on_termination": int(bool(m.delete_on_termination)),
            "tags": json.dumps([list(t) for t in tags])}


class BootVolumes:
    def __init__(self, db, volumes):
        self.db = db
        self.volumes = volumes  # VolumeService: volumes are made as CreateVolume makes them
        self.instances = InstanceRepository(db)
        self.attachments = AttachmentRepository(db)
        self.volume_rows = VolumeRepository(db)

    async def missing(self, instance_id: str) -> list:
        """The planned devices with no volume attached yet."""
        attached = {a["device"] for a in await self.attachments.of_instance(instance_id)}
        return [p for p in await self.instances.block_devices(instance_id)
                if p["device_name"] not in attached]

    async def prepare(self, row) -> None:
        """Make, wait for and attach every volume the instance still lacks."""
        for planned in await self.missing(row["id"]):
            volume = await self.volumes.create(row["account_id"], NewVolume(
                zone=row["zone"], zone_id=None, size=planned["volume_size"],
                volume_type=planned["volume_type"], iops=planned["iops"],
                snapshot_id=planned["snapshot_id"],
                client_token=f"{row['id']}:{planned['device_name']}",
                tags=tuple(tuple(t) for t in json.loads(planned["tags"]))))
            await self._available(volume["id"])
            async with self.db.unit():
                await self.attachments.insert(volume["id"], row["id"], planned["device_name"],
                                              bool(planned["delete_on_termination"]))
                await self.attachments.set_state(volume["id"], "attaching", "attached")
                await self.volume_rows.compare_and_set(volume["id"], "available",
                                                       state="in-use")

    async def _available(self, volume_id: str) -> None:
        waited = 0.0
        while True:
            volume = await self.volume_rows.get(volume_id)
            if volume is None or volume["state"] == "error":
                raise errors.InvalidVolumeNotFound(
                    f"The volume {volume_id} for the launch could not be made")
            if volume["state"] == "available":
                return
            if waited > READY_TIMEOUT:
                raise errors.IncorrectState(f"The volume {volume_id} is still "
                                            f"{volume['state']} after {READY_TIMEOUT:g} s")
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
