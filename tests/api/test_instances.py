"""The whole launch path in-process: CLC -> CC -> NC (FakeDriver) with the
real image cache, bundles fetched from Walrus, qcow2 overlays on disk."""
import base64

import pytest
from botocore.exceptions import ClientError


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def state(ec2, instance_id):
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def wait_state(cloud, ec2, instance_id, wanted, timeout=30):
    return cloud.wait_for(lambda: state(ec2, instance_id)["State"]["Name"] == wanted
                          and state(ec2, instance_id), timeout=timeout)


def test_run_describe_console_reboot_terminate(cloud, ec2, published):
    ec2.create_key_pair(KeyName="run-k1")
    made = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                             InstanceType="m1.small", KeyName="run-k1",
                             UserData="hello", TagSpecifications=[
                                 {"ResourceType": "instance",
                                  "Tags": [{"Key": "Name", "Value": "first"}]}])
    instance = made["Instances"][0]
    instance_id = instance["InstanceId"]
    assert instance["State"] == {"Code": 0, "Name": "pending"}
    assert instance["KernelId"] == published["kernel"]
    assert made["Groups"][0]["GroupName"] == "default"
    running = wait_state(cloud, ec2, instance_id, "running")
    assert running, state(ec2, instance_id)
    assert running["Tags"] == [{"Key": "Name", "Value": "first"}]
    assert running["KeyName"] == "run-k1" and running["Placement"]["AvailabilityZone"] == "mallee-1a"
    output = ec2.get_console_output(InstanceId=instance_id)["Output"]
    assert "MALLEE-TEST-BOOTED" in output
    attr = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    assert base64.b64decode(attr["UserData"]["Value"]) == b"hello"
    assert ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="instanceType")["InstanceType"]["Value"] == "m1.small"
    node_dir = cloud.nc_state / "instances" / instance_id
    assert (node_dir / "root.qcow2").exists()
    ec2.reboot_instances(InstanceIds=[instance_id])
    ended = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
    assert ended["PreviousState"]["Name"] == "running"
    assert ended["CurrentState"]["Name"] == "shutting-down"
    gone = wait_state(cloud, ec2, instance_id, "terminated")
    assert gone and gone["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert not node_dir.exists()  # the node is clean
    # Terminated instances stay visible (for an hour).
    assert state(ec2, instance_id)["State"]["Name"] == "terminated"


def test_bad_launch_parameters(ec2, published):
    cases = [
        (dict(ImageId="ami-0123456789abcdef0"), "InvalidAMIID.NotFound"),
        (dict(ImageId="not-an-image"), "InvalidAMIID.Malformed"),
        (dict(ImageId=published["kernel"]), "InvalidParameterValue"),
        (dict(ImageId=published["image"], KeyName="no-such-key"), "InvalidKeyPair.NotFound"),
        (dict(ImageId=published["image"], InstanceType="p5.48xlarge"), "InvalidParameterValue"),
        (dict(ImageId=published["image"], SecurityGroups=["nope"]), "InvalidGroup.NotFound"),
        (dict(ImageId=published["image"], UserData="x" * 17000), "InvalidParameterValue"),
        (dict(ImageId=published["image"], Placement={"AvailabilityZone": "nowhere-1a"}),
         "InvalidParameterValue"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(ClientError) as e:
            ec2.run_instances(MinCount=1, MaxCount=1, **kwargs)
        assert code(e) == expected, kwargs


def test_insufficient_capacity(ec2, published):
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=published["image"], MinCount=5, MaxCount=5,
                          InstanceType="c1.xlarge")  # the fake node holds 4
    assert code(e) == "InsufficientInstanceCapacity"


def test_dry_run_launches_nothing(ec2, published):
    before = len(ec2.describe_instances()["Reservations"])
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1, DryRun=True)
    assert code(e) == "DryRunOperation"
    assert len(ec2.describe_instances()["Reservations"]) == before


def test_client_token_is_idempotent(cloud, ec2, published):
    first = ec2.run_instances(ImageId=published["image"], MinCount=2, MaxCount=2,
                              ClientToken="token-1")
    again = ec2.run_instances(ImageId=published["image"], MinCount=2, MaxCount=2,
                              ClientToken="token-1")
    assert first["ReservationId"] == again["ReservationId"]
    ids = [i["InstanceId"] for i in first["Instances"]]
    assert ids == [i["InstanceId"] for i in again["Instances"]]
    for instance_id in ids:
        assert wait_state(cloud, ec2, instance_id, "running")
    ec2.terminate_instances(InstanceIds=ids)
    for instance_id in ids:
        assert wait_state(cloud, ec2, instance_id, "terminated")


def test_describe_filters_and_pages(cloud, ec2, published):
    made = ec2.run_instances(ImageId=published["image"], MinCount=3, MaxCount=3,
                             InstanceType="t1.micro", TagSpecifications=[
                                 {"ResourceType": "instance",
                                  "Tags": [{"Key": "batch", "Value": "pages"}]}])
    ids = sorted(i["InstanceId"] for i in made["Instances"])
    flt = [{"Name": "tag:batch", "Values": ["pages"]}]
    found = [i["InstanceId"] for r in ec2.describe_instances(Filters=flt)["Reservations"]
             for i in r["Instances"]]
    assert sorted(found) == ids
    assert [i["InstanceId"] for r in ec2.describe_instances(Filters=flt + [
        {"Name": "instance-type", "Values": ["t1.micro"]},
        {"Name": "image-id", "Values": [published["image"]]}])["Reservations"]
        for i in r["Instances"]] != []
    paged = [i["InstanceId"] for page in ec2.get_paginator("describe_instances").paginate(
        Filters=flt, PaginationConfig={"PageSize": 5}) for r in page["Reservations"]
        for i in r["Instances"]]
    assert sorted(paged) == ids
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=ids, MaxResults=5)
    assert code(e) == "InvalidParameterCombination"
    for instance_id in ids:
        assert wait_state(cloud, ec2, instance_id, "running")
    statuses = ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]
    assert {s["InstanceStatus"]["Status"] for s in statuses} == {"ok"}
    ec2.terminate_instances(InstanceIds=ids)


def test_instance_store_cannot_stop(ec2, published, cloud):
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as e:
        ec2.stop_instances(InstanceIds=[instance_id])
    assert code(e) == "UnsupportedOperation"
    with pytest.raises(ClientError) as e:
        ec2.modify_instance_attribute(InstanceId=instance_id,
                                      InstanceType={"Value": "m1.large"})
    assert code(e) == "IncorrectInstanceState"
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert wait_state(cloud, ec2, instance_id, "terminated")


def test_other_accounts_cannot_see_or_end_instances(cloud, ec2, alice_ec2, published):
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as e:
        alice_ec2.terminate_instances(InstanceIds=[instance_id])
    assert code(e) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as e:
        alice_ec2.get_console_output(InstanceId=instance_id)
    assert code(e) == "InvalidInstanceID.NotFound"
    assert instance_id not in str(alice_ec2.describe_instances())
    # Alice may launch the public test image herself.
    hers = alice_ec2.run_instances(ImageId=published["image"], MinCount=1,
                                   MaxCount=1)["Instances"][0]["InstanceId"]
    assert wait_state(cloud, alice_ec2, hers, "running")
    alice_ec2.terminate_instances(InstanceIds=[hers])
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_empty_optional_parameters_are_not_given(cloud, ec2, published):
    """Issue 12: Terraform's aws_instance sends Placement.AvailabilityZone= (and other
    optional members) as empty strings; EC2 reads them as not given."""
    made = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                             InstanceType="m1.small", KeyName="", SubnetId="",
                             PrivateIpAddress="", Placement={"AvailabilityZone": ""},
                             ClientToken="")
    instance = made["Instances"][0]
    assert instance["Placement"]["AvailabilityZone"] == "mallee-1a"
    assert "KeyName" not in instance
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    with pytest.raises(ClientError) as e:  # a required one sent empty is still missing
        ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="")
    assert code(e) == "MissingParameter"
    # where "" is a value, it stays one: DeleteTags Value="" deletes only an empty value
    key = ec2.create_key_pair(KeyName="empty-tag-key")["KeyPairId"]
    ec2.create_tags(Resources=[key], Tags=[{"Key": "a", "Value": "x"}, {"Key": "b", "Value": ""}])
    ec2.delete_tags(Resources=[key], Tags=[{"Key": "a", "Value": ""}, {"Key": "b", "Value": ""}])
    tags = ec2.describe_key_pairs(KeyPairIds=[key])["KeyPairs"][0]["Tags"]
    assert tags == [{"Key": "a", "Value": "x"}]
    ec2.delete_key_pair(KeyPairId=key)
