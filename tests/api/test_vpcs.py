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


def test_default_vpc_is_readable_whole(cloud, ec2, alice_ec2):
    """Issue 12: what data "aws_vpc" and ec2_vpc_net_info read of a default VPC."""
    vpc = ec2.describe_vpcs()["Vpcs"][0]
    vpc_id = vpc["VpcId"]
    for attribute, key, value in (("enableDnsSupport", "EnableDnsSupport", True),
                                  ("enableDnsHostnames", "EnableDnsHostnames", True),
                                  ("enableNetworkAddressUsageMetrics",
                                   "EnableNetworkAddressUsageMetrics", False)):
        got = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
        assert got["VpcId"] == vpc_id and got[key] == {"Value": value}
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")
    assert code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="nope")
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:  # every account has its default VPC from the start
        ec2.create_default_vpc()
    assert code(e) == "DefaultVpcAlreadyExists"

    (table,) = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    (igw,) = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert igw["Attachments"] == [{"VpcId": vpc_id, "State": "available"}]
    routes = {r["DestinationCidrBlock"]: r["GatewayId"] for r in table["Routes"]}
    assert routes == {vpc["CidrBlock"]: "local", "0.0.0.0/0": igw["InternetGatewayId"]}
    assert table["Associations"][0]["Main"] is True
    assert ec2.describe_route_tables(RouteTableIds=[table["RouteTableId"]])["RouteTables"] == [table]
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_route_tables(RouteTableIds=[table["RouteTableId"]])
    assert code(e) == "InvalidRouteTableID.NotFound"

    (acl,) = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]},
                                                {"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]
    assert acl["IsDefault"] is True
    assert sorted((e["Egress"], e["RuleNumber"], e["RuleAction"]) for e in acl["Entries"]) == [
        (False, 100, "allow"), (False, 32767, "deny"), (True, 100, "allow"), (True, 32767, "deny")]
    subnet_ids = {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    assert {a["SubnetId"] for a in acl["Associations"]} == subnet_ids

    (options,) = ec2.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])["DhcpOptions"]
    config = {c["Key"]: [v["Value"] for v in c["Values"]] for c in options["DhcpConfigurations"]}
    assert config == {"domain-name": [f"{cloud.settings.cloud.region}.compute.internal"],
                      "domain-name-servers": ["AmazonProvidedDNS"]}
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])
    assert code(e) == "InvalidDhcpOptionID.NotFound"

    assert ec2.describe_vpc_endpoints(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"] == []
    with pytest.raises(ClientError) as e:
        ec2.describe_vpc_endpoints(VpcEndpointIds=["vpce-0123456789abcdef0"])
    assert code(e) == "InvalidVpcEndpointId.NotFound"


def test_edge_mode_answers_the_vpc_mode_actions_as_before(ec2):
    """Without [network] mode = "vpc" (docs/vpc.md) these are EC2 actions this cloud
    does not offer, checked before their parameters are."""
    calls = {"CreateVpc": lambda: ec2.create_vpc(CidrBlock="10.1.0.0/16"),
             "DeleteVpc": lambda: ec2.delete_vpc(VpcId="vpc-0123456789abcdef0"),
             "CreateSubnet": lambda: ec2.create_subnet(VpcId="vpc-0123456789abcdef0",
                                                       CidrBlock="10.1.0.0/24"),
             "DeleteSubnet": lambda: ec2.delete_subnet(SubnetId="subnet-0123456789abcdef0"),
             "ModifySubnetAttribute": lambda: ec2.modify_subnet_attribute(
                 SubnetId="subnet-0123456789abcdef0", MapPublicIpOnLaunch={"Value": True}),
             "CreateNetworkAcl": lambda: ec2.create_network_acl(VpcId="vpc-0123456789abcdef0"),
             "DeleteNetworkAcl": lambda: ec2.delete_network_acl(
                 NetworkAclId="acl-0123456789abcdef0"),
             "CreateNetworkAclEntry": lambda: ec2.create_network_acl_entry(
                 NetworkAclId="acl-0123456789abcdef0", RuleNumber=1, Egress=True,
                 Protocol="-1", RuleAction="allow", CidrBlock="0.0.0.0/0"),
             "ReplaceNetworkAclAssociation": lambda: ec2.replace_network_acl_association(
                 AssociationId="aclassoc-0123456789abcdef0",
                 NetworkAclId="acl-0123456789abcdef0"),
             "ModifyVpcAttribute": lambda: ec2.modify_vpc_attribute(
                 VpcId="vpc-0123456789abcdef0", EnableDnsHostnames={"Value": True}),
             "AssociateVpcCidrBlock": lambda: ec2.associate_vpc_cidr_block(
                 VpcId="vpc-0123456789abcdef0", CidrBlock="10.2.0.0/16"),
             "DisassociateVpcCidrBlock": lambda: ec2.disassociate_vpc_cidr_block(
                 AssociationId="vpc-cidr-assoc-0123456789abcdef0")}
    for name, call in calls.items():
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "UnsupportedOperation", name
        assert e.value.response["Error"]["Message"] == \
            f"The operation {name} is not supported by this cloud."


def test_edge_mode_answers_the_routing_actions_unsupported_and_lists_the_default_parts(ec2):
    """The routing resources of own VPCs (docs/vpc.md) are vpc mode's: in edge mode every
    one of them is UnsupportedOperation; the Describe calls list the default VPC's
    implicit parts as before, and no NAT gateway."""
    rtb, igw, dopt = "rtb-0123456789abcdef0", "igw-0123456789abcdef0", "dopt-0123456789abcdef0"
    calls = {
        "CreateInternetGateway": lambda: ec2.create_internet_gateway(),
        "AttachInternetGateway": lambda: ec2.attach_internet_gateway(
            InternetGatewayId=igw, VpcId="vpc-0123456789abcdef0"),
        "DeleteInternetGateway": lambda: ec2.delete_internet_gateway(InternetGatewayId=igw),
        "CreateRouteTable": lambda: ec2.create_route_table(VpcId="vpc-0123456789abcdef0"),
        "CreateRoute": lambda: ec2.create_route(RouteTableId=rtb,
                                                DestinationCidrBlock="0.0.0.0/0",
                                                GatewayId=igw),
        "AssociateRouteTable": lambda: ec2.associate_route_table(
            RouteTableId=rtb, SubnetId="subnet-0123456789abcdef0"),
        "CreateNatGateway": lambda: ec2.create_nat_gateway(
            SubnetId="subnet-0123456789abcdef0", AllocationId="eipalloc-0123456789abcdef0"),
        "CreateDhcpOptions": lambda: ec2.create_dhcp_options(DhcpConfigurations=[
            {"Key": "domain-name", "Values": ["x.example"]}]),
        "AssociateDhcpOptions": lambda: ec2.associate_dhcp_options(
            DhcpOptionsId=dopt, VpcId="vpc-0123456789abcdef0")}
    for name, call in calls.items():
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "UnsupportedOperation", name
    assert len(ec2.describe_route_tables()["RouteTables"]) == 1
    assert len(ec2.describe_internet_gateways()["InternetGateways"]) == 1
    assert len(ec2.describe_dhcp_options()["DhcpOptions"]) == 1
    assert ec2.describe_nat_gateways()["NatGateways"] == []
