"""An EBS volume as a guest's disk: the libvirt iSCSI disk for one export the SC
made to this node's initiator, and the device it takes. Shared by hot attach
(volumes.py) and by a boot whose disks include volumes (instances.py: an
EBS root, and the volumes a stopped instance takes along when it starts)."""
from __future__ import annotations

import re

from mallee import errors
from node_controller.hypervisor import IscsiDisk, volume_serial

_DEVICE = re.compile(r"^/dev/(?:sd|xvd|vd|hd)([a-z]{1,2})\d*$")
ROOT_DEV = "vda"  # the test image and EC2's Linux kernels boot root=/dev/vda
FIRST_VOLUME_DEV = "vdd"  # vda root, vdb ephemeral, vdc swap


def secret_usage(volume_id: str, instance_id: str) -> str:
    """The libvirt secret holding this attachment's CHAP password."""
    return f"mallee-{volume_id}-{instance_id}"


def volume_disk(instance_id: str, volume_id: str, connection: dict, initiator: str,
                target_dev: str) -> IscsiDisk:
    return IscsiDisk(
        host=connection["host"], port=int(connection["port"]), iqn=connection["iqn"],
        lun=int(connection["lun"]), initiator=initiator, chap_user=connection["chap_user"],
        secret_usage=secret_usage(volume_id, instance_id), serial=volume_serial(volume_id),
        target_dev=target_dev)


def target_dev(device: str, taken) -> str:
    """The libvirt target for the device name the user gave (/dev/sdf -> vdf), or
    the next free one if that is taken; the guest names disks in PCI order anyway."""
    taken = set(taken)
    match = _DEVICE.match(device or "")
    wanted = f"vd{match[1]}" if match else None
    if wanted and wanted not in taken and wanted >= FIRST_VOLUME_DEV:
        return wanted
    for letter in "defghijklmnopqrstuvwxyz":
        if f"vd{letter}" not in taken:
            return f"vd{letter}"
    raise errors.AttachmentLimitExceeded("No free device left on this instance.")
