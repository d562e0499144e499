"""Each account's EDGE network is its default VPC, with a default subnet per
zone, as Ansible and Terraform expect."""
import pytest
from botocore.exceptions import ClientError


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_default_vpc_and_subnets(cloud, ec2, alice_ec2):
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    assert vpc["IsDefault"] is True and vpc["State"] == "available"
    assert vpc["CidrBlock"] == cloud.settings.network.private_subnet
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"] == [vpc]
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["VpcId"] == vpc["VpcId"]
    assert ec2.describe_vpcs()["Vpcs"][0]["VpcId"] == vpc["VpcId"]  # stable
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                            {"Name": "default-for-az", "Values": ["true"]}])
    (subnet,) = subnets["Subnets"]
    assert subnet["AvailabilityZone"] == "mallee-1a" and subnet["DefaultForAz"] is True
    assert subnet["VpcId"] == vpc["VpcId"] and subnet["SubnetId"].startswith("subnet-")
    assert ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0] == subnet
    assert ec2.describe_subnets(Filters=[{"Name": "availability-zone",
                                          "Values": ["nowhere"]}])["Subnets"] == []
    ec2.create_tags(Resources=[vpc["VpcId"], subnet["SubnetId"]],
                    Tags=[{"Key": "Name", "Value": "edge"}])
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["edge"]}])["Vpcs"]
    theirs = alice_ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    assert theirs != vpc["VpcId"]
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])
    assert code(e) == "InvalidSubnetID.NotFound"


def test_account_attributes_name_the_default_vpc(ec2):
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert attrs["default-vpc"] == [ec2.describe_vpcs()["Vpcs"][0]["VpcId"]]


def test_ansible_style_launch_in_the_default_subnet(cloud, ec2, published):
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    subnet = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "availability-zone", "Values": ["mallee-1a"]}])["Subnets"][0]
    gid = ec2.create_security_group(GroupName="ansible-web", Description="managed",
                                    VpcId=vpc["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    made = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                             SubnetId=subnet["SubnetId"], SecurityGroupIds=[gid])
    first = made["Instances"][0]
    assert first["SubnetId"] == subnet["SubnetId"] and first["VpcId"] == vpc["VpcId"]
    assert [g["GroupId"] for g in first["SecurityGroups"]] == [gid]
    # Terraform's form: one network interface at device index 0.
    second = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                               NetworkInterfaces=[{"DeviceIndex": 0,
                                                   "SubnetId": subnet["SubnetId"],
                                                   "Groups": [gid]}])["Instances"][0]
    ids = [first["InstanceId"], second["InstanceId"]]
    groups = ec2.describe_instance_attribute(InstanceId=second["InstanceId"],
                                             Attribute="groupSet")["Groups"]
    assert [g["GroupId"] for g in groups] == [gid]
    found = ec2.describe_instances(Filters=[{"Name": "subnet-id",
                                             "Values": [subnet["SubnetId"]]},
                                            {"Name": "instance.group-id", "Values": [gid]}])
    assert sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]) == \
        sorted(ids)
    for kwargs, expected in [
        (dict(SubnetId="subnet-0123456789abcdef0"), "InvalidSubnetID.NotFound"),
        (dict(SubnetId=subnet["SubnetId"], Placement={"AvailabilityZone": "other-1b"}),
         "InvalidParameterCombination"),
        (dict(NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"]}],
              SecurityGroupIds=[gid]), "InvalidParameterCombination"),
        (dict(NetworkInterfaces=[{"DeviceIndex": 1, "SubnetId": subnet["SubnetId"]}]),
         "InvalidParameterValue"),
    ]:
        with pytest.raises(ClientError) as e:
            ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1, **kwargs)
        assert code(e) == expected, kwargs
    ec2.terminate_instances(InstanceIds=ids)
    assert cloud.wait_for(lambda: all(
        i["State"]["Name"] == "terminated" for r in ec2.describe_instances(
            InstanceIds=ids)["Reservations"] for i in r["Instances"]), timeout=30)
    ec2.delete_security_group(GroupId=gid)
