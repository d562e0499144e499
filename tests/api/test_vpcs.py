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
