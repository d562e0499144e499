"""Volumes attached to this node's instances: the SC has exported each to this
node's initiator (mallee/iscsi.py); the NC only plugs the LUN into the guest as a
libvirt iSCSI disk and unplugs it. Like the rest of the NC it keeps no record of
its own: the domain's definition holds the disks, libvirt the CHAP secrets, and
both go with the domain when the instance ends."""
from __future__ import annotations

from mallee import errors
from mallee.iscsi import node_initiator
from node_controller.ebs_disks import target_dev, volume_disk
from node_controller.hypervisor import volume_serial
from node_controller.instances import InstanceManager


class Attachments:
    def __init__(self, manager: InstanceManager, node_name: str):
        self.manager = manager
        self.initiator = node_initiator(node_name)

    async def attach(self, instance_id: str, volume_id: str, device: str,
                     connection: dict) -> dict:
        """Plug an exported volume into a running instance (hot: no reboot); asking
        again for the same volume does nothing."""
        self.manager._get(instance_id)
        disks = await self.manager._call(self.manager.driver.disks, instance_id)
        serial = volume_serial(volume_id)
        disk = volume_disk(instance_id, volume_id, connection, self.initiator,
                           disks.get(serial) or target_dev(device, disks.values()))
        try:
            await self.manager._call_on(instance_id, self.manager.driver.attach_disk,
                                        instance_id, disk, connection["chap_password"])
        except Exception as exc:  # noqa: BLE001 - the guest keeps running; say why
            raise errors.IncorrectState(f"{volume_id} could not be attached to "
                                        f"{instance_id}: {str(exc).splitlines()[0][:300]}")
        return {"instance_id": instance_id, "volume_id": volume_id, "serial": serial,
                "target_dev": disk.target_dev}

    async def detach(self, instance_id: str, volume_id: str) -> dict:
        """Unplug a volume, once the guest has let it go; an instance or volume
        that is not here is fine (already done)."""
        await self.manager._call_on(instance_id, self.manager.driver.detach_disk,
                                    instance_id, volume_serial(volume_id))
        return {"instance_id": instance_id, "volume_id": volume_id}

    async def attached(self, instance_id: str) -> list[str]:
        """Serials of the volumes in an instance now."""
        disks = await self.manager._call(self.manager.driver.disks, instance_id)
        return sorted(s for s in disks if s.startswith("vol"))

