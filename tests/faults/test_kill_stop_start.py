"""Kill -9 the CLC between an EBS-backed instance's COMMIT and its call to the CC
(RunInstances before its root volume is made, StopInstances, StartInstances); the
CLC that starts again finishes each: the root volume is made and the instance
runs, the stop ends `stopped`, the start ends `running`."""
from __future__ import annotations

import pytest

from tests.faults.survival import SURVIVED
from tests.faults.test_kill_volumes import ZONE, _killed_in, control  # noqa: F401 (fixture)

pytestmark = pytest.mark.faults
WAIT = {"WaiterConfig": {"Delay": 1, "MaxAttempts": 60}}


def test_a_killed_clc_finishes_its_stops_and_starts(control):  # noqa: F811
    cloud, clc = control
    clc.start()
    ec2 = cloud.client("ec2")
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], **WAIT)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], **WAIT)
    image_id = ec2.register_image(Name="ebs-kill", RootDeviceName="/dev/sda1",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {
                                      "SnapshotId": snapshot_id}}])["ImageId"]

    _killed_in(cloud, clc, "clc.run.recorded", lambda ec2: ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": ZONE}))
    ec2 = cloud.client("ec2")
    [reservation] = ec2.describe_instances()["Reservations"]
    instance_id = reservation["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], **WAIT)
    shown = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert [m["DeviceName"] for m in shown["BlockDeviceMappings"]] == ["/dev/sda1"]
    SURVIVED.record("clc", "RunInstances of an EBS-backed image, kill after the COMMIT",
                    "the restarted CLC made the root volume and the instance runs")

    _killed_in(cloud, clc, "clc.stop.marked",
               lambda ec2: ec2.stop_instances(InstanceIds=[instance_id]))
    ec2 = cloud.client("ec2")
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], **WAIT)
    SURVIVED.record("clc", "StopInstances, kill after `stopping`'s COMMIT",
                    "the restarted CLC had the node stop it: stopped")

    _killed_in(cloud, clc, "clc.start.marked",
               lambda ec2: ec2.start_instances(InstanceIds=[instance_id]))
    ec2 = cloud.client("ec2")
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], **WAIT)
    after = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert after["BlockDeviceMappings"] == shown["BlockDeviceMappings"]
    SURVIVED.record("clc", "StartInstances, kill after `pending`'s COMMIT",
                    "the restarted CLC sent it to a node again: running")
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], **WAIT)
