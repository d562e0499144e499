"""What Terraform's and Ansible's EC2 resources read back after they write (issue 12):
the instance's primary network interface as a resource, every instance attribute,
credit specifications, metadata options, UEFI data, address attributes."""
import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.api.network_view import view_instance


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def wait_running(cloud, ec2, instance_id):
    def running():
        found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
        instance = found["Instances"][0]
        return instance if instance["State"]["Name"] == "running" else None
    return cloud.wait_for(running, timeout=30)


@pytest.fixture(scope="module")
def launched(cloud, ec2, published):
    group = ec2.create_security_group(GroupName="reads", Description="reads")["GroupId"]
    made = ec2.run_instances(
        ImageId=published["image"], MinCount=1, MaxCount=1, InstanceType="m1.small",
        SecurityGroupIds=[group],
        MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "r"}]},
                           {"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]},
                           {"ResourceType": "network-interface",
                            "Tags": [{"Key": "nic", "Value": "primary"}]}])
    instance_id = made["Instances"][0]["InstanceId"]
    instance = wait_running(cloud, ec2, instance_id)
    assert instance, instance_id
    yield instance, group
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_primary_interface_is_a_resource(cloud, ec2, alice_ec2, launched):
    instance, group = launched
    (nic,) = instance["NetworkInterfaces"]
    eni = nic["NetworkInterfaceId"]
    assert eni.startswith("eni-") and nic["Attachment"]["DeleteOnTermination"] is True
    assert nic["Groups"] == [{"GroupId": group, "GroupName": "reads"}]
    (listed,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
    assert listed["Attachment"]["InstanceId"] == instance["InstanceId"]
    assert listed["Status"] == "in-use" and listed["TagSet"] == [{"Key": "nic", "Value": "primary"}]
    assert listed["PrivateIpAddress"] == instance["PrivateIpAddress"]
    assert listed["AvailabilityZone"] == instance["Placement"]["AvailabilityZone"]
    for name, value in (("group-id", group), ("vpc-id", instance["VpcId"]),
                        ("subnet-id", instance["SubnetId"]),
                        ("attachment.instance-id", instance["InstanceId"]),
                        ("private-ip-address", instance["PrivateIpAddress"]),
                        ("addresses.private-ip-address", instance["PrivateIpAddress"]),
                        ("network-interface-id", eni), ("description", ""),
                        ("status", "in-use"), ("tag:nic", "primary")):
        found = ec2.describe_network_interfaces(
            Filters=[{"Name": name, "Values": [value]}])["NetworkInterfaces"]
        assert eni in [i["NetworkInterfaceId"] for i in found], name  # others' too: shared
    assert ec2.describe_network_interfaces(
        Filters=[{"Name": "tag:nic", "Values": ["other"]}])["NetworkInterfaces"] == []
    groups = ec2.describe_network_interface_attribute(NetworkInterfaceId=eni,
                                                      Attribute="groupSet")["Groups"]
    assert groups == [{"GroupId": group, "GroupName": "reads"}]
    attachment = ec2.describe_network_interface_attribute(
        NetworkInterfaceId=eni, Attribute="attachment")["Attachment"]
    assert attachment["InstanceId"] == instance["InstanceId"]
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])
    assert code(e) == "InvalidNetworkInterfaceID.NotFound"
    assert alice_ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    with pytest.raises(ClientError) as e:  # in use by an instance: the group stays
        ec2.delete_security_group(GroupId=group)
    assert code(e) == "DependencyViolation"
    # an elastic address associated by the interface's id
    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=alloc["AllocationId"], NetworkInterfaceId=eni)
    (address,) = ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"]
    assert address["NetworkInterfaceId"] == eni
    (listed,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
    assert listed["Association"]["PublicIp"] == alloc["PublicIp"]
    assert listed["Association"]["AllocationId"] == alloc["AllocationId"]
    (attr,) = ec2.describe_addresses_attribute(AllocationIds=[alloc["AllocationId"]],
                                               Attribute="domain-name")["Addresses"]
    assert attr == {"PublicIp": alloc["PublicIp"], "AllocationId": alloc["AllocationId"]}
    ec2.disassociate_address(AssociationId=address["AssociationId"])
    ec2.release_address(AllocationId=alloc["AllocationId"])


def test_every_instance_attribute_answers(ec2, launched):
    instance, group = launched
    names = botocore.session.get_session().get_service_model("ec2").shape_for(
        "InstanceAttributeName").enum
    key = {"kernel": "KernelId", "ramdisk": "RamdiskId", "groupSet": "Groups",
           "blockDeviceMapping": "BlockDeviceMappings"}
    for name in names:
        got = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute=name)
        assert got["InstanceId"] == instance["InstanceId"], name
        wire = key.get(name, name[0].upper() + name[1:])
        assert wire in got or name in ("userData", "sriovNetSupport"), (name, got)
    get = ec2.describe_instance_attribute
    assert get(InstanceId=instance["InstanceId"],
               Attribute="disableApiStop")["DisableApiStop"] == {"Value": False}
    assert get(InstanceId=instance["InstanceId"],
               Attribute="ebsOptimized")["EbsOptimized"] == {"Value": False}
    # Terraform's habit: DisableApiTermination false before a destroy (the other values
    # and their rules: tests/api/test_instance_attributes.py)
    ec2.modify_instance_attribute(InstanceId=instance["InstanceId"],
                                  DisableApiTermination={"Value": False})
    ec2.modify_instance_attribute(InstanceId=instance["InstanceId"],
                                  Attribute="disableApiStop", Value="false")
    with pytest.raises(ClientError) as e:  # an instance-store instance is never stopped
        ec2.modify_instance_attribute(InstanceId=instance["InstanceId"],
                                      EbsOptimized={"Value": True})
    assert code(e) == "IncorrectInstanceState"


def test_credit_metadata_and_uefi(cloud, ec2, launched):
    instance, _ = launched
    instance_id = instance["InstanceId"]
    specs = ec2.describe_instance_credit_specifications(InstanceIds=[instance_id])
    assert specs["InstanceCreditSpecifications"] == [{"InstanceId": instance_id,
                                                      "CpuCredits": "standard"}]
    assert ec2.describe_instance_credit_specifications()["InstanceCreditSpecifications"] == []
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    changed = ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpTokens="optional",
                                                   InstanceMetadataTags="enabled")
    assert changed["InstanceMetadataOptions"]["HttpTokens"] == "optional"
    assert changed["InstanceMetadataOptions"]["HttpPutResponseHopLimit"] == 2
    options = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]["MetadataOptions"]
    assert options["HttpTokens"] == "optional" and options["InstanceMetadataTags"] == "enabled"
    # The node's metadata service learns it from the view the CC sends it.
    assert cloud.wait_for(lambda: (view_instance(cloud, instance_id) or {}).get("metadata") == {
        "http_tokens": "optional", "http_put_response_hop_limit": 2}, timeout=10), \
        view_instance(cloud, instance_id)
    with pytest.raises(ClientError) as e:
        ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpTokens="sometimes")
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpPutResponseHopLimit=65)
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.get_instance_uefi_data(InstanceId=instance_id)
    assert code(e) == "UnsupportedOperation"
    with pytest.raises(ClientError) as e:  # data "aws_ami" asks with an image id
        ec2.get_instance_uefi_data(InstanceId="ami-0123456789abcdef0")
    assert code(e) == "InvalidInstanceID.Malformed"


def test_unknown_tag_resource_type_at_launch_is_refused(ec2, published):
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                          TagSpecifications=[{"ResourceType": "snapshot",
                                              "Tags": [{"Key": "a", "Value": "b"}]}])
    assert code(e) == "InvalidParameterValue"
