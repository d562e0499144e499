"""BlockDeviceMapping.N as RegisterImage and RunInstances take it, and an image's
mappings as DescribeImages shows them."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.query import param
from cloud_controller.services.boot_volumes import BlockDevice


@dataclass
class EbsBlockDevice:
    snapshot_id: str = param("SnapshotId")
    volume_size: int = param("VolumeSize")
    delete_on_termination: bool = param("DeleteOnTermination")
    volume_type: str = param("VolumeType")
    iops: int = param("Iops")
    throughput: int = param("Throughput")
    encrypted: bool = param("Encrypted")
    kms_key_id: str = param("KmsKeyId")


@dataclass
class BlockDeviceMapping:
    device_name: str = param("DeviceName")
    virtual_name: str = param("VirtualName")
    ebs: EbsBlockDevice = param("Ebs")
    no_device: str = param("NoDevice", empty_is_value=True)

    def checked(self) -> BlockDevice:
        ebs = self.ebs
        return BlockDevice(
            device_name=self.device_name, virtual_name=self.virtual_name,
            no_device=self.no_device is not None,
            snapshot_id=ebs.snapshot_id if ebs else None,
            volume_size=ebs.volume_size if ebs else None,
            volume_type=ebs.volume_type if ebs else None, iops=ebs.iops if ebs else None,
            delete_on_termination=ebs.delete_on_termination if ebs else None,
            encrypted=bool(ebs and ebs.encrypted), ebs=ebs is not None)


def mapping_items(rows) -> list[dict]:
    """An image's image_block_devices rows as EC2's blockDeviceMapping."""
    out = []
    for r in rows:
        item = {"deviceName": r["device_name"]}
        if r["no_device"]:
            item["noDevice"] = ""
        elif r["virtual_name"]:
            item["virtualName"] = r["virtual_name"]
        else:
            item["ebs"] = {"snapshotId": r["snapshot_id"], "volumeSize": r["volume_size"],
                           "deleteOnTermination": bool(r["delete_on_termination"]),
                           "volumeType": r["volume_type"] or "gp2", "iops": r["iops"],
                           "encrypted": bool(r["encrypted"])}
        out.append(item)
    return out
