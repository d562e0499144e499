"""EBS with real guests, as a user drives it (awscli -> CLC -> SC and CC -> NC ->
libvirt/QEMU): a volume attached to a running instance is written by the guest
(its user data runs mallee-volume), detached, attached to a second instance, and
reads back the same bytes; nothing of either attachment is left on the node or
the SC afterwards."""
from __future__ import annotations

import re

import pytest

from tests.integration.guests import real_cloud

pytestmark = pytest.mark.integration
libvirt = pytest.importorskip("libvirt")

BOOT_TIMEOUT = 120
MD5 = re.compile(r"volume (vol-[0-9a-f]+) on (vd[a-z]+): 16 MiB at 0 MiB: (?:wrote )?md5 "
                 r"([0-9a-f]{32})")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("volcloud"), MALLEE_NC_CORES="2")
    yield c
    c.stop()


def console(ec2, instance_id: str) -> str:
    return ec2.get_console_output(InstanceId=instance_id).get("Output", "")


def launch(cloud, ec2, image: str, user_data: str) -> str:
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small",
                                    UserData=user_data)["Instances"][0]["InstanceId"]
    assert cloud.wait_for(lambda: "MALLEE-TEST-BOOTED" in console(ec2, instance_id),
                          timeout=BOOT_TIMEOUT, interval=1), console(ec2, instance_id)[-2000:]
    return instance_id


def attach(cloud, ec2, volume_id: str, instance_id: str) -> None:
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert cloud.wait_for(lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0][
        "Attachments"][0]["State"] == "attached", timeout=60)


def md5_line(cloud, ec2, instance_id: str):
    assert cloud.wait_for(lambda: MD5.search(console(ec2, instance_id)), timeout=120,
                          interval=1), console(ec2, instance_id)[-2000:]
    return MD5.search(console(ec2, instance_id)).groups()


def guest_writes(cloud, ec2, image: str) -> tuple[str, str, str, str]:
    """A new 1 GiB volume attached to a new instance whose user data wrote 16 MiB to
    it: (volume id, instance id, the guest's device, the MD5 it printed)."""
    volume_id = ec2.create_volume(AvailabilityZone="mallee-1a", Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    writer = launch(cloud, ec2, image, f"#!/bin/sh\nmallee-volume write {volume_id} 16\n")
    attach(cloud, ec2, volume_id, writer)
    vid, device, written = md5_line(cloud, ec2, writer)
    assert vid == volume_id
    print(f"\nguest wrote 16 MiB to {volume_id} as {device}: md5 {written}")
    return volume_id, writer, device, written


def secrets_left(prefix: str) -> list[str]:
    conn = libvirt.open("qemu:///system")
    try:
        return [s.usageID() for s in conn.listAllSecrets(0) if s.usageID().startswith(prefix)]
    finally:
        conn.close()


def test_a_volume_keeps_what_one_guest_wrote_for_the_next(cloud, tmp_path_factory):
    ec2 = cloud.client("ec2")
    image = cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
    volume_id, writer, device, written = guest_writes(cloud, ec2, image)
    assert f"disk: {device} {volume_id.replace('-', '')}" in console(ec2, writer)

    ec2.detach_volume(VolumeId=volume_id)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    assert cloud.wait_for(lambda: f"disk gone: {device}" in console(ec2, writer), timeout=30)
    assert secrets_left(f"mallee-{volume_id}-{writer}") == []

    reader = launch(cloud, ec2, image, f"#!/bin/sh\nmallee-volume check {volume_id} 16\n")
    attach(cloud, ec2, volume_id, reader)
    _, _, read = md5_line(cloud, ec2, reader)
    assert read == written

    # The instance ends with the volume still in it: the volume comes back, and
    # the domain took its secret along.
    ec2.terminate_instances(InstanceIds=[writer, reader])
    assert cloud.wait_for(lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0][
        "State"] == "available", timeout=90)
    assert secrets_left(f"mallee-{volume_id}") == []
    ec2.delete_volume(VolumeId=volume_id)
    assert cloud.wait_for(lambda: volume_id not in {
        v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}, timeout=30)
    assert not (cloud.settings.data_dir("sc") / "volumes" / f"{volume_id}.raw").exists()
