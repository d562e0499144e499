"""EBS snapshots with real guests, as a user drives them (boto3 -> CLC -> SC ->
Walrus, and CC -> NC -> libvirt/QEMU): a guest writes to its attached volume and
prints the MD5 of what it wrote; a snapshot of the volume is taken while it is
still attached, a new volume is made from the snapshot and attached to a second
instance, whose guest reads the same MD5 from it."""
from __future__ import annotations

import pytest

from tests.integration.guests import real_cloud
from tests.integration.test_cloud_volumes import attach, guest_writes, launch, md5_line

pytestmark = pytest.mark.integration
pytest.importorskip("libvirt")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("snapcloud"), MALLEE_NC_CORES="2")
    yield c
    c.stop()


def test_a_volume_made_from_a_snapshot_reads_what_the_guest_wrote(cloud, tmp_path_factory):
    ec2 = cloud.client("ec2")
    image = cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
    source, writer, _, written = guest_writes(cloud, ec2, image)

    snapshot = ec2.create_snapshot(VolumeId=source, Description="from a guest")["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot],
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    restored = ec2.create_volume(AvailabilityZone="mallee-1a", SnapshotId=snapshot)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[restored],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    reader = launch(cloud, ec2, image, f"#!/bin/sh\nmallee-volume check {restored} 16\n")
    attach(cloud, ec2, restored, reader)
    vid, _, read = md5_line(cloud, ec2, reader)
    assert (vid, read) == (restored, written)

    ec2.terminate_instances(InstanceIds=[writer, reader])
    for volume_id in (source, restored):
        assert cloud.wait_for(lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0][
            "State"] == "available", timeout=90)
        ec2.delete_volume(VolumeId=volume_id)
    ec2.delete_snapshot(SnapshotId=snapshot)
    assert cloud.wait_for(lambda: not ec2.describe_volumes()["Volumes"] and not ec2.
                          describe_snapshots(OwnerIds=["self"])["Snapshots"], timeout=60)
