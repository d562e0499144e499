"""CreateImage: an EBS-backed AMI from a running or stopped EBS-backed instance.

Each volume attached to the instance (the root and the others, less those the
request maps to NoDevice) is snapshotted through the snapshot service, and the
image is registered at once, `pending`, mapping each device to its snapshot
(with the volume's size and DeleteOnTermination). It becomes `available` when
every snapshot has completed, `failed` if one fails; a restarted CLC follows
the images it finds pending. The snapshots are crash-consistent: the guest is
not rebooted (NoReboot is taken as given, whatever its value; docs/ebs.md).
"""
from __future__ import annotations

import asyncio
import logging

from cloud_controller.services.background import Background
from cloud_controller.services.boot_volumes import BlockDevice, check_mappings
from cloud_controller.services.images import EbsRegistration
from mallee import errors

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class ImageCapture:
    def __init__(self, instances, images, snapshots, attachments, volumes):
        self.instances = instances  # InstanceService
        self.images = images  # ImageService
        self.snapshots = snapshots  # SnapshotService
        self.attachments = attachments  # AttachmentService: the instance's volumes
        self.volumes = volumes  # VolumeService: their sizes and types
        self.background = Background()

    async def create(self, account_id: str, instance_id: str, name: str | None,
                     description: str | None, mappings: list[BlockDevice]) -> str:
        row = (await self.instances.find(account_id, [instance_id]))[0]
        if row["root_device_type"] != "ebs":
            raise errors.UnsupportedOperation(
                f"The instance '{instance_id}' does not have an 'ebs' root device type: "
                f"CreateImage makes EBS-backed images (bundle an instance-store one).")
        if row["state"] not in ("running", "stopped"):
            raise errors.IncorrectInstanceState(
                f"The instance '{instance_id}' is not in a state from which an image can be "
                f"created ({row['state']}).")
        check_mappings(mappings, launch=True)
        await self.images.check_new_name(account_id, name)
        removed = {m.device_name for m in mappings if m.no_device}
        attached = [a for a in (await self.attachments.of_instances([instance_id]))[instance_id]
                    if a["device"] not in removed]
        if not any(a["device"] == row["root_device_name"] for a in attached):
            raise errors.InvalidBlockDeviceMapping(
                f"The root device {row['root_device_name']} cannot be left out of the image.")
        taken = await self.snapshots.create_many(
            account_id, [(a["volume_id"], []) for a in attached],
            f"Created by CreateImage({instance_id}) for {name}")
        image_maps = []
        for attachment, snapshot in zip(attached, taken):
            volume = await self.volumes.find(account_id, attachment["volume_id"])
            image_maps.append(BlockDevice(
                attachment["device"], snapshot_id=snapshot["id"],
                volume_size=snapshot["size_gib"], volume_type=volume["volume_type"],
                delete_on_termination=bool(attachment["delete_on_termination"]), ebs=True))
        image_maps += [m for m in mappings if m.virtual_name]
        image_id = await self.images.register_ebs(account_id, EbsRegistration(
            name, description, "x86_64", row["kernel_id"], row["ramdisk_id"],
            row["root_device_name"], image_maps), state="pending",
            sizes={s["id"]: s["size_gib"] for s in taken})
        self.background.spawn(self._follow(image_id))
        return image_id

    async def _follow(self, image_id: str) -> None:
        """Available once every snapshot it maps has completed; failed if one did not."""
        while True:
            maps = (await self.images.block_devices([image_id]))[image_id]
            states = [await self.snapshots.state_of(m["snapshot_id"])
                      for m in maps if m["snapshot_id"]]
            if any(s in ("error", "deleting", None) for s in states):
                log.warning("%s failed: one of its snapshots did not complete", image_id)
                await self.images.settle(image_id, "failed")
                return
            if all(s == "completed" for s in states):
                await self.images.settle(image_id, "available")
                return
            await asyncio.sleep(POLL_SECONDS)

    async def resume(self) -> None:
        for image_id in await self.images.pending():
            self.background.spawn(self._follow(image_id))

    async def close(self) -> None:
        await self.background.close()
