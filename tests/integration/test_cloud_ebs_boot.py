"""An EBS-backed instance with real guests, as a user drives it (boto3 -> CLC -> SC,
CC -> NC -> libvirt/QEMU): an AMI registered from a snapshot of a volume that holds
the test image's root filesystem boots from a volume made from that snapshot; the
guest writes to its EBS root; after StopInstances and StartInstances it finds what
it wrote; CreateImage from it makes an AMI whose new instance finds it too; every
volume goes with its instance, and no CHAP secret is left on the node."""
from __future__ import annotations

import secrets

import pytest

from mallee.images.testimage import build_test_image
from tests.integration.guests import real_cloud
from tests.integration.test_cloud_volumes import console, secrets_left

pytestmark = pytest.mark.integration
libvirt = pytest.importorskip("libvirt")

BOOT_TIMEOUT = 180
SLOW = {"Delay": 2, "MaxAttempts": 150}
# Runs at every boot (the test image runs its user data each time): the first boot
# writes a token to its root filesystem, later boots (and other instances made from
# its image) find it there.
SCRIPT = """#!/bin/sh
if [ -f /root/mallee-data ]; then echo "data: found $(cat /root/mallee-data)"
else echo {token} > /root/mallee-data; sync; echo "data: wrote $(cat /root/mallee-data)"; fi
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("ebscloud"), MALLEE_NC_CORES="2")
    yield c
    c.stop()


def wait_console(cloud, ec2, instance_id: str, text: str) -> None:
    assert cloud.wait_for(lambda: text in console(ec2, instance_id), timeout=BOOT_TIMEOUT,
                          interval=1), console(ec2, instance_id)[-2000:]


def test_an_ebs_guest_keeps_its_data_through_stop_start_and_create_image(
        cloud, tmp_path_factory):
    ec2 = cloud.client("ec2")
    published = cloud.publish_test_image(tmp_path_factory.mktemp("img"))
    rootfs = build_test_image(tmp_path_factory.mktemp("rootfs")).rootfs
    # A volume holding the image's root filesystem, as a user's `dd` to an attached
    # volume would leave it (written here to the SC's file of the volume).
    volume_id = ec2.create_volume(AvailabilityZone="mallee-1a", Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=SLOW)
    with open(cloud.settings.data_dir("sc") / "volumes" / f"{volume_id}.raw", "r+b") as f:
        f.write(rootfs.read_bytes())
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=SLOW)
    image_id = ec2.register_image(
        Name="ebs-testimage", RootDeviceName="/dev/sda1", KernelId=published["kernel"],
        RamdiskId=published["ramdisk"],
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                              "Ebs": {"SnapshotId": snapshot_id}}])["ImageId"]

    token = secrets.token_hex(8)
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small",
                                    UserData=SCRIPT.format(token=token))[
        "Instances"][0]["InstanceId"]
    wait_console(cloud, ec2, instance_id, f"data: wrote {token}")
    assert "root: disk" in console(ec2, instance_id)  # booted from its EBS root
    shown = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert shown["RootDeviceType"] == "ebs"
    root_volume = shown["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    address = shown["PrivateIpAddress"]

    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=SLOW)
    assert secrets_left(f"mallee-{root_volume}") == []  # the node let go of it
    ec2.start_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=SLOW)
    wait_console(cloud, ec2, instance_id, f"data: found {token}")
    again = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert again["PrivateIpAddress"] == address
    assert again["BlockDeviceMappings"][0]["Ebs"]["VolumeId"] == root_volume

    captured = ec2.create_image(InstanceId=instance_id, Name="ebs-captured",
                                NoReboot=True)["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[captured], WaiterConfig=SLOW)
    child = ec2.run_instances(ImageId=captured, MinCount=1, MaxCount=1,
                              InstanceType="m1.small",
                              UserData=SCRIPT.format(token="not-this-one"))[
        "Instances"][0]["InstanceId"]
    wait_console(cloud, ec2, child, f"data: found {token}")

    ec2.terminate_instances(InstanceIds=[instance_id, child])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id, child],
                                               WaiterConfig=SLOW)
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[root_volume], WaiterConfig=SLOW)
    assert cloud.wait_for(lambda: secrets_left("mallee-vol-") == [], timeout=30)
    ec2.delete_volume(VolumeId=volume_id)
