"""AttachVolume and DetachVolume.

The states, as EC2 shows them: the volume goes available -> in-use as its
attachment goes attaching -> attached, and back through detaching; both are
committed before the caller is answered, the plugging happens after (a
background task a restarted CLC takes up again). A failed attach leaves the
volume available, and the reason in the CLC's log.

The data path, as Eucalyptus does it: the CLC
asks the SC to export the volume to the initiator of the node the instance runs on
(a CHAP account and an ACL entry of that attachment's own), then asks the
instance's CC to have that node plug it in; a detach undoes both, in the other
order. Every step is idempotent, so a retry after a lost answer is harmless, and
a failed attach takes its export back: no account or ACL entry is left.

"""
from __future__ import annotations

import logging
import re

from cloud_controller.db.instances import InstanceRepository
from cloud_controller.db.volumes import AttachmentRepository, VolumeRepository
from cloud_controller.services.background import Background
from cloud_controller.services.clusters import ClusterMonitor, ClusterState
from ebs.client import StorageClient
from mallee import errors
from mallee.iscsi import node_initiator

log = logging.getLogger(__name__)

# The device names EC2 takes for an EBS volume on a Linux instance.
DEVICE = re.compile(r"^/dev/(sd[a-z]|xvd[a-z]{1,2}|vd[a-z]|sd[a-z][1-9]|xvd[a-z][1-9])$")
ROOT_DEVICES = ("/dev/sda", "/dev/sda1", "/dev/xvda", "/dev/vda")


class VolumeAttacher:
    def __init__(self, clusters: ClusterMonitor, storage: StorageClient):
        self.clusters = clusters
        self.storage = storage

    def _where(self, instance) -> tuple[ClusterState, str]:
        """The instance's cluster and its node's initiator IQN."""
        cluster = next((c for c in self.clusters.clusters if c.ref.name == instance["cluster"]),
                       None)
        node = next((n for n in (cluster.nodes if cluster else ())
                     if n.get("endpoint") == instance["node"]), None)
        if cluster is None or node is None:
            raise errors.IncorrectState(
                f"The node of instance {instance['id']} is not reachable now; try again.")
        return cluster, node_initiator(node["name"])

    async def attach(self, instance, volume_id: str, device: str) -> dict:
        """Export and plug in; the NC's answer (serial, target device)."""
        cluster, initiator = self._where(instance)
        connection = await self.storage.export_volume(volume_id, initiator)
        try:
            return await cluster.client.attach_volume(instance["id"], volume_id, device,
                                                      connection)
        except BaseException:
            await self.storage.unexport_volume(volume_id, initiator)
            raise

    async def detach(self, instance, volume_id: str) -> None:
        """Unplug (once the guest has let go), then end the export."""
        cluster, initiator = self._where(instance)
        await cluster.client.detach_volume(instance["id"], volume_id)
        await self.storage.unexport_volume(volume_id, initiator)

    async def forget(self, volume_id: str) -> None:
        """End every export of a volume whose instance is gone (terminated: its
        domain, disks and secrets went with it), whichever node it was on."""
        await self.storage.unexport_volume(volume_id)


class AttachmentService:
    def __init__(self, db, volumes, attacher: VolumeAttacher):
        self.db = db
        self.volumes = volumes  # VolumeService: finding the caller's volume
        self.repo = AttachmentRepository(db)
        self.volume_rows = VolumeRepository(db)
        self.instances = InstanceRepository(db)
        self.attacher = attacher
        self.background = Background()

    async def of_instances(self, instance_ids: list[str]) -> dict[str, list]:
        """Each instance's attachments (DescribeInstances' blockDeviceMapping)."""
        return await self.repo.of_instances(instance_ids)

    async def _instance(self, account_id: str, instance_id: str):
        row = await self.instances.get(instance_id)
        if row is None or row["account_id"] != account_id or row["state"] == "terminated":
            raise errors.InvalidInstanceIDNotFound(
                f"The instance ID '{instance_id}' does not exist")
        return row

    async def attach(self, account_id: str, volume_id: str, instance_id: str, device: str):
        """The attachment, committed `attaching` (the volume `in-use`); to a stopped
        instance `attached` at once: its next start plugs it in."""
        if not DEVICE.match(device or "") or device in ROOT_DEVICES:
            raise errors.InvalidParameterValue(
                f"Value ({device}) for parameter device is invalid. {device} is not a valid "
                f"EBS device name.")
        async with self.db.unit():
            volume = await self.volumes.find(account_id, volume_id)
            instance = await self._instance(account_id, instance_id)
            if instance["state"] not in ("running", "stopped"):
                raise errors.IncorrectState(
                    f"The instance '{instance_id}' is not 'running' or 'stopped'.")
            if volume["zone"] != instance["zone"]:
                raise errors.InvalidVolumeZoneMismatch(
                    f"The volume '{volume_id}' is not in the same availability zone as "
                    f"instance '{instance_id}'")
            if await self.repo.get(volume_id) is not None or volume["state"] == "in-use":
                raise errors.VolumeInUse(f"{volume_id} is already attached to an instance")
            if volume["state"] != "available":
                raise errors.IncorrectState(
                    f"The volume '{volume_id}' is '{volume['state']}'.")
            if any(a["device"] == device for a in await self.repo.of_instance(instance_id)):
                raise errors.InvalidParameterValue(f"Attachment point {device} is already in use")
            await self.repo.insert(volume_id, instance_id, device)
            await self.volume_rows.compare_and_set(volume_id, "available", state="in-use")
            if instance["state"] == "stopped":
                await self.repo.set_state(volume_id, "attaching", "attached")
        if instance["state"] == "running":
            self.background.spawn(self._plug(instance, volume_id, device))
        return await self.repo.get(volume_id)

    async def _plug(self, instance, volume_id: str, device: str) -> None:
        try:
            answer = await self.attacher.attach(instance, volume_id, device)
        except errors.ApiError as err:
            log.warning("attaching %s to %s failed: %s: %s", volume_id, instance["id"],
                        err.code, err.message)
            async with self.db.unit():
                await self.repo.delete(volume_id)
                await self.volume_rows.compare_and_set(volume_id, "in-use", state="available")
            return
        log.info("%s attached to %s as %s", volume_id, instance["id"], answer.get("target_dev"))
        async with self.db.unit():
            await self.repo.set_state(volume_id, "attaching", "attached")

    async def detach(self, account_id: str, volume_id: str, instance_id: str | None,
                     device: str | None, force: bool):
        """The attachment, committed `detaching`."""
        async with self.db.unit():
            volume = await self.volumes.find(account_id, volume_id)
            if instance_id:
                await self._instance(account_id, instance_id)  # the caller's, or not found
            attachment = await self.repo.get(volume_id)
            if attachment is None:
                raise errors.IncorrectState(
                    f"Volume '{volume_id}' is in the '{volume['state']}' state.")
            if instance_id and attachment["instance_id"] != instance_id or \
                    device and attachment["device"] != device:
                raise errors.InvalidAttachmentNotFound(
                    f"The volume '{volume_id}' is not attached to instance "
                    f"'{instance_id or attachment['instance_id']}' as {device or 'that device'}.")
            if attachment["state"] == "detaching":
                return attachment
            owner = await self.instances.get(attachment["instance_id"])
            if owner is not None and owner["state"] != "terminated" and \
                    attachment["device"] == owner["root_device_name"] and \
                    owner["root_device_type"] == "ebs":
                raise errors.OperationNotPermitted(
                    f"The volume '{volume_id}' is the root device of instance "
                    f"'{owner['id']}' and cannot be detached.")
            if attachment["state"] != "attached" and not force:
                raise errors.IncorrectState(
                    f"Volume '{volume_id}' is '{attachment['state']}' and cannot be detached.")
            await self.repo.set_state(volume_id, attachment["state"], "detaching")
        instance = await self.instances.get(attachment["instance_id"])
        self.background.spawn(self._unplug(instance, volume_id))
        return await self.repo.get(volume_id)

    async def _unplug(self, instance, volume_id: str) -> None:
        try:
            if instance is None or instance["state"] in ("terminated", "stopped"):
                await self.attacher.forget(volume_id)  # no node has it
            else:
                await self.attacher.detach(instance, volume_id)
        except errors.ApiError as err:  # stays detaching: the next sweep tries again
            log.warning("detaching %s failed: %s: %s", volume_id, err.code, err.message)
            return
        await self._release(volume_id)

    async def _release(self, volume_id: str) -> None:
        async with self.db.unit():
            await self.repo.delete(volume_id)
            await self.volume_rows.compare_and_set(volume_id, "in-use", state="available")

    async def set_delete_on_termination(self, instance, device: str, volume_id: str | None,
                                        value: bool) -> None:
        """ModifyInstanceAttribute's blockDeviceMapping: the flag of the volume attached
        to `instance` as `device` (inside the caller's unit)."""
        found = next((a for a in await self.repo.of_instance(instance["id"])
                      if a["device"] == device), None)
        if found is None or volume_id and found["volume_id"] != volume_id:
            raise errors.InvalidInstanceAttributeValue(
                f"No device is currently mapped at {device}")
        await self.repo.set_delete_on_termination(found["volume_id"], value)

    async def end_exports(self, instance) -> None:
        """A stopped instance's volumes stay attached (EC2 shows them so) but no node
        may reach them any more: every export of each ends. Idempotent."""
        for row in await self.repo.of_instance(instance["id"]):
            await self.attacher.forget(row["volume_id"])

    async def sweep(self, cluster=None) -> None:
        """After each poll: volumes of instances that ended are released (their
        domain took the disks and secrets along; the SC's exports go here), and
        detaches a failure left `detaching` are tried again."""
        for row in await self.repo.of_ended_instances():
            try:
                await self.attacher.forget(row["volume_id"])
            except errors.ApiError as err:
                log.warning("releasing %s: %s", row["volume_id"], err.message)
                continue
            await self._release(row["volume_id"])
            if row["delete_on_termination"]:  # EC2: it goes with its instance
                volume = await self.volume_rows.get(row["volume_id"])
                try:
                    if volume is not None:
                        await self.volumes.delete(volume["account_id"], row["volume_id"])
                except errors.ApiError as err:
                    log.warning("deleting %s with its instance: %s", row["volume_id"],
                                err.message)

    async def resume(self) -> None:
        """Take up plugging a stopped CLC left half done."""
        for row in await self.repo.in_flight():
            instance = await self.instances.get(row["instance_id"])
            if instance is None or instance["state"] == "terminated":
                continue  # the sweep releases it
            if row["state"] == "attaching":
                self.background.spawn(self._plug(instance, row["volume_id"], row["device"]))
            else:
                self.background.spawn(self._unplug(instance, row["volume_id"]))

    async def close(self) -> None:
        await self.background.close()
