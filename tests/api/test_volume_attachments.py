"""AttachVolume and DetachVolume through the EC2 API (boto3) on the test cloud: the
states EC2 shows, the SC's export to the instance's node, the disk in the node's
domain (FakeDriver here; tests/ebs/test_volume_attach.py plugs a real one into a
QEMU guest), EC2's errors, and what a terminated instance gives back."""
from __future__ import annotations

import pytest

from node_controller.app import MANAGER
from tests.api.test_volumes import ZONE, code_of, delete_and_wait, new_volume, sc_volumes

SERIAL = lambda volume_id: volume_id.replace("-", "", 1)  # noqa: E731


def node_disks(cloud, instance_id: str) -> dict:
    manager = next(r.app[MANAGER] for r in cloud._runners if MANAGER in r.app)
    return manager.driver.disks(instance_id)


def running(cloud, ec2, image) -> str:
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small",
                                    Placement={"AvailabilityZone": ZONE}
                                    )["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return instance_id


def attachment(ec2, volume_id: str) -> dict:
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return {"state": volume["State"],
            "attachments": [(a["InstanceId"], a["Device"], a["State"])
                            for a in volume["Attachments"]]}


def test_attach_detach_and_terminate(cloud, ec2, published):
    instance_id = running(cloud, ec2, published["image"])
    volume_id = new_volume(ec2)["VolumeId"]
    try:
        answer = ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id,
                                   Device="/dev/sdf")
        assert (answer["State"], answer["Device"]) == ("attaching", "/dev/sdf")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        assert cloud.wait_for(lambda: attachment(ec2, volume_id) == {
            "state": "in-use", "attachments": [(instance_id, "/dev/sdf", "attached")]},
            timeout=30), attachment(ec2, volume_id)
        assert node_disks(cloud, instance_id)[SERIAL(volume_id)] == "vdf"
        shown = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"][0]["BlockDeviceMappings"]
        assert [(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["Status"]) for m in shown] == \
            [("/dev/sdf", volume_id, "attached")]
        assert ec2.describe_instance_attribute(InstanceId=instance_id,
                                               Attribute="blockDeviceMapping")[
            "BlockDeviceMappings"] == shown
        exported = sc_volumes(cloud)[volume_id]["exported_to"]
        assert len(exported) == 1 and exported[0].startswith("iqn.2026-12.org.mallee:node.")
        filtered = ec2.describe_volumes(Filters=[
            {"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
        assert [v["VolumeId"] for v in filtered] == [volume_id]

        # EC2's refusals while it is attached.
        assert code_of(ec2.delete_volume, VolumeId=volume_id) == "VolumeInUse"
        assert code_of(ec2.attach_volume, VolumeId=volume_id, InstanceId=instance_id,
                       Device="/dev/sdg") == "VolumeInUse"
        other = new_volume(ec2)["VolumeId"]
        assert code_of(ec2.attach_volume, VolumeId=other, InstanceId=instance_id,
                       Device="/dev/sdf") == "InvalidParameterValue"  # device in use
        assert code_of(ec2.detach_volume, VolumeId=volume_id,
                       InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
        assert code_of(ec2.detach_volume, VolumeId=volume_id, InstanceId=instance_id,
                       Device="/dev/sdg") == "InvalidAttachment.NotFound"
        assert code_of(ec2.detach_volume, VolumeId=other) == "IncorrectState"

        detached = ec2.detach_volume(VolumeId=volume_id)
        assert detached["State"] == "detaching"
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        assert attachment(ec2, volume_id) == {"state": "available", "attachments": []}
        assert SERIAL(volume_id) not in node_disks(cloud, instance_id)
        assert sc_volumes(cloud)[volume_id]["exported_to"] == []

        # Attached again, then the instance ends: the volume comes back available.
        ec2.attach_volume(VolumeId=other, InstanceId=instance_id, Device="/dev/xvdh")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[other],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        ec2.terminate_instances(InstanceIds=[instance_id])
        assert cloud.wait_for(lambda: attachment(ec2, other)["state"] == "available",
                              timeout=60), attachment(ec2, other)
        assert sc_volumes(cloud)[other]["exported_to"] == []
        delete_and_wait(cloud, ec2, other)
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
        cloud.wait_for(lambda: attachment(ec2, volume_id)["state"] == "available", timeout=60)
        delete_and_wait(cloud, ec2, volume_id)


@pytest.mark.parametrize("device", ["sdf", "/dev/sda1", "/dev/foo", "/dev/sdf;x"])
def test_device_names_ec2_refuses(ec2, device):
    assert code_of(ec2.attach_volume, VolumeId="vol-0123456789abcdef0",
                   InstanceId="i-0123456789abcdef0", Device=device) == "InvalidParameterValue"


def test_another_accounts_volume_or_instance_is_not_found(cloud, ec2, alice_ec2, published):
    volume_id = new_volume(ec2)["VolumeId"]
    try:
        assert code_of(alice_ec2.attach_volume, VolumeId=volume_id,
                       InstanceId="i-0123456789abcdef0",
                       Device="/dev/sdf") == "InvalidVolume.NotFound"
        assert code_of(ec2.attach_volume, VolumeId=volume_id, InstanceId="i-0123456789abcdef0",
                       Device="/dev/sdf") == "InvalidInstanceID.NotFound"
        assert code_of(alice_ec2.detach_volume, VolumeId=volume_id) == "InvalidVolume.NotFound"
    finally:
        delete_and_wait(cloud, ec2, volume_id)
