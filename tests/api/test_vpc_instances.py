"""VPC mode (docs/vpc.md): instances launched into own subnets get an address
of the subnet from the CLC and a logical switch port in OVN's NB database
(addresses, port security, the subnet's DHCP options), which goes when they
are terminated; EC2's errors for SubnetId and PrivateIpAddress. The fake
hypervisor runs the guests here (tests/integration/test_vpc_guests.py boots
real ones)."""
import pytest
from botocore.exceptions import ClientError

from mallee.ovn_central import missing_binaries
from tests.ovn_nb import as_list, by_mallee_id, nb_rows, nbctl

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


def test_default_subnet_launches_are_on_ovn_too(vcloud, vec2, vimage):
    """vpc mode: the default subnet is a real one (tests/api/test_vpc_default.py)."""
    default = vec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                              "Values": ["true"]}])["Subnets"][0]
    instance = run(vec2, vimage, SubnetId=default["SubnetId"])[0]
    assert instance["SubnetId"] == default["SubnetId"] and instance["VpcId"] == default["VpcId"]
    assert instance["InstanceId"] in ports(vcloud)
    with pytest.raises(ClientError) as err:  # EDGE's block is not the default VPC's
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


def terminated(cloud, vec2, instance_ids: list[str]) -> bool:
    return cloud.wait_for(lambda: all(
        i["State"]["Name"] == "terminated" for r in vec2.describe_instances(
            InstanceIds=instance_ids)["Reservations"] for i in r["Instances"]), timeout=30)


def group_ports(cloud) -> dict[str, set[str]]:
    """{port group name: the names of its logical switch ports}."""
    names = {r["_uuid"]: r["name"] for r in nb_rows(cloud, "Logical_Switch_Port")}
    return {r["name"]: {names[u] for u in as_list(r["ports"]) if u in names}
            for r in nb_rows(cloud, "Port_Group")}


def test_security_groups_of_instances_in_own_subnets(vcloud, vec2, vimage):
    """An instance in an own subnet is in groups of its VPC (the VPC's `default` if none
    is named), its OVN port is in their port groups and in mallee_pg_drop; each change
    is in NB once the API answers."""
    from tests.api.test_vpc_security import pg_name
    vpc = vec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    sid = vec2.create_subnet(VpcId=vpc, CidrBlock="10.31.1.0/24")["Subnet"]["SubnetId"]
    other_vpc = vec2.create_vpc(CidrBlock="10.32.0.0/16")["Vpc"]["VpcId"]
    default = vec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])[
            "SecurityGroups"][0]["GroupId"]
    web = vec2.create_security_group(GroupName="web", Description="w", VpcId=vpc)["GroupId"]
    foreign = vec2.create_security_group(GroupName="web", Description="w",
                                         VpcId=other_vpc)["GroupId"]
    edge = vec2.create_security_group(GroupName="edge-sg", Description="e")["GroupId"]

    plain = run(vec2, vimage, SubnetId=sid)[0]
    named = run(vec2, vimage, SubnetId=sid, SecurityGroupIds=[web])[0]
    both = run(vec2, vimage, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sid,
                                                "Groups": [web, default]}])[0]
    port = {i["InstanceId"]: f"mallee-{i['NetworkInterfaces'][0]['NetworkInterfaceId']}"
            for i in (plain, named, both)}
    assert [g["GroupId"] for g in plain["SecurityGroups"]] == [default]
    assert [g["GroupId"] for g in named["SecurityGroups"]] == [web]
    assert {g["GroupId"] for g in both["SecurityGroups"]} == {web, default}
    described = {i["InstanceId"]: i for r in vec2.describe_instances(
        InstanceIds=list(port))["Reservations"] for i in r["Instances"]}
    assert [g["GroupId"] for g in described[plain["InstanceId"]]["SecurityGroups"]] == \
        [default]
    pgs = group_ports(vcloud)
    assert pgs[pg_name(default)] == {port[plain["InstanceId"]], port[both["InstanceId"]]}
    assert pgs[pg_name(web)] == {port[named["InstanceId"]], port[both["InstanceId"]]}
    assert pgs[pg_name(foreign)] == set()
    assert set(port.values()) <= pgs["mallee_pg_drop"]

    # groups of another VPC, or EDGE's, are refused as EC2 does; unknown names too
    for kw in ({"SecurityGroupIds": [foreign]}, {"SecurityGroupIds": [edge]},
               {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": sid,
                                       "Groups": [foreign]}]}):
        with pytest.raises(ClientError) as err:
            run(vec2, vimage, **({"SubnetId": sid} if "SecurityGroupIds" in kw else {}), **kw)
        assert code(err) == "InvalidParameter"
        assert "belong to different networks" in err.value.response["Error"]["Message"]
    # names with a nondefault subnet: EC2 takes ids only
    with pytest.raises(ClientError) as err:
        run(vec2, vimage, SubnetId=sid, SecurityGroups=["web"])
    assert code(err) == "InvalidParameterCombination"

    # groupSet: only groups of its VPC; the port groups follow at once
    for bad in (foreign, edge):
        with pytest.raises(ClientError) as err:
            vec2.modify_instance_attribute(InstanceId=plain["InstanceId"], Groups=[bad])
        assert code(err) == "InvalidParameter"
    vec2.modify_instance_attribute(InstanceId=plain["InstanceId"], Groups=[web])
    pgs = group_ports(vcloud)
    assert port[plain["InstanceId"]] in pgs[pg_name(web)]
    assert port[plain["InstanceId"]] not in pgs[pg_name(default)]
    assert port[plain["InstanceId"]] in pgs["mallee_pg_drop"]

    # a group live instances use is not deleted; terminated, their ports leave it
    with pytest.raises(ClientError) as err:
        vec2.delete_security_group(GroupId=web)
    assert code(err) == "DependencyViolation"
    vec2.terminate_instances(InstanceIds=list(port))
    pgs = group_ports(vcloud)
    assert pgs[pg_name(web)] == set() and pgs[pg_name(default)] == set()
    assert not set(port.values()) & pgs.get("mallee_pg_drop", set())
    assert terminated(vcloud, vec2, list(port))  # shutting down, they are still in it
    vec2.delete_security_group(GroupId=web)
    for group in (foreign, edge):
        vec2.delete_security_group(GroupId=group)
    vec2.delete_subnet(SubnetId=sid)
    for v in (vpc, other_vpc):
        vec2.delete_vpc(VpcId=v)


def test_a_group_rule_opens_an_instance_port(vcloud, vec2, vimage):
    """ovn-trace through the real logical flows to an instance's port from outside its
    subnet (through the router port): tcp/22 is dropped while no rule of its groups
    allows it (mallee_pg_drop), output once AuthorizeSecurityGroupIngress answered."""
    import time

    from cloud_controller.ovn.northbound import gateway_mac
    from tests.api.test_vpc_security import trace
    vpc = vec2.create_vpc(CidrBlock="10.33.0.0/16")["Vpc"]["VpcId"]
    sid = vec2.create_subnet(VpcId=vpc, CidrBlock="10.33.1.0/24")["Subnet"]["SubnetId"]
    ssh = vec2.create_security_group(GroupName="ssh", Description="s", VpcId=vpc)["GroupId"]
    instance = run(vec2, vimage, SubnetId=sid, SecurityGroupIds=[ssh])[0]
    nic = instance["NetworkInterfaces"][0]
    port = f"mallee-{nic['NetworkInterfaceId']}"

    def verdict(dport: int) -> str:
        flow = (f'inport == "mallee-rp-{sid}" && eth.src == {gateway_mac(sid)} && '
                f'eth.dst == {nic["MacAddress"]} && ip4.src == 192.0.2.1 && '
                f'ip4.dst == {instance["PrivateIpAddress"]} && ip.ttl == 64 && '
                f'tcp.src == 40000 && tcp.dst == {dport}')
        return "output" if f'output("{port}")' in trace(vcloud, f"mallee-{sid}", flow) \
            else "drop"

    nbctl(vcloud, "--wait=sb", "sync")  # northd has compiled what the launch wrote
    assert (verdict(22), verdict(80)) == ("drop", "drop")
    vec2.authorize_security_group_ingress(GroupId=ssh, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    answered = time.monotonic()
    assert vcloud.wait_for(lambda: verdict(22) == "output", timeout=5)
    print(f"tcp/22 allowed in ovn-trace {time.monotonic() - answered:.3f} s after the reply")
    assert verdict(80) == "drop"
    vec2.revoke_security_group_ingress(GroupId=ssh, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert vcloud.wait_for(lambda: verdict(22) == "drop", timeout=5)
    vec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    assert terminated(vcloud, vec2, [instance["InstanceId"]])
    vec2.delete_security_group(GroupId=ssh)
    vec2.delete_subnet(SubnetId=sid)
    vec2.delete_vpc(VpcId=vpc)
