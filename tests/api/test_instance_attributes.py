"""Instance attributes through boto3 and awscli on the test cloud (FakeDriver):
DescribeInstanceAttribute and ModifyInstanceAttribute for every attribute EC2
names, in both request forms, with EC2's errors; DisableApiTermination guarding
TerminateInstances; groupSet changing what the network view enforces;
DeleteOnTermination of an attached volume; the guest's own shutdown ending the
instance with EC2's reason; RunInstances' attributes; GetPasswordData; and
isolation between accounts."""
from __future__ import annotations

import base64

import botocore.session
import pytest
from botocore.exceptions import ClientError

from node_controller.app import MANAGER
from tests.api.network_view import view_instance
from tests.api.test_volumes import ZONE, new_volume

ATTRIBUTE_NAMES = botocore.session.get_session().get_service_model("ec2").shape_for(
    "InstanceAttributeName").enum


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def code(call, **kwargs) -> str:
    return error(call, **kwargs)[0]


def launch(ec2, image, **kwargs) -> str:
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small", **kwargs)["Instances"][0][
        "InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return instance_id


def instance(ec2, instance_id) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]


def attribute(ec2, instance_id, name):
    return ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=name)


def end(ec2, instance_id) -> None:
    ec2.modify_instance_attribute(InstanceId=instance_id,
                                  DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[instance_id])


@pytest.fixture(scope="module")
def running(cloud, ec2, published):
    instance_id = launch(ec2, published["image"], UserData="hi")  # boto3 encodes it
    yield instance_id
    end(ec2, instance_id)


def test_every_attribute_has_ec2s_default(ec2, running):
    wire = {"kernel": "KernelId", "ramdisk": "RamdiskId", "groupSet": "Groups",
            "blockDeviceMapping": "BlockDeviceMappings"}
    got = {}
    for name in ATTRIBUTE_NAMES:
        answer = attribute(ec2, running, name)
        assert answer["InstanceId"] == running
        got[name] = answer.get(wire.get(name, name[0].upper() + name[1:]))
    shown = instance(ec2, running)
    assert got == {
        "instanceType": {"Value": "m1.small"}, "kernel": {"Value": shown["KernelId"]},
        "ramdisk": {"Value": shown["RamdiskId"]}, "userData": {"Value": "aGk="},
        "disableApiTermination": {"Value": False}, "disableApiStop": {"Value": False},
        "instanceInitiatedShutdownBehavior": {"Value": "terminate"},
        "rootDeviceName": {"Value": "/dev/sda1"}, "blockDeviceMapping": [],
        "productCodes": [], "sourceDestCheck": {"Value": True},
        "groupSet": [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]}
                     for g in shown["SecurityGroups"]],
        "ebsOptimized": {"Value": False}, "sriovNetSupport": {},
        "enaSupport": {"Value": False}, "enclaveOptions": {"Enabled": False}}
    assert (shown["RootDeviceType"], shown["RootDeviceName"]) == ("instance-store", "/dev/sda1")
    found = ec2.describe_instances(Filters=[{"Name": "root-device-type",
                                             "Values": ["instance-store"]}])
    assert running in [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    assert code(ec2.describe_instance_attribute, InstanceId=running,
                Attribute="colour") == "InvalidParameterValue"


def test_termination_protection_refuses_the_whole_call(cloud, ec2, published, running):
    other = launch(ec2, published["image"])
    try:
        ec2.modify_instance_attribute(InstanceId=running,
                                      DisableApiTermination={"Value": True})
        assert attribute(ec2, running, "disableApiTermination")[
            "DisableApiTermination"] == {"Value": True}
        assert error(ec2.terminate_instances, InstanceIds=[other, running]) == (
            "OperationNotPermitted",
            f"The instance '{running}' may not be terminated. Modify its "
            f"'disableApiTermination' instance attribute and try again.")
        # nothing in the request ended, the unprotected one neither
        assert instance(ec2, other)["State"]["Name"] == "running"
        assert instance(ec2, running)["State"]["Name"] == "running"
        # awscli's own switch turns it off again (the Attribute + Value form too)
        cloud.aws("ec2", "modify-instance-attribute", "--instance-id", running,
                  "--no-disable-api-termination")
        assert attribute(ec2, running, "disableApiTermination")[
            "DisableApiTermination"] == {"Value": False}
        ec2.modify_instance_attribute(InstanceId=running, Attribute="disableApiTermination",
                                      Value="true")
        assert code(ec2.terminate_instances, InstanceIds=[running]) == "OperationNotPermitted"
        ec2.modify_instance_attribute(InstanceId=running, Attribute="disableApiTermination",
                                      Value="false")
    finally:
        ec2.terminate_instances(InstanceIds=[other])
    assert ec2.terminate_instances(InstanceIds=[other])["TerminatingInstances"][0][
        "CurrentState"]["Name"] in ("shutting-down", "terminated")


def test_attributes_a_running_instance_takes(cloud, ec2, running):
    ec2.modify_instance_attribute(InstanceId=running, DisableApiStop={"Value": True})
    assert attribute(ec2, running, "disableApiStop")["DisableApiStop"] == {"Value": True}
    ec2.modify_instance_attribute(InstanceId=running, DisableApiStop={"Value": False})
    ec2.modify_instance_attribute(InstanceId=running,
                                  InstanceInitiatedShutdownBehavior={"Value": "terminate"})
    ec2.modify_instance_attribute(InstanceId=running, SourceDestCheck={"Value": False})
    assert attribute(ec2, running, "sourceDestCheck")["SourceDestCheck"] == {"Value": False}
    shown = instance(ec2, running)
    assert shown["SourceDestCheck"] is False
    assert shown["NetworkInterfaces"][0]["SourceDestCheck"] is False
    eni = shown["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert ec2.describe_network_interface_attribute(
        NetworkInterfaceId=eni, Attribute="sourceDestCheck")["SourceDestCheck"] == \
        {"Value": False}
    cloud.aws("ec2", "modify-instance-attribute", "--instance-id", running,
              "--attribute", "sourceDestCheck", "--value", "true")
    shown = cloud.aws("ec2", "describe-instance-attribute", "--instance-id", running,
                      "--attribute", "sourceDestCheck")
    assert shown["SourceDestCheck"] == {"Value": True}
    cloud.aws("ec2", "modify-instance-attribute", "--instance-id", running,
              "--disable-api-stop")
    assert attribute(ec2, running, "disableApiStop")["DisableApiStop"] == {"Value": True}
    cloud.aws("ec2", "modify-instance-attribute", "--instance-id", running,
              "--no-disable-api-stop")
    assert attribute(ec2, running, "disableApiStop")["DisableApiStop"] == {"Value": False}


def test_ec2s_refusals(ec2, published, running):
    modify = ec2.modify_instance_attribute
    # only while stopped, and an instance-store instance never is
    for change in ({"InstanceType": {"Value": "m1.large"}}, {"UserData": {"Value": b"x"}},
                   {"Kernel": {"Value": published["kernel"]}},
                   {"Ramdisk": {"Value": published["ramdisk"]}},
                   {"EbsOptimized": {"Value": True}}, {"EnaSupport": {"Value": True}},
                   {"SriovNetSupport": {"Value": "simple"}},
                   {"EnclaveOptions": {"Enabled": False}},
                   {"Attribute": "instanceType", "Value": "m1.large"}):
        assert error(modify, InstanceId=running, **change) == (
            "IncorrectInstanceState", f"The instance '{running}' is not in the 'stopped' "
                                      f"state."), change
    assert attribute(ec2, running, "instanceType")["InstanceType"] == {"Value": "m1.small"}
    # bad values
    assert code(modify, InstanceId=running, InstanceType={"Value": "m9.huge"}) == \
        "InvalidInstanceAttributeValue"
    assert code(modify, InstanceId=running, Kernel={"Value": published["image"]}) == \
        "InvalidParameterValue"
    assert code(modify, InstanceId=running, Kernel={"Value": "aki-00000000"}) == \
        "InvalidAMIID.NotFound"
    assert code(modify, InstanceId=running, SriovNetSupport={"Value": "fast"}) == \
        "InvalidParameterValue"
    assert code(modify, InstanceId=running, EnclaveOptions={"Enabled": True}) == \
        "UnsupportedOperation"
    assert code(modify, InstanceId=running, UserData={"Value": b"x" * 16385}) == \
        "InvalidParameterValue"
    assert code(modify, InstanceId=running,
                InstanceInitiatedShutdownBehavior={"Value": "hibernate"}) == \
        "InvalidParameterValue"
    assert error(modify, InstanceId=running,
                 InstanceInitiatedShutdownBehavior={"Value": "stop"}) == (
        "InvalidParameterCombination",
        "The attribute instanceInitiatedShutdownBehavior can only be used for elastic images.")
    assert code(modify, InstanceId=running, Attribute="disableApiTermination",
                Value="maybe") == "InvalidParameterValue"
    # what cannot be modified, one attribute at a time, something to modify
    assert code(modify, InstanceId=running, Attribute="rootDeviceName",
                Value="/dev/sdb") == "InvalidParameterValue"
    assert code(modify, InstanceId=running, Attribute="productCodes",
                Value="x") == "InvalidParameterValue"
    assert code(modify, InstanceId=running, Attribute="colour", Value="x") == \
        "InvalidParameterValue"
    assert error(modify, InstanceId=running) == ("InvalidParameterCombination",
                                                 "No attributes specified.")
    assert code(modify, InstanceId=running, DisableApiStop={"Value": True},
                SourceDestCheck={"Value": True}) == "InvalidParameterCombination"
    assert code(modify, InstanceId=running, Attribute="disableApiStop",
                SourceDestCheck={"Value": True}) == "InvalidParameterCombination"
    assert attribute(ec2, running, "disableApiStop")["DisableApiStop"] == {"Value": False}
    assert code(modify, InstanceId="i-0123456789abcdef0",
                DisableApiStop={"Value": True}) == "InvalidInstanceID.NotFound"
    assert code(modify, InstanceId="vol-1", DisableApiStop={"Value": True}) == \
        "InvalidInstanceID.Malformed"


def test_group_set_changes_the_enforced_rules(cloud, ec2, alice_ec2, running):
    web = ec2.create_security_group(GroupName="attrs-web", Description="web")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ssh = ec2.create_security_group(GroupName="attrs-ssh", Description="ssh")["GroupId"]
    before = [g["GroupId"] for g in instance(ec2, running)["SecurityGroups"]]
    assert cloud.wait_for(lambda: (view_instance(cloud, running) or {}).get("groups") ==
                          sorted(before), timeout=10)
    ec2.modify_instance_attribute(InstanceId=running, Groups=[web, ssh])
    assert sorted(g["GroupId"] for g in attribute(ec2, running, "groupSet")["Groups"]) == \
        sorted([web, ssh])
    assert sorted(g["GroupId"] for g in instance(ec2, running)["SecurityGroups"]) == \
        sorted([web, ssh])
    # the CC (and from it every node) holds the new membership, and the group's rules
    assert cloud.wait_for(lambda: (view_instance(cloud, running) or {}).get("groups") ==
                          sorted([web, ssh]), timeout=10), view_instance(cloud, running)
    from tests.api.network_view import cc_network
    rules = {g["group_id"]: g for g in cc_network(cloud)["view"]["groups"]}[web]["ingress"]
    assert [(r["protocol"], r["from_port"], r["cidrs"]) for r in rules] == \
        [("tcp", 80, ["0.0.0.0/0"])]
    # awscli's --groups, then back to where it was
    cloud.aws("ec2", "modify-instance-attribute", "--instance-id", running, "--groups", ssh)
    assert [g["GroupId"] for g in attribute(ec2, running, "groupSet")["Groups"]] == [ssh]
    assert cloud.wait_for(lambda: (view_instance(cloud, running) or {}).get("groups") ==
                          [ssh], timeout=10), view_instance(cloud, running)
    # a group in use by the instance cannot go; one it left can
    assert code(ec2.delete_security_group, GroupId=ssh) == "DependencyViolation"
    ec2.delete_security_group(GroupId=web)
    assert code(ec2.modify_instance_attribute, InstanceId=running,
                Groups=["sg-00000000000000000"]) == "InvalidGroup.NotFound"
    assert code(ec2.modify_instance_attribute, InstanceId=running,
                Groups=["web"]) == "InvalidGroupId.Malformed"
    theirs = alice_ec2.create_security_group(GroupName="attrs-alice",
                                             Description="x")["GroupId"]
    assert code(ec2.modify_instance_attribute, InstanceId=running,
                Groups=[theirs]) == "InvalidGroup.NotFound"  # another account's group
    assert [g["GroupId"] for g in attribute(ec2, running, "groupSet")["Groups"]] == [ssh]
    ec2.modify_instance_attribute(InstanceId=running, Groups=before)
    ec2.delete_security_group(GroupId=ssh)
    alice_ec2.delete_security_group(GroupId=theirs)


def test_delete_on_termination_of_an_attached_volume(cloud, ec2, published):
    instance_id = launch(ec2, published["image"], Placement={"AvailabilityZone": ZONE})
    kept, deleted = new_volume(ec2)["VolumeId"], new_volume(ec2)["VolumeId"]
    for volume_id, device in ((kept, "/dev/sdf"), (deleted, "/dev/sdg")):
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[kept, deleted],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    def flags():
        return {m["DeviceName"]: m["Ebs"]["DeleteOnTermination"] for m in attribute(
            ec2, instance_id, "blockDeviceMapping")["BlockDeviceMappings"]}
    assert flags() == {"/dev/sdf": False, "/dev/sdg": False}
    ec2.modify_instance_attribute(InstanceId=instance_id, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdg", "Ebs": {"DeleteOnTermination": True, "VolumeId": deleted}}])
    assert flags() == {"/dev/sdf": False, "/dev/sdg": True}
    shown = instance(ec2, instance_id)["BlockDeviceMappings"]
    assert {m["DeviceName"]: m["Ebs"]["DeleteOnTermination"] for m in shown} == flags()
    assert error(ec2.modify_instance_attribute, InstanceId=instance_id, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdz", "Ebs": {"DeleteOnTermination": True}}]) == (
        "InvalidInstanceAttributeValue", "No device is currently mapped at /dev/sdz")
    assert code(ec2.modify_instance_attribute, InstanceId=instance_id, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": True,
                                           "VolumeId": deleted}}]) == \
        "InvalidInstanceAttributeValue"  # another volume is at that device
    ec2.terminate_instances(InstanceIds=[instance_id])
    # the flagged volume goes with its instance, the other one is free again
    assert cloud.wait_for(lambda: {v["VolumeId"]: v["State"] for v in ec2.describe_volumes(
        Filters=[{"Name": "volume-id", "Values": [kept, deleted]}])["Volumes"]} ==
        {kept: "available"}, timeout=60)
    ec2.delete_volume(VolumeId=kept)


def test_guest_shutdown_ends_the_instance_with_ec2s_reason(cloud, ec2, published):
    """The guest powers itself off (FakeDriver: the domain goes shut off, as libvirt
    reports a guest's poweroff); the NC reports it, the CC passes it on, the CLC's
    reconciler ends it: protection from the API does not count, as in EC2."""
    instance_id = launch(ec2, published["image"], DisableApiTermination=True,
                         Placement={"AvailabilityZone": ZONE})
    volume_id = new_volume(ec2)["VolumeId"]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert view_instance(cloud, instance_id) or cloud.wait_for(
        lambda: view_instance(cloud, instance_id), timeout=10)
    manager = next(r.app[MANAGER] for r in cloud._runners if MANAGER in r.app)
    manager.driver.destroy(instance_id)  # what a guest's own poweroff leaves
    assert cloud.wait_for(lambda: instance(ec2, instance_id)["State"]["Name"] == "terminated",
                          timeout=60), instance(ec2, instance_id)
    ended = instance(ec2, instance_id)
    assert ended["StateReason"] == {
        "Code": "Client.InstanceInitiatedShutdown",
        "Message": "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
    # its resources are given back: the node's domain, the view's entry, the volume
    assert instance_id not in {d.name for d in manager.driver.list_domains()}
    assert cloud.wait_for(lambda: view_instance(cloud, instance_id) is None, timeout=10)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ec2.delete_volume(VolumeId=volume_id)


def test_run_instances_takes_the_attributes(ec2, published):
    instance_id = launch(ec2, published["image"], DisableApiTermination=True,
                         DisableApiStop=True, InstanceInitiatedShutdownBehavior="terminate")
    try:
        assert attribute(ec2, instance_id, "disableApiTermination")[
            "DisableApiTermination"] == {"Value": True}
        assert attribute(ec2, instance_id, "disableApiStop")["DisableApiStop"] == \
            {"Value": True}
        assert code(ec2.terminate_instances, InstanceIds=[instance_id]) == \
            "OperationNotPermitted"
    finally:
        end(ec2, instance_id)
    assert instance(ec2, instance_id)["State"]["Name"] in ("shutting-down", "terminated")
    assert code(ec2.modify_instance_attribute, InstanceId=instance_id,
                DisableApiStop={"Value": False}) == "IncorrectInstanceState"  # it ended
    for behaviour, expected in (("stop", "InvalidParameterCombination"),
                                ("sleep", "InvalidParameterValue")):
        assert code(ec2.run_instances, ImageId=published["image"], MinCount=1, MaxCount=1,
                    InstanceInitiatedShutdownBehavior=behaviour) == expected


def test_password_data_and_isolation(cloud, ec2, alice_ec2, running):
    answer = ec2.get_password_data(InstanceId=running)
    assert answer["InstanceId"] == running and answer["PasswordData"] == ""
    assert answer["Timestamp"].isoformat().startswith(instance(ec2, running)[
        "LaunchTime"].isoformat()[:19])
    answer = cloud.aws("ec2", "get-password-data", "--instance-id", running)
    assert answer["InstanceId"] == running and answer["PasswordData"] == ""
    assert code(ec2.get_password_data, InstanceId="i-0123456789abcdef0") == \
        "InvalidInstanceID.NotFound"
    # another account's instance does not exist for it, and stays as it was
    for call, kwargs in ((alice_ec2.get_password_data, {}),
                         (alice_ec2.describe_instance_attribute, {"Attribute": "groupSet"}),
                         (alice_ec2.modify_instance_attribute,
                          {"DisableApiTermination": {"Value": True}}),
                         (alice_ec2.modify_instance_attribute,
                          {"Attribute": "sourceDestCheck", "Value": "false"})):
        assert code(call, InstanceId=running, **kwargs) == "InvalidInstanceID.NotFound"
    assert attribute(ec2, running, "disableApiTermination")["DisableApiTermination"] == \
        {"Value": False}
    assert attribute(ec2, running, "sourceDestCheck")["SourceDestCheck"] == {"Value": True}


def set_state(cloud, instance_id: str, expected: str, state: str) -> None:
    """Move an instance's row as StopInstances/StartInstances will (an EBS root,
    branch ebs-boot): this cloud's instance-store instances can never be stopped."""
    from cloud_controller.api.frontdoor import CLOUD
    from cloud_controller.services import lifecycle
    service = next(r.app[CLOUD] for r in cloud._runners if CLOUD in r.app).instances

    async def move():
        assert await lifecycle.transition(service.repo, instance_id, expected, state)
    cloud.run(move())


def test_a_stopped_instance_takes_the_stopped_only_attributes(cloud, ec2, published):
    instance_id = launch(ec2, published["image"])
    modify = ec2.modify_instance_attribute
    set_state(cloud, instance_id, "running", "stopping")
    set_state(cloud, instance_id, "stopping", "stopped")
    try:
        modify(InstanceId=instance_id, InstanceType={"Value": "m1.large"})
        modify(InstanceId=instance_id, UserData={"Value": b"#!/bin/sh\necho new\n"})
        modify(InstanceId=instance_id, Kernel={"Value": published["kernel"]})
        modify(InstanceId=instance_id, Attribute="ramdisk", Value=published["ramdisk"])
        modify(InstanceId=instance_id, EbsOptimized={"Value": True})
        modify(InstanceId=instance_id, EnaSupport={"Value": True})
        modify(InstanceId=instance_id, SriovNetSupport={"Value": "simple"})
        modify(InstanceId=instance_id, EnclaveOptions={"Enabled": False})

        def get(name):
            return attribute(ec2, instance_id, name)
        assert get("instanceType")["InstanceType"] == {"Value": "m1.large"}
        assert instance(ec2, instance_id)["InstanceType"] == "m1.large"
        assert base64.b64decode(get("userData")["UserData"]["Value"]) == \
            b"#!/bin/sh\necho new\n"
        assert get("kernel")["KernelId"] == {"Value": published["kernel"]}
        assert get("ramdisk")["RamdiskId"] == {"Value": published["ramdisk"]}
        assert get("ebsOptimized")["EbsOptimized"] == {"Value": True}
        assert get("enaSupport")["EnaSupport"] == {"Value": True}
        assert get("sriovNetSupport")["SriovNetSupport"] == {"Value": "simple"}
        # still refused for what is wrong whatever the state
        assert code(modify, InstanceId=instance_id, InstanceType={"Value": "m9.huge"}) == \
            "InvalidInstanceAttributeValue"
        assert code(modify, InstanceId=instance_id, EnclaveOptions={"Enabled": True}) == \
            "UnsupportedOperation"
        assert code(modify, InstanceId=instance_id,
                    InstanceInitiatedShutdownBehavior={"Value": "stop"}) == \
            "InvalidParameterCombination"  # instance-store still
    finally:
        set_state(cloud, instance_id, "stopped", "shutting-down")
    assert cloud.wait_for(lambda: instance(ec2, instance_id)["State"]["Name"] == "terminated",
                          timeout=60), instance(ec2, instance_id)["State"]


def test_the_attributes_are_on_disk_for_a_restarted_clc(cloud, ec2, published):
    """What a CLC opening its database again reads (another connection to the same
    file, as a restart makes): the stored attributes, not a cache of this process."""
    from cloud_controller.bootstrap import database_path
    from cloud_controller.db import open_database
    from cloud_controller.db.instance_attributes import InstanceAttributeRepository
    instance_id = launch(ec2, published["image"], DisableApiStop=True)
    try:
        ec2.modify_instance_attribute(InstanceId=instance_id,
                                      DisableApiTermination={"Value": True})
        ec2.modify_instance_attribute(InstanceId=instance_id, SourceDestCheck={"Value": False})

        async def read():
            db = await open_database(database_path(cloud.settings))
            try:
                return await InstanceAttributeRepository(db).get(instance_id)
            finally:
                await db.close()
        stored = cloud.run(read())
        assert (stored["disable_api_termination"], stored["disable_api_stop"],
                stored["source_dest_check"], stored["shutdown_behavior"]) == \
            (True, True, False, "terminate")
    finally:
        end(ec2, instance_id)
