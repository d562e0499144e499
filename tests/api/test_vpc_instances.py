"""VPC mode (docs/vpc.md): instances launched into own subnets get an address
of the subnet from the CLC and a logical switch port in OVN's NB database
(addresses, port security, the subnet's DHCP options), which goes when they
are terminated; EC2's errors for SubnetId and PrivateIpAddress. The fake
hypervisor runs the guests here (tests/integration/test_vpc_guests.py boots
real ones)."""
import pytest
from botocore.exceptions import ClientError

from mallee.ovn_central import missing_binaries
from tests.ovn_nb import as_list, by_mallee_id, nbctl

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()}")


@pytest.fixture(scope="module")
def subnet(vec2):
    vpc = vec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    return vec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/28")["Subnet"]


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def run(vec2, vimage, **kw):
    return vec2.run_instances(ImageId=vimage, MinCount=kw.pop("count", 1),
                              MaxCount=kw.pop("count_max", 1), InstanceType="m1.small",
                              **kw)["Instances"]


def ports(cloud) -> dict[str, dict]:
    return by_mallee_id(cloud, "Logical_Switch_Port", "mallee:instance-id")


def test_instances_in_an_own_subnet_are_ovn_ports(vcloud, vec2, vimage, subnet):
    sid, vpc_id = subnet["SubnetId"], subnet["VpcId"]
    first, second = run(vec2, vimage, SubnetId=sid, count=2, count_max=2)
    # EC2 keeps .0 to .3: the first free addresses are .4, .5
    assert {first["PrivateIpAddress"], second["PrivateIpAddress"]} == {"10.30.1.4", "10.30.1.5"}
    assert first["SubnetId"] == sid and first["VpcId"] == vpc_id
    eni = first["NetworkInterfaces"][0]
    assert eni["SubnetId"] == sid and eni["VpcId"] == vpc_id
    assert eni["PrivateIpAddress"] == first["PrivateIpAddress"]

    # RunInstances answers once OVN holds the ports
    lsps = ports(vcloud)
    dhcp = by_mallee_id(vcloud, "DHCP_Options", "mallee:subnet-id")[sid]
    switch = by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id")[sid]
    for instance in (first, second):
        port = lsps[instance["InstanceId"]]
        want = f"{instance['NetworkInterfaces'][0]['MacAddress']} {instance['PrivateIpAddress']}"
        assert port["name"] == f"mallee-{instance['NetworkInterfaces'][0]['NetworkInterfaceId']}"
        assert as_list(port["addresses"]) == [want] and as_list(port["port_security"]) == [want]
        assert port["dhcpv4_options"] == dhcp["_uuid"]
        assert port["external_ids"]["mallee:subnet-id"] == sid
        assert port["external_ids"]["mallee:account"] == vcloud.admin.account_id
        assert port["_uuid"] in as_list(switch["ports"])

    # the subnet's metadata localport, and DHCP putting 169.254.169.254 on the link
    md = by_mallee_id(vcloud, "Logical_Switch_Port", "mallee:metadata-of")[sid]
    assert md["type"] == "localport" and md["name"] == f"mallee-md-{sid}"
    assert as_list(md["addresses"])[0].endswith(" 169.254.169.254")
    assert md["_uuid"] in as_list(switch["ports"])
    assert dhcp["options"]["classless_static_route"] == \
        "{169.254.169.254/32,0.0.0.0, 0.0.0.0/0,10.30.1.1}"

    described = vec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [sid]}])
    found = {i["InstanceId"]: i for r in described["Reservations"] for i in r["Instances"]}
    assert set(found) == {first["InstanceId"], second["InstanceId"]}
    assert found[first["InstanceId"]]["VpcId"] == vpc_id

    # the reconcile puts back a port deleted by hand, and a metadata port, and
    # rewrites one whose addresses someone changed
    nbctl(vcloud, "lsp-del", lsps[first["InstanceId"]]["name"])
    nbctl(vcloud, "lsp-del", md["name"])
    nbctl(vcloud, "lsp-set-addresses", lsps[second["InstanceId"]]["name"], "unknown")
    assert vcloud.wait_for(lambda: first["InstanceId"] in ports(vcloud) and as_list(
        ports(vcloud)[second["InstanceId"]]["addresses"])[0].endswith(
            second["PrivateIpAddress"]) and sid in by_mallee_id(
                vcloud, "Logical_Switch_Port", "mallee:metadata-of"), timeout=10)

    # a subnet with instances stays; once they are terminated their ports go, then it may go
    with pytest.raises(ClientError) as err:
        vec2.delete_subnet(SubnetId=sid)
    assert code(err) == "DependencyViolation"
    vec2.terminate_instances(InstanceIds=[first["InstanceId"]])
    assert first["InstanceId"] not in ports(vcloud)  # answered once OVN dropped it
    assert second["InstanceId"] in ports(vcloud)
    vec2.terminate_instances(InstanceIds=[second["InstanceId"]])
    assert not ports(vcloud)


def test_private_ip_address_in_an_own_subnet(vcloud, vec2, vimage, subnet):
    sid = subnet["SubnetId"]
    mine = run(vec2, vimage, SubnetId=sid, PrivateIpAddress="10.30.1.9")[0]
    assert mine["PrivateIpAddress"] == "10.30.1.9"
    cases = [
        (dict(PrivateIpAddress="10.30.1.9"), "InvalidIPAddress.InUse"),
        (dict(PrivateIpAddress="10.30.2.9"), "InvalidParameterValue"),  # outside
        (dict(PrivateIpAddress="10.30.1.1"), "InvalidParameterValue"),  # the router
        (dict(PrivateIpAddress="10.30.1.3"), "InvalidParameterValue"),  # EC2's .3
        (dict(PrivateIpAddress="10.30.1.15"), "InvalidParameterValue"),  # broadcast
        (dict(PrivateIpAddress="10.30.1.10", count=2, count_max=2),
         "InvalidParameterCombination"),
    ]
    for extra, expected in cases:
        with pytest.raises(ClientError) as err:
            run(vec2, vimage, SubnetId=sid, **extra)
        assert code(err) == expected, extra
    with pytest.raises(ClientError) as err:
        run(vec2, vimage, SubnetId="subnet-0123456789abcdef0")
    assert code(err) == "InvalidSubnetID.NotFound"
    # the same through NetworkInterface.1
    other = vec2.run_instances(ImageId=vimage, MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "SubnetId": sid, "PrivateIpAddress": "10.30.1.12"}]
    )["Instances"][0]
    assert other["PrivateIpAddress"] == "10.30.1.12" and other["SubnetId"] == sid
    vec2.terminate_instances(InstanceIds=[mine["InstanceId"], other["InstanceId"]])
    assert not ports(vcloud)
    # once terminated (not while shutting down), an instance's address is free again
    def state(instance_id):
        return vec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"][0]["State"]["Name"]
    vcloud.wait_for(lambda: state(mine["InstanceId"]) == "terminated", timeout=30)
    again = run(vec2, vimage, SubnetId=sid, PrivateIpAddress="10.30.1.9")[0]
    vec2.terminate_instances(InstanceIds=[again["InstanceId"]])


def test_edge_launches_stay_as_they_were(vcloud, vec2, vimage):
    default = vec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                              "Values": ["true"]}])["Subnets"][0]
    instance = run(vec2, vimage, SubnetId=default["SubnetId"])[0]
    assert instance["SubnetId"] == default["SubnetId"] and instance["VpcId"] == default["VpcId"]
    assert instance["InstanceId"] not in ports(vcloud)
    with pytest.raises(ClientError) as err:
        run(vec2, vimage, SubnetId=default["SubnetId"], PrivateIpAddress="10.64.0.9")
    assert code(err) == "InvalidParameterValue"
    vec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_instances_and_nat_gateways_never_share_an_address(vcloud, vec2, vimage):
    """NAT gateways take a subnet's addresses from the top, instances from the bottom:
    neither is given one the other holds."""
    vpc = vec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    sid = vec2.create_subnet(VpcId=vpc, CidrBlock="10.31.1.0/28")["Subnet"]["SubnetId"]
    igw = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    vec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    instance = run(vec2, vimage, SubnetId=sid, PrivateIpAddress="10.31.1.14")[0]
    allocation = vec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = vec2.create_nat_gateway(SubnetId=sid, AllocationId=allocation)["NatGateway"]
    held = nat["NatGatewayAddresses"][0]["PrivateIp"]
    assert held == "10.31.1.13"  # the highest free host (.15 is the broadcast address)
    with pytest.raises(ClientError) as taken:
        run(vec2, vimage, SubnetId=sid, PrivateIpAddress=held)
    assert code(taken) == "InvalidIPAddress.InUse"
    vec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    vec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
