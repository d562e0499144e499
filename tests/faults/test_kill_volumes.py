"""Kill -9 the CLC between a volume's COMMIT and its call to the SC (CreateVolume,
ModifyVolume, DeleteVolume); the CLC that starts again finishes each: the volume is
available with the SC's file, grown, or gone with its file."""
from __future__ import annotations

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.faults.processes import Component
from tests.faults.survival import SURVIVED
from tests.harness import Cloud

pytestmark = pytest.mark.faults

ZONE = "mallee-1a"
NO_REPLY = (BotoCoreError, ClientError)  # the connection closed, or refused on a retry


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    cloud = Cloud(tmp_path_factory.mktemp("kill-volumes"), ("walrus", "sc", "nc", "cc")).start()
    clc = Component(cloud, "clc")
    try:
        yield cloud, clc
    finally:
        clc.stop()
        cloud.stop()


def _killed_in(cloud: Cloud, clc: Component, point: str, call) -> None:
    """Start the CLC armed at `point`, make the call (no reply), see it die there,
    then start it again unarmed."""
    clc.stop()
    clc.start(crash_at=point)
    with pytest.raises(NO_REPLY):
        call(cloud.client("ec2", read_timeout=20, connect_timeout=5))
    clc.wait_killed()
    clc.start()


def test_a_killed_clc_finishes_its_volumes(control):
    cloud, clc = control
    path = lambda vid: cloud.settings.data_dir("sc") / "volumes" / f"{vid}.raw"  # noqa: E731
    wait = {"WaiterConfig": {"Delay": 1, "MaxAttempts": 30}}

    _killed_in(cloud, clc, "clc.volume.recorded",
               lambda ec2: ec2.create_volume(AvailabilityZone=ZONE, Size=2))
    ec2 = cloud.client("ec2")
    [volume] = ec2.describe_volumes()["Volumes"]  # committed before the kill
    vid = volume["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid], **wait)
    assert path(vid).stat().st_size == 2 * 2**30
    SURVIVED.record("clc", "CreateVolume, kill after the row's COMMIT",
                    "the restarted CLC had the SC make the file: available")

    _killed_in(cloud, clc, "clc.volume.modifying",
               lambda ec2: ec2.modify_volume(VolumeId=vid, Size=3))
    ec2 = cloud.client("ec2")
    assert cloud.wait_for(lambda: ec2.describe_volumes_modifications(VolumeIds=[vid])[
        "VolumesModifications"][0]["ModificationState"] == "completed", timeout=30)
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Size"] == 3
    assert path(vid).stat().st_size == 3 * 2**30
    SURVIVED.record("clc", "ModifyVolume, kill after the modification's COMMIT",
                    "the restarted CLC had the SC grow the file: completed")

    _killed_in(cloud, clc, "clc.volume.deleting",
               lambda ec2: ec2.delete_volume(VolumeId=vid))
    ec2 = cloud.client("ec2")
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[vid], **wait)
    assert not path(vid).exists()
    SURVIVED.record("clc", "DeleteVolume, kill after `deleting`'s COMMIT",
                    "the restarted CLC had the SC remove the file: gone")


def test_a_killed_clc_finishes_its_snapshots(control):
    """CreateSnapshot killed after its `pending` row's COMMIT, before the SC took the
    copy: the CLC started again has the SC take it, and it completes; DeleteSnapshot
    killed after `deleting`: the snapshot is gone, at the SC too."""
    cloud, clc = control
    ec2 = cloud.client("ec2")
    wait = {"WaiterConfig": {"Delay": 1, "MaxAttempts": 60}}
    vid = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid], **wait)

    _killed_in(cloud, clc, "clc.snapshot.recorded",
               lambda ec2: ec2.create_snapshot(VolumeId=vid))
    ec2 = cloud.client("ec2")
    [snapshot] = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    sid = snapshot["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], **wait)
    SURVIVED.record("clc", "CreateSnapshot, kill after the row's COMMIT",
                    "the restarted CLC had the SC take and upload it: completed")

    _killed_in(cloud, clc, "clc.snapshot.deleting",
               lambda ec2: ec2.delete_snapshot(SnapshotId=sid))
    ec2 = cloud.client("ec2")
    assert cloud.wait_for(lambda: not ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"],
                          timeout=30)
    assert cloud.wait_for(lambda: _sc_snapshots(cloud) == [], timeout=30), \
        "the SC still holds the deleted snapshot"
    SURVIVED.record("clc", "DeleteSnapshot, kill after `deleting`'s COMMIT",
                    "the restarted CLC had the SC let go of it: gone")
    ec2.delete_volume(VolumeId=vid)
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[vid], **wait)


def _sc_snapshots(cloud) -> list:
    from tests.api.test_volumes import ask_sc
    return ask_sc(cloud, "describe_snapshots")
