"""EBS-backed instances through the EC2 API (boto3) on a test cloud of two nodes
(FakeDriver): RegisterImage from a snapshot, RunInstances making the root volume
from it, StopInstances and StartInstances (states, reasons, waiters, the node's
resources freed and taken again, possibly on the other node, the same id, MAC,
private address, groups and volumes), DeleteOnTermination, EC2's errors, and
instance-store instances refused. tests/integration/test_cloud_ebs_boot.py boots
real guests from a real volume."""
from __future__ import annotations

import pytest

from mallee.iscsi import node_initiator
from node_controller.app import MANAGER
from tests.api.test_volumes import ZONE, code_of, new_volume, sc_volumes
from tests.harness import Cloud, available_components

FAST = {"Delay": 1, "MaxAttempts": 60}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = Cloud(tmp_path_factory.mktemp("cloud"), available_components(), nodes=2).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def ec2(cloud):
    return cloud.client("ec2")


@pytest.fixture(scope="module")
def published(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))


@pytest.fixture(scope="module")
def snapshot(ec2):
    volume_id = new_volume(ec2, Size=1)["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=FAST)
    return snapshot_id


@pytest.fixture(scope="module")
def ebs_image(ec2, published, snapshot):
    return ec2.register_image(
        Name="ebs-test", RootDeviceName="/dev/sda1", KernelId=published["kernel"],
        RamdiskId=published["ramdisk"], Architecture="x86_64",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                              "Ebs": {"SnapshotId": snapshot, "VolumeSize": 2}},
                             {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}])["ImageId"]


def managers(cloud) -> list:
    return [r.app[MANAGER] for r in cloud._runners if MANAGER in r.app]


def node_of(cloud, instance_id: str) -> int | None:
    """Which node's NC holds the instance (index), if any."""
    return next((i for i, m in enumerate(managers(cloud)) if instance_id in m.instances), None)


def instance(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def run(ec2, image: str, **kwargs) -> str:
    answer = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m1.small",
                               Placement={"AvailabilityZone": ZONE}, **kwargs)
    instance_id = answer["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    return instance_id


def test_an_ebs_image_shows_its_mappings(ec2, ebs_image, snapshot):
    image = ec2.describe_images(ImageIds=[ebs_image])["Images"][0]
    assert (image["RootDeviceType"], image["RootDeviceName"], image["State"]) == \
        ("ebs", "/dev/sda1", "available")
    root, ephemeral = image["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/sda1" and root["Ebs"]["SnapshotId"] == snapshot
    assert root["Ebs"]["VolumeSize"] == 2 and root["Ebs"]["DeleteOnTermination"] is True
    assert ephemeral == {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}
    found = ec2.describe_images(Filters=[{"Name": "root-device-type", "Values": ["ebs"]}])
    assert [i["ImageId"] for i in found["Images"]] == [ebs_image]
    assert ec2.describe_image_attribute(ImageId=ebs_image, Attribute="blockDeviceMapping")[
        "BlockDeviceMappings"] == image["BlockDeviceMappings"]


def test_register_image_errors(ec2, published, snapshot):
    assert code_of(ec2.register_image, Name="no-root", RootDeviceName="/dev/sda1",
                   BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {
                       "SnapshotId": snapshot}}]) == "InvalidBlockDeviceMapping"
    assert code_of(ec2.register_image, Name="small", RootDeviceName="/dev/sda1",
                   BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {
                       "SnapshotId": snapshot, "VolumeSize": 0}}]) in (
        "InvalidBlockDeviceMapping", "InvalidParameterValue")
    assert code_of(ec2.register_image, Name="nosnap", RootDeviceName="/dev/sda1",
                   BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {
                       "SnapshotId": "snap-0123456789abcdef0"}}]) == "InvalidSnapshot.NotFound"
    assert code_of(ec2.register_image, Name="dup", RootDeviceName="/dev/sda1",
                   BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {
                       "SnapshotId": snapshot}}, {"DeviceName": "/dev/sda1", "NoDevice": ""}]
                   ) == "InvalidBlockDeviceMapping"


def test_stop_and_start_keep_the_instance(cloud, ec2, ebs_image):
    instance_id = run(ec2, ebs_image, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "role", "Value": "root"}]}])
    first = instance(ec2, instance_id)
    assert (first["RootDeviceType"], first["RootDeviceName"]) == ("ebs", "/dev/sda1")
    (root,) = first["BlockDeviceMappings"]
    volume_id = root["Ebs"]["VolumeId"]
    assert (root["DeviceName"], root["Ebs"]["Status"], root["Ebs"]["DeleteOnTermination"]) == \
        ("/dev/sda1", "attached", True)
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["State"], volume["Size"], volume["SnapshotId"]) == ("in-use", 2,
                                                                      volume["SnapshotId"])
    assert {"Key": "role", "Value": "root"} in volume["Tags"]
    node = node_of(cloud, instance_id)
    spec = managers(cloud)[node].instances[instance_id].spec
    assert spec["image"] is None and spec["volumes"][0]["root"] is True
    assert len(sc_volumes(cloud)[volume_id]["exported_to"]) == 1
    free_before = managers(cloud)[node].free()

    stopped = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
    assert (stopped["PreviousState"]["Name"], stopped["CurrentState"]["Name"]) == \
        ("running", "stopping")
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    shown = instance(ec2, instance_id)
    assert shown["StateReason"] == {"Code": "Client.UserInitiatedShutdown",
                                    "Message": "Client.UserInitiatedShutdown: User initiated "
                                               "shutdown"}
    assert shown["StateTransitionReason"].startswith("User initiated (")
    assert node_of(cloud, instance_id) is None  # no node holds it, nor its resources
    after = managers(cloud)[node].free()
    assert after[0] == free_before[0] + 1 and after[1] > free_before[1]
    assert sc_volumes(cloud)[volume_id]["exported_to"] == []  # no node may reach it
    assert shown["BlockDeviceMappings"] == first["BlockDeviceMappings"]  # still attached
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "in-use"
    again = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
    assert again["CurrentState"]["Name"] == "stopped"

    nodes = {node}
    for _ in range(2):  # round robin: one of two starts lands on the other node
        started = ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"][0]
        assert (started["PreviousState"]["Name"], started["CurrentState"]["Name"]) == \
            ("stopped", "pending")
        ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
        now = instance(ec2, instance_id)
        for key in ("InstanceId", "PrivateIpAddress", "SecurityGroups", "BlockDeviceMappings",
                    "NetworkInterfaces"):
            assert now[key] == first[key], key
        assert now.get("StateReason") is None and now["StateTransitionReason"] == ""
        where = node_of(cloud, instance_id)
        nodes.add(where)
        spec = managers(cloud)[where].instances[instance_id].spec
        assert spec["mac"] == first["NetworkInterfaces"][0]["MacAddress"]
        assert [v["volume_id"] for v in spec["volumes"]] == [volume_id]
        # exported to the node it runs on now, and to no other
        assert sc_volumes(cloud)[volume_id]["exported_to"] == [
            node_initiator(cloud.node_settings[where].nc.name)]
        ec2.stop_instances(InstanceIds=[instance_id], Force=True)
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    assert nodes == {0, 1}

    ended = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
    assert ended["PreviousState"]["Name"] == "stopped"
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    assert volume_id not in sc_volumes(cloud)


def test_launch_block_device_mapping(cloud, ec2, ebs_image):
    instance_id = run(ec2, ebs_image, BlockDeviceMappings=[
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 3}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdb", "NoDevice": ""}])
    mappings = {m["DeviceName"]: m["Ebs"] for m in instance(ec2, instance_id)[
        "BlockDeviceMappings"]}
    assert set(mappings) == {"/dev/sda1", "/dev/sdf"}
    assert mappings["/dev/sdf"]["DeleteOnTermination"] is False
    sizes = {v["VolumeId"]: v["Size"] for v in ec2.describe_volumes(
        VolumeIds=[m["VolumeId"] for m in mappings.values()])["Volumes"]}
    assert sizes == {mappings["/dev/sda1"]["VolumeId"]: 3, mappings["/dev/sdf"]["VolumeId"]: 1}
    spec = managers(cloud)[node_of(cloud, instance_id)].instances[instance_id].spec
    assert sorted(v["device"] for v in spec["volumes"]) == ["/dev/sda1", "/dev/sdf"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    kept = mappings["/dev/sdf"]["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[kept], WaiterConfig=FAST)
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[mappings["/dev/sda1"]["VolumeId"]],
                                          WaiterConfig=FAST)
    ec2.delete_volume(VolumeId=kept)


def test_stop_and_start_errors(cloud, ec2, published, ebs_image):
    store = run(ec2, published["image"])
    for call in (ec2.stop_instances, ec2.start_instances):
        with pytest.raises(Exception) as caught:
            call(InstanceIds=[store])
        error = caught.value.response["Error"]
        assert error["Code"] == "UnsupportedOperation"
        assert f"The instance '{store}' does not have an 'ebs' root device type" in \
            error["Message"]
    ebs = run(ec2, ebs_image)
    assert code_of(ec2.stop_instances, InstanceIds=[ebs], Hibernate=True) == \
        "UnsupportedHibernationConfiguration"
    assert code_of(ec2.stop_instances, InstanceIds=[ebs, store]) == "UnsupportedOperation"
    assert instance(ec2, ebs)["State"]["Name"] == "running"  # all or none
    assert ec2.start_instances(InstanceIds=[ebs])["StartingInstances"][0][
        "CurrentState"]["Name"] == "running"
    assert code_of(ec2.stop_instances, InstanceIds=["i-0123456789abcdef0"]) == \
        "InvalidInstanceID.NotFound"
    ec2.modify_instance_attribute(InstanceId=ebs, DisableApiStop={"Value": True})
    assert code_of(ec2.stop_instances, InstanceIds=[ebs]) == "OperationNotPermitted"
    ec2.modify_instance_attribute(InstanceId=ebs, DisableApiStop={"Value": False})
    ec2.terminate_instances(InstanceIds=[store, ebs])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[store, ebs], WaiterConfig=FAST)
    assert code_of(ec2.start_instances, InstanceIds=[ebs]) == "IncorrectInstanceState"


def test_a_guest_shutdown_stops_an_ebs_instance(cloud, ec2, ebs_image):
    """EC2's default behaviour for an EBS root: the guest's own poweroff stops it."""
    instance_id = run(ec2, ebs_image)
    assert ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    manager = managers(cloud)[node_of(cloud, instance_id)]
    manager.driver.destroy(instance_id)  # as a guest that powered itself off
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    assert instance(ec2, instance_id)["StateReason"]["Code"] == \
        "Client.InstanceInitiatedShutdown"
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=FAST)


@pytest.mark.parametrize("stop_first", [False, True])
def test_create_image_from_an_ebs_instance(cloud, ec2, ebs_image, stop_first):
    instance_id = run(ec2, ebs_image, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}}])
    if stop_first:
        ec2.stop_instances(InstanceIds=[instance_id])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    name = f"captured-{stop_first}"
    image_id = ec2.create_image(InstanceId=instance_id, Name=name, Description="mine",
                                NoReboot=True)["ImageId"]
    assert code_of(ec2.create_image, InstanceId=instance_id, Name=name) == \
        "InvalidAMIName.Duplicate"
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig=FAST)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert (image["RootDeviceType"], image["Name"], image["Description"]) == \
        ("ebs", name, "mine")
    devices = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert set(devices) == {"/dev/sda1", "/dev/sdf"}
    snapshots = ec2.describe_snapshots(SnapshotIds=[d["SnapshotId"] for d in devices.values()])
    assert {s["State"] for s in snapshots["Snapshots"]} == {"completed"}
    assert devices["/dev/sda1"]["VolumeSize"] == 2
    booted = run(ec2, image_id)
    volumes = {m["DeviceName"] for m in instance(ec2, booted)["BlockDeviceMappings"]}
    assert volumes == {"/dev/sda1", "/dev/sdf"}
    ec2.terminate_instances(InstanceIds=[instance_id, booted])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id, booted],
                                               WaiterConfig=FAST)


def test_create_image_errors(cloud, ec2, published):
    store = run(ec2, published["image"])
    assert code_of(ec2.create_image, InstanceId=store, Name="from-store") == \
        "UnsupportedOperation"
    assert code_of(ec2.create_image, InstanceId="i-0123456789abcdef0", Name="none") == \
        "InvalidInstanceID.NotFound"
    ec2.terminate_instances(InstanceIds=[store])


def test_volumes_attach_and_detach_while_stopped(cloud, ec2, ebs_image):
    instance_id = run(ec2, ebs_image)
    root = instance(ec2, instance_id)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert code_of(ec2.detach_volume, VolumeId=root) == "OperationNotPermitted"
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    extra = new_volume(ec2)["VolumeId"]
    assert ec2.attach_volume(VolumeId=extra, InstanceId=instance_id, Device="/dev/sdg")[
        "State"] == "attached"  # nothing to plug until it starts
    assert sc_volumes(cloud)[extra]["exported_to"] == []
    ec2.start_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    disks = managers(cloud)[node_of(cloud, instance_id)].driver.disks(instance_id)
    assert disks[extra.replace("-", "", 1)[:20]] == "vdg"  # plugged at its device
    assert len(sc_volumes(cloud)[extra]["exported_to"]) == 1
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    ec2.detach_volume(VolumeId=extra)
    ec2.get_waiter("volume_available").wait(VolumeIds=[extra], WaiterConfig=FAST)
    ec2.delete_volume(VolumeId=extra)
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
