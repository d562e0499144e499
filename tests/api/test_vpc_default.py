"""VPC mode (docs/vpc.md "The default VPC"): every account's default VPC is a
real VPC on OVN, made as AWS makes it at the account's first call: 172.31.0.0/16,
a /20 default subnet per zone with MapPublicIpOnLaunch, an internet gateway,
the main route table's 0.0.0.0/0 to it, the default network ACL and the
account's `default` group. RunInstances without a SubnetId lands there, with a
public address as a dnat_and_snat of the VPC's router."""
import ipaddress
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from cloud_controller.services.vpcs import implicit_parts
from mallee.ovn_central import missing_binaries
from tests.harness import Cloud, available_components
from tests.ovn_nb import as_list, by_mallee_id, nb_rows

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()} "
                                       "(scripts/host-deps.sh installs it)")


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def vpc_env():
    return {}


def default_vpc(ec2) -> dict:
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return vpc


def run(ec2, image, **kw):
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m1.small",
                             **kw)["Instances"][0]


def nat_rows(cloud, vpc_id: str) -> list[dict]:
    return [n for n in nb_rows(cloud, "NAT") if n["external_ids"].get("mallee:vpc-id") == vpc_id]


def port_groups_of(cloud, instance_id: str) -> set[str]:
    """The security groups whose port groups hold the instance's OVN port."""
    port = by_mallee_id(cloud, "Logical_Switch_Port", "mallee:instance-id")[instance_id]
    return {sg for sg, pg in by_mallee_id(cloud, "Port_Group", "mallee:sg-id").items()
            if port["_uuid"] in as_list(pg["ports"])}


def test_the_default_vpc_is_a_real_vpc_as_aws_makes_it(vcloud, vec2):
    vpc = default_vpc(vec2)
    vpc_id = vpc["VpcId"]
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["IsDefault"] is True
    assert vpc["State"] == "available"
    (subnet,) = vec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert subnet["CidrBlock"] == "172.31.0.0/20" and subnet["DefaultForAz"] is True
    assert subnet["MapPublicIpOnLaunch"] is True and subnet["AvailabilityZone"] == "mallee-1a"
    assert subnet["AvailableIpAddressCount"] == 4096 - 5
    (igw,) = vec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    (table,) = vec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    assert table["Associations"][0]["Main"] is True
    routes = {r["DestinationCidrBlock"]: r for r in table["Routes"]}
    assert routes["172.31.0.0/16"]["GatewayId"] == "local"
    assert routes["0.0.0.0/0"]["GatewayId"] == igw["InternetGatewayId"]
    assert routes["0.0.0.0/0"]["State"] == "active"
    (acl,) = vec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]
    assert acl["IsDefault"] is True
    assert [a["SubnetId"] for a in acl["Associations"]] == [subnet["SubnetId"]]
    assert {(e["RuleNumber"], e["RuleAction"], e["Egress"]) for e in acl["Entries"]} == {
        (100, "allow", False), (100, "allow", True), (32767, "deny", False),
        (32767, "deny", True)}
    (group,) = vec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    assert group["VpcId"] == vpc_id
    # the ids edge mode's facade shows for the same parts (derived from the account)
    derived = implicit_parts(vcloud.admin.account_id, vcloud.settings.cloud.region)
    assert (vpc_id, igw["InternetGatewayId"], table["RouteTableId"],
            table["Associations"][0]["RouteTableAssociationId"], acl["NetworkAclId"],
            acl["Associations"][0]["NetworkAclAssociationId"]) == (
        derived.vpc_id, derived.internet_gateway_id, derived.route_table_id,
        derived.main_association_id, derived.network_acl_id,
        derived.acl_association_id(subnet["SubnetId"]))
    assert vec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"]["Value"] is True

    # OVN: a router, a switch with DHCP for the subnet, the gateway's port, the group.
    assert by_mallee_id(vcloud, "Logical_Router", "mallee:vpc-id")[vpc_id]["name"] == \
        f"mallee-{vpc_id}"
    switch = by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id")[subnet["SubnetId"]]
    assert switch["other_config"]["subnet"] == "172.31.0.0/20"
    assert subnet["SubnetId"] in by_mallee_id(vcloud, "DHCP_Options", "mallee:subnet-id")
    assert igw["InternetGatewayId"] in by_mallee_id(vcloud, "Logical_Router_Port",
                                                    "mallee:igw-id")
    assert group["GroupId"] in by_mallee_id(vcloud, "Port_Group", "mallee:sg-id")
    routes = [r for r in nb_rows(vcloud, "Logical_Router_Static_Route")
              if r["external_ids"].get("mallee:vpc-id") == vpc_id]
    assert [r["ip_prefix"] for r in routes] == ["0.0.0.0/0"]


def test_its_parts_may_be_changed_but_not_deleted(vcloud, vec2):
    vpc_id = default_vpc(vec2)["VpcId"]
    (subnet,) = vec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    vec2.create_tags(Resources=[vpc_id, subnet["SubnetId"]],
                     Tags=[{"Key": "Name", "Value": "dflt"}])
    assert default_vpc(vec2)["Tags"] == [{"Key": "Name", "Value": "dflt"}]
    vec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"],
                                 MapPublicIpOnLaunch={"Value": False})
    assert vec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0][
        "MapPublicIpOnLaunch"] is False
    vec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"],
                                 MapPublicIpOnLaunch={"Value": True})
    (acl,) = vec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]
    vec2.create_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=10,
                                  Protocol="6", RuleAction="deny", Egress=False,
                                  CidrBlock="203.0.113.0/24", PortRange={"From": 22, "To": 22})
    vec2.delete_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=10,
                                  Egress=False)
    (table,) = vec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    igw = next(r["GatewayId"] for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0")
    vec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="192.0.2.0/24",
                      GatewayId=igw)
    vec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="192.0.2.0/24")
    extra = vec2.create_subnet(VpcId=vpc_id, CidrBlock="172.31.200.0/24")["Subnet"]
    assert extra["DefaultForAz"] is False and extra["MapPublicIpOnLaunch"] is False
    vec2.delete_subnet(SubnetId=extra["SubnetId"])
    with pytest.raises(ClientError) as excinfo:
        vec2.delete_vpc(VpcId=vpc_id)
    assert code(excinfo) == "UnsupportedOperation"
    with pytest.raises(ClientError) as excinfo:
        vec2.delete_subnet(SubnetId=subnet["SubnetId"])
    assert code(excinfo) == "UnsupportedOperation"
    with pytest.raises(ClientError) as excinfo:
        vec2.create_default_vpc()
    assert code(excinfo) == "DefaultVpcAlreadyExists"


def test_a_launch_without_a_subnet_lands_in_the_default_subnet_on_ovn(vcloud, vec2, vimage):
    vpc_id = default_vpc(vec2)["VpcId"]
    (subnet,) = vec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    web = vec2.create_security_group(GroupName="web", Description="classic-style")["GroupId"]
    (group,) = vec2.describe_security_groups(GroupIds=[web])["SecurityGroups"]
    assert group["VpcId"] == vpc_id  # a group made without a VpcId is the default VPC's
    instance = run(vec2, vimage, SecurityGroups=["web"])
    iid = instance["InstanceId"]
    assert instance["SubnetId"] == subnet["SubnetId"] and instance["VpcId"] == vpc_id
    assert ipaddress.ip_address(instance["PrivateIpAddress"]) in \
        ipaddress.ip_network("172.31.0.0/20")
    assert [g["GroupName"] for g in instance["SecurityGroups"]] == ["web"]
    public = instance["PublicIpAddress"]
    assert public
    described = vec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert described["PublicIpAddress"] == public
    assert described["NetworkInterfaces"][0]["Association"]["PublicIp"] == public
    assert vec2.describe_addresses()["Addresses"] == []  # not an allocated elastic IP

    port = by_mallee_id(vcloud, "Logical_Switch_Port", "mallee:instance-id")[iid]
    assert port["external_ids"]["mallee:subnet-id"] == subnet["SubnetId"]
    assert as_list(port["addresses"]) == [
        f"{instance['NetworkInterfaces'][0]['MacAddress']} {instance['PrivateIpAddress']}"]
    groups = by_mallee_id(vcloud, "Port_Group", "mallee:sg-id")
    assert port["_uuid"] in as_list(groups[web]["ports"])
    (nat,) = nat_rows(vcloud, vpc_id)
    assert (nat["type"], nat["external_ip"], nat["logical_ip"]) == (
        "dnat_and_snat", public, instance["PrivateIpAddress"])

    # the default group by id, and none given: the default VPC's `default`
    other = run(vec2, vimage, Placement={"AvailabilityZone": "mallee-1a"})
    assert [g["GroupName"] for g in other["SecurityGroups"]] == ["default"]
    default_id = other["SecurityGroups"][0]["GroupId"]
    by_id = run(vec2, vimage, SecurityGroupIds=[default_id, web])
    assert {g["GroupId"] for g in by_id["SecurityGroups"]} == {default_id, web}
    vec2.modify_instance_attribute(InstanceId=by_id["InstanceId"], Groups=[web])
    assert [g["GroupId"] for g in vec2.describe_instance_attribute(
        InstanceId=by_id["InstanceId"], Attribute="groupSet")["Groups"]] == [web]
    assert port_groups_of(vcloud, by_id["InstanceId"]) == {web}
    vec2.terminate_instances(InstanceIds=[by_id["InstanceId"]])
    assert other["SubnetId"] == subnet["SubnetId"]
    # no public address when the launch asks for none
    private = run(vec2, vimage, NetworkInterfaces=[
        {"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [web]}])
    assert private["SubnetId"] == subnet["SubnetId"] and not private.get("PublicIpAddress")

    with pytest.raises(ClientError) as excinfo:
        run(vec2, vimage, SecurityGroups=["nosuch"])
    assert code(excinfo) == "InvalidGroup.NotFound"
    own = vec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    own_group = vec2.create_security_group(GroupName="own", Description="x",
                                           VpcId=own)["GroupId"]
    with pytest.raises(ClientError) as excinfo:
        run(vec2, vimage, SecurityGroupIds=[own_group])
    assert code(excinfo) == "InvalidParameter"

    # an elastic IP replaces the address it got at launch, as in EC2
    eip = vec2.allocate_address(Domain="vpc")
    vec2.associate_address(InstanceId=other["InstanceId"], AllocationId=eip["AllocationId"])
    assert [a["PublicIp"] for a in vec2.describe_addresses()["Addresses"]] == [eip["PublicIp"]]
    assert vec2.describe_instances(InstanceIds=[other["InstanceId"]])["Reservations"][0][
        "Instances"][0]["PublicIpAddress"] == eip["PublicIp"]
    assert sorted(n["external_ip"] for n in nat_rows(vcloud, vpc_id)) == sorted(
        [public, eip["PublicIp"]])

    ids = [iid, other["InstanceId"], private["InstanceId"]]
    vec2.terminate_instances(InstanceIds=ids)
    assert not set(ids) & set(by_mallee_id(vcloud, "Logical_Switch_Port", "mallee:instance-id"))
    assert nat_rows(vcloud, vpc_id) == []
    def ended():
        return {i["State"]["Name"] for r in vec2.describe_instances(InstanceIds=ids)[
            "Reservations"] for i in r["Instances"]} == {"terminated"}
    assert vcloud.wait_for(ended, timeout=30)
    vec2.release_address(AllocationId=eip["AllocationId"])  # let go of once terminated
    vec2.delete_security_group(GroupId=own_group)
    vec2.delete_vpc(VpcId=own)


def test_accounts_have_separate_default_vpcs_with_the_same_block(vcloud, vec2):
    mine = default_vpc(vec2)
    carol = vcloud.client("ec2", vcloud.new_account("carol"))
    theirs = default_vpc(carol)
    assert theirs["VpcId"] != mine["VpcId"] and theirs["CidrBlock"] == mine["CidrBlock"]
    routers = by_mallee_id(vcloud, "Logical_Router", "mallee:vpc-id")
    assert routers[theirs["VpcId"]]["external_ids"]["mallee:account"] != \
        routers[mine["VpcId"]]["external_ids"]["mallee:account"]
    assert routers[theirs["VpcId"]]["_uuid"] != routers[mine["VpcId"]]["_uuid"]
    with pytest.raises(ClientError) as excinfo:
        carol.describe_vpcs(VpcIds=[mine["VpcId"]])
    assert code(excinfo) == "InvalidVpcID.NotFound"


def test_concurrent_first_calls_make_one_default_vpc(vcloud):
    dave = vcloud.new_account("dave")
    clients = [vcloud.client("ec2", dave) for _ in range(6)]
    barrier = threading.Barrier(len(clients))

    def first_call(ec2):
        barrier.wait(timeout=30)
        return default_vpc(ec2)["VpcId"]

    with ThreadPoolExecutor(len(clients)) as pool:
        seen = set(pool.map(first_call, clients))
    ec2 = clients[0]
    (vpc_id,) = seen
    flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
    assert len(ec2.describe_subnets(Filters=flt)["Subnets"]) == 1
    assert len(ec2.describe_route_tables(Filters=flt)["RouteTables"]) == 1
    assert len(ec2.describe_network_acls(Filters=flt)["NetworkAcls"]) == 1
    assert len(ec2.describe_internet_gateways()["InternetGateways"]) == 1
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == \
        ["default"]
    routers = [r for r in nb_rows(vcloud, "Logical_Router")
               if r["external_ids"].get("mallee:account") == dave.account_id]
    assert [r["name"] for r in routers] == [f"mallee-{vpc_id}"]


def test_a_clc_restart_keeps_one_default_vpc(tmp_path_factory):
    home = tmp_path_factory.mktemp("defvpc-restart")
    env = {"MALLEE_NETWORK_MODE": "vpc", "MALLEE_NETWORK_OVN_RECONCILE_SECONDS": "0.3"}

    def parts(ec2, vpc_id):
        flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
        return (ec2.describe_subnets(Filters=flt)["Subnets"],
                [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=flt)["RouteTables"]],
                [a["NetworkAclId"] for a in ec2.describe_network_acls(Filters=flt)["NetworkAcls"]],
                [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=[
                    {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]],
                [g["GroupId"] for g in ec2.describe_security_groups(Filters=flt)[
                    "SecurityGroups"]])

    first = Cloud(home, available_components(), env=env).start()
    try:
        ec2 = first.client("ec2")
        vpc = default_vpc(ec2)
        before = parts(ec2, vpc["VpcId"])
        assert all(len(p) == 1 for p in before)
    finally:
        first.stop()
    second = Cloud(home, available_components(), env=env).start()
    second.admin = first.admin
    try:
        ec2 = second.client("ec2")
        assert default_vpc(ec2) == vpc
        assert parts(ec2, vpc["VpcId"]) == before
        routers = [r for r in by_mallee_id(second, "Logical_Router", "mallee:vpc-id")
                   if r == vpc["VpcId"]]
        assert routers == [vpc["VpcId"]]
    finally:
        second.stop()


def test_a_cloud_turning_from_edge_to_vpc_mode_keeps_the_default_vpcs_ids(tmp_path_factory):
    """Edge mode's facade rows (made for tags) become the real default VPC: the same VPC,
    subnet, gateway, table and ACL ids, the tags kept, the block now the default VPC's."""
    home = tmp_path_factory.mktemp("defvpc-edge-to-vpc")
    edge = Cloud(home, available_components(), env={"MALLEE_NETWORK_MODE": "edge"}).start()
    try:
        ec2 = edge.client("ec2")
        vpc = default_vpc(ec2)
        (subnet,) = ec2.describe_subnets()["Subnets"]
        ec2.create_tags(Resources=[vpc["VpcId"], subnet["SubnetId"]],
                        Tags=[{"Key": "Name", "Value": "kept"}])
        ids = ([g["InternetGatewayId"] for g in ec2.describe_internet_gateways()[
            "InternetGateways"]], [t["RouteTableId"] for t in ec2.describe_route_tables()[
                "RouteTables"]], [a["NetworkAclId"] for a in ec2.describe_network_acls()[
                    "NetworkAcls"]])
        assert vpc["CidrBlock"] != "172.31.0.0/16"
    finally:
        edge.stop()
    real = Cloud(home, available_components(), env={"MALLEE_NETWORK_MODE": "vpc"}).start()
    real.admin = edge.admin
    try:
        ec2 = real.client("ec2")
        now = default_vpc(ec2)
        assert (now["VpcId"], now["CidrBlock"], now["Tags"]) == (
            vpc["VpcId"], "172.31.0.0/16", [{"Key": "Name", "Value": "kept"}])
        (s,) = ec2.describe_subnets()["Subnets"]
        assert (s["SubnetId"], s["CidrBlock"], s["Tags"], s["MapPublicIpOnLaunch"]) == (
            subnet["SubnetId"], "172.31.0.0/20", [{"Key": "Name", "Value": "kept"}], True)
        assert ids == ([g["InternetGatewayId"] for g in ec2.describe_internet_gateways()[
            "InternetGateways"]], [t["RouteTableId"] for t in ec2.describe_route_tables()[
                "RouteTables"]], [a["NetworkAclId"] for a in ec2.describe_network_acls()[
                    "NetworkAcls"]])
        assert s["SubnetId"] in by_mallee_id(real, "Logical_Switch", "mallee:subnet-id")
    finally:
        real.stop()


def test_no_outside_address_left_fails_the_network_calls_only(tmp_path_factory):
    """Each default VPC's gateway port takes an outside address: past the segment's
    last free one, an account's network calls answer the capacity error and the
    rest of its calls still work (the gateway is made at the next call that needs it)."""
    env = {"MALLEE_NETWORK_MODE": "vpc", "MALLEE_NETWORK_UPLINK_ADDRESS": "198.51.100.2/29"}
    cloud = Cloud(tmp_path_factory.mktemp("defvpc-full"), available_components(),
                  env=env).start()
    try:  # .1 the gateway, .2 the uplink: .3 to .6 for four default VPCs, the admin's first
        for name in ("a1", "a2", "a3"):
            default_vpc(cloud.client("ec2", cloud.new_account(name)))
        default_vpc(cloud.client("ec2"))
        late = cloud.client("ec2", cloud.new_account("late"))
        assert late.describe_key_pairs()["KeyPairs"] == []
        with pytest.raises(ClientError) as excinfo:
            late.describe_vpcs()
        assert code(excinfo) == "InsufficientAddressCapacity"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    finally:
        cloud.stop()
