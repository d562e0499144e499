"""VPC mode's routing resources (docs/vpc.md): internet gateways, route tables,
NAT gateways and DHCP option sets, in the CLC's database and in a real OVN
northbound database (ovsdb-server + ovn-northd started by the test cloud),
checked with boto3, awscli and ovn-nbctl."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from mallee.ovn_central import missing_binaries
from tests.api.test_vpc_ovn import code
from tests.api.test_vpc_security import sbctl
from tests.ovn_nb import as_list, by_mallee_id, nb_rows, nbctl
from tests.harness import Cloud, available_components

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()}")


@pytest.fixture()
def vpc(vec2):
    """A VPC with a public and a private subnet; everything made in it is cleaned
    up by the test (the VPC's delete is itself checked to leave nothing)."""
    vpc_id = vec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    public = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    private = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.2.0/24")["Subnet"]["SubnetId"]
    yield vpc_id, public, private
    for subnet_id in (public, private):
        vec2.delete_subnet(SubnetId=subnet_id)
    vec2.delete_vpc(VpcId=vpc_id)


def tables_of(vec2, vpc_id):
    return vec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
                                     )["RouteTables"]


def routes_in_nb(vcloud, vpc_id) -> dict[tuple[str, str], dict]:
    return {(r["route_table"], r["ip_prefix"]): r
            for r in nb_rows(vcloud, "Logical_Router_Static_Route")
            if r["external_ids"].get("mallee:vpc-id") == vpc_id}


def test_main_route_table_comes_and_goes_with_the_vpc(vcloud, vec2):
    vpc_id = vec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    (main,) = tables_of(vec2, vpc_id)
    assert main["Routes"] == [{"DestinationCidrBlock": "10.41.0.0/16", "GatewayId": "local",
                               "State": "active", "Origin": "CreateRouteTable"}]
    (assoc,) = main["Associations"]
    assert assoc["Main"] is True and assoc["RouteTableId"] == main["RouteTableId"]
    assert assoc["AssociationState"]["State"] == "associated"
    assert [t["RouteTableId"] for t in vec2.describe_route_tables(Filters=[
        {"Name": "association.main", "Values": ["true"]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]] == [main["RouteTableId"]]
    # A subnet's router port looks its routes up in the table it uses: the main one.
    subnet_id = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.41.1.0/24")["Subnet"]["SubnetId"]
    ports = by_mallee_id(vcloud, "Logical_Router_Port", "mallee:subnet-id")
    assert ports[subnet_id]["options"]["route_table"] == main["RouteTableId"]
    with pytest.raises(ClientError) as e:
        vec2.delete_route_table(RouteTableId=main["RouteTableId"])
    assert code(e) == "DependencyViolation"
    vec2.delete_subnet(SubnetId=subnet_id)
    vec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as e:
        vec2.describe_route_tables(RouteTableIds=[main["RouteTableId"]])
    assert code(e) == "InvalidRouteTableID.NotFound"


def test_internet_gateway_lifecycle_and_its_ovn_rows(vcloud, vec2, vpc):
    vpc_id, public, _ = vpc
    igw = vec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "Name", "Value": "gw"}]}]
    )["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert igw["Attachments"] == [] and igw["Tags"] == [{"Key": "Name", "Value": "gw"}]
    with pytest.raises(ClientError) as e:
        vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    assert code(e) == "Gateway.NotAttached"
    vec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    try:
        listed = vec2.describe_internet_gateways(Filters=[
            {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
        assert [(g["InternetGatewayId"], g["Attachments"]) for g in listed] == [
            (igw_id, [{"VpcId": vpc_id, "State": "available"}])]
        assert [g["InternetGatewayId"] for g in vec2.describe_internet_gateways(
            Filters=[{"Name": "tag:Name", "Values": ["gw"]}])["InternetGateways"]] == [igw_id]
        other = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        with pytest.raises(ClientError) as e:
            vec2.attach_internet_gateway(InternetGatewayId=other, VpcId=vpc_id)
        assert code(e) == "Resource.AlreadyAssociated"
        vec2.delete_internet_gateway(InternetGatewayId=other)
        with pytest.raises(ClientError) as e:
            vec2.delete_internet_gateway(InternetGatewayId=igw_id)
        assert code(e) == "DependencyViolation"
        with pytest.raises(ClientError) as e:
            vec2.delete_vpc(VpcId=vpc_id)
        assert code(e) == "DependencyViolation"

        # OVN: a gateway port on the VPC's router, a switch with a localnet port onto
        # the outside bridge's network.
        (lrp,) = [p for p in nb_rows(vcloud, "Logical_Router_Port")
                  if p["external_ids"].get("mallee:igw-id") == igw_id]
        assert lrp["name"] == f"mallee-lrp-{igw_id}"
        assert lrp["networks"].startswith("198.51.100.") and lrp["networks"].endswith("/24")
        routers = by_mallee_id(vcloud, "Logical_Router", "mallee:vpc-id")
        assert lrp["_uuid"] in as_list(routers[vpc_id]["ports"])
        switches = by_mallee_id(vcloud, "Logical_Switch", "mallee:igw-id")
        ports = {p["name"]: p for p in nb_rows(vcloud, "Logical_Switch_Port")}
        localnet = ports[f"mallee-ln-{igw_id}"]
        assert localnet["type"] == "localnet"
        assert localnet["options"]["network_name"] == "mallee-outside"
        assert localnet["_uuid"] in as_list(switches[igw_id]["ports"])
        assert ports[f"mallee-rp-{igw_id}"]["type"] == "router"

        # The default route through it, in the main table: a route in the VPC's router
        # in that route table, to the outside segment's gateway, out of the gateway port.
        (main,) = tables_of(vec2, vpc_id)
        rtb = main["RouteTableId"]
        vec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
        routes = routes_in_nb(vcloud, vpc_id)
        assert routes[(rtb, "0.0.0.0/0")]["nexthop"] == "198.51.100.1"
        assert routes[(rtb, "0.0.0.0/0")]["output_port"] == f"mallee-lrp-{igw_id}"
        listing = nbctl(vcloud, "lr-route-list", f"mallee-{vpc_id}")
        assert f"Route Table {rtb}" in listing and "0.0.0.0/0" in listing
        (main,) = tables_of(vec2, vpc_id)
        assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw_id, "State": "active",
                "Origin": "CreateRoute"} in main["Routes"]

        # Reconcile: the route and the gateway's switch deleted by hand come back.
        nbctl(vcloud, "--route-table", rtb, "lr-route-del", f"mallee-{vpc_id}", "0.0.0.0/0")
        nbctl(vcloud, "ls-del", f"mallee-{igw_id}")
        assert (rtb, "0.0.0.0/0") not in routes_in_nb(vcloud, vpc_id)
        assert vcloud.wait_for(lambda: (rtb, "0.0.0.0/0") in routes_in_nb(vcloud, vpc_id)
                               and igw_id in by_mallee_id(vcloud, "Logical_Switch",
                                                          "mallee:igw-id"), timeout=10)
        # A Mallee-tagged route nothing records goes; someone else's stays.
        nbctl(vcloud, "--route-table", rtb, "lr-route-add", f"mallee-{vpc_id}",
              "192.0.2.0/24", "198.51.100.1")
        dead = nbctl(vcloud, "--", "--id=@r", "create",
                     "Logical_Router_Static_Route", "ip_prefix=203.0.113.0/24",
                     "nexthop=198.51.100.1", f"route_table={rtb}",
                     f'external_ids:"mallee:route-table-id"={rtb}',
                     f'external_ids:"mallee:vpc-id"={vpc_id}', "--", "add",
                     "Logical_Router", f"mallee-{vpc_id}", "static_routes", "@r")
        assert dead.strip()
        assert vcloud.wait_for(lambda: (rtb, "203.0.113.0/24") not in
                               routes_in_nb(vcloud, vpc_id), timeout=10)
        assert "192.0.2.0/24" in nbctl(vcloud, "lr-route-list", f"mallee-{vpc_id}")
        nbctl(vcloud, "--route-table", rtb, "lr-route-del", f"mallee-{vpc_id}", "192.0.2.0/24")
        # The whole router goes (its gateway port and routes with it): one pass makes
        # the router, then the gateway port and the route on it.
        nbctl(vcloud, "lr-del", f"mallee-{vpc_id}")
        assert vcloud.wait_for(lambda: (rtb, "0.0.0.0/0") in routes_in_nb(vcloud, vpc_id)
                               and [p for p in nb_rows(vcloud, "Logical_Router_Port")
                                    if p["external_ids"].get("mallee:igw-id") == igw_id],
                               timeout=10)

        # Detached: the route is a blackhole and leaves OVN with the gateway's rows.
        vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        (main,) = tables_of(vec2, vpc_id)
        assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw_id,
                "State": "blackhole", "Origin": "CreateRoute"} in main["Routes"]
        assert (rtb, "0.0.0.0/0") not in routes_in_nb(vcloud, vpc_id)
        assert igw_id not in by_mallee_id(vcloud, "Logical_Switch", "mallee:igw-id")
        assert not [p for p in nb_rows(vcloud, "Logical_Router_Port")
                    if p["external_ids"].get("mallee:igw-id") == igw_id]
        vec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    finally:
        gateways = vec2.describe_internet_gateways(InternetGatewayIds=[igw_id])
        if gateways["InternetGateways"][0]["Attachments"]:
            vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        vec2.delete_internet_gateway(InternetGatewayId=igw_id)
    with pytest.raises(ClientError) as e:
        vec2.describe_internet_gateways(InternetGatewayIds=[igw_id])
    assert code(e) == "InvalidInternetGatewayID.NotFound"


def gateway_chassis(vcloud, port: str) -> dict[str, dict]:
    """The Gateway_Chassis rows of a router port, by chassis name."""
    lrps = [p for p in nb_rows(vcloud, "Logical_Router_Port") if p["name"] == port]
    uuids = as_list(lrps[0]["gateway_chassis"]) if lrps else []
    rows = {r["_uuid"]: r for r in nb_rows(vcloud, "Gateway_Chassis")}
    return {rows[u]["chassis_name"]: rows[u] for u in uuids if u in rows}


def test_gateway_port_follows_the_chassis_that_map_the_outside(vcloud, vec2, vpc):
    """The gateway port's Gateway_Chassis name the SB chassis whose bridge mappings
    name the outside network (the fake nodes run no ovn-controller: the test
    registers chassis by hand, as ovn-controller would)."""
    vpc_id, _, _ = vpc
    igw_id = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    port = f"mallee-lrp-{igw_id}"
    vec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    try:
        assert gateway_chassis(vcloud, port) == {}  # no chassis maps the outside yet
        sbctl(vcloud, "chassis-add", "gw-a", "geneve", "127.0.0.2")
        sbctl(vcloud, "set", "Chassis", "gw-a",
              "other_config:ovn-bridge-mappings=mallee-outside:br-ex")
        sbctl(vcloud, "chassis-add", "plain", "geneve", "127.0.0.3")  # no outside bridge
        sbctl(vcloud, "chassis-add", "gw-b", "geneve", "127.0.0.4")  # the older column
        sbctl(vcloud, "set", "Chassis", "gw-b",
              'external_ids:ovn-bridge-mappings="physnet:br-x,mallee-outside:br-ex"')
        assert vcloud.wait_for(lambda: set(gateway_chassis(vcloud, port)) == {"gw-a", "gw-b"},
                               timeout=10), gateway_chassis(vcloud, port)
        rows = gateway_chassis(vcloud, port)
        assert rows["gw-a"]["name"] == f"{port}_gw-a"
        assert rows["gw-a"]["external_ids"] == {"mallee:igw-id": igw_id, "mallee:vpc-id": vpc_id,
                                                "mallee:account": vec2_account(vec2)}
        priorities = {name: row["priority"] for name, row in rows.items()}
        assert all(1 <= p <= 32767 for p in priorities.values())
        # northd makes it a distributed gateway port: its chassis-redirect port binding
        assert vcloud.wait_for(lambda: "chassisredirect" in sbctl(
            vcloud, "--columns=type", "find", "Port_Binding", f"logical_port=cr-{port}"),
            timeout=10)
        # a node that leaves (its ovn-controller deregisters), one whose mapping goes
        sbctl(vcloud, "chassis-del", "gw-a")
        assert vcloud.wait_for(lambda: set(gateway_chassis(vcloud, port)) == {"gw-b"},
                               timeout=10), gateway_chassis(vcloud, port)
        assert gateway_chassis(vcloud, port)["gw-b"]["priority"] == priorities["gw-b"]
        # the reconcile: a row deleted by hand comes back, a priority changed goes back
        nbctl(vcloud, "lrp-del-gateway-chassis", port, "gw-b")
        assert vcloud.wait_for(lambda: "gw-b" in gateway_chassis(vcloud, port), timeout=10)
        nbctl(vcloud, "set", "Gateway_Chassis", gateway_chassis(vcloud, port)["gw-b"]["_uuid"],
              "priority=1")
        assert vcloud.wait_for(lambda: gateway_chassis(vcloud, port)["gw-b"]["priority"]
                               == priorities["gw-b"], timeout=10)
        sbctl(vcloud, "remove", "Chassis", "gw-b", "external_ids", "ovn-bridge-mappings")
        assert vcloud.wait_for(lambda: gateway_chassis(vcloud, port) == {}, timeout=10)
        sbctl(vcloud, "set", "Chassis", "gw-b",
              'other_config:ovn-bridge-mappings="mallee-outside:br-ex"')
        assert vcloud.wait_for(lambda: set(gateway_chassis(vcloud, port)) == {"gw-b"},
                               timeout=10)
    finally:
        for name in ("gw-a", "plain", "gw-b"):
            sbctl(vcloud, "--if-exists", "chassis-del", name)
        vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        vec2.delete_internet_gateway(InternetGatewayId=igw_id)
    assert not [r for r in nb_rows(vcloud, "Gateway_Chassis")
                if r["external_ids"].get("mallee:igw-id") == igw_id]


def vec2_account(ec2) -> str:
    return ec2.describe_security_groups()["SecurityGroups"][0]["OwnerId"]


def test_route_tables_associations_and_route_errors(vcloud, vec2, vpc):
    vpc_id, public, private = vpc
    (main,) = tables_of(vec2, vpc_id)
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    table = vec2.create_route_table(VpcId=vpc_id, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "tier", "Value": "private"}]}]
    )["RouteTable"]
    rtb = table["RouteTableId"]
    assert table["Associations"] == []
    assert vec2.create_route_table(VpcId=vpc_id, ClientToken="rtb-token")["RouteTable"][
        "RouteTableId"] == vec2.create_route_table(VpcId=vpc_id, ClientToken="rtb-token")[
        "RouteTable"]["RouteTableId"]
    retried = vec2.create_route_table(VpcId=vpc_id, ClientToken="rtb-token")["RouteTable"]
    vec2.delete_route_table(RouteTableId=retried["RouteTableId"]) and table["Tags"] == [{"Key": "tier",
                                                              "Value": "private"}]
    assert table["Routes"][0]["GatewayId"] == "local"
    assoc = vec2.associate_route_table(RouteTableId=rtb, SubnetId=private)
    assert assoc["AssociationState"]["State"] == "associated"
    with pytest.raises(ClientError) as e:
        vec2.associate_route_table(RouteTableId=main["RouteTableId"], SubnetId=private)
    assert code(e) == "Resource.AlreadyAssociated"
    ports = by_mallee_id(vcloud, "Logical_Router_Port", "mallee:subnet-id")
    assert ports[private]["options"]["route_table"] == rtb
    assert ports[public]["options"]["route_table"] == main["RouteTableId"]
    found = vec2.describe_route_tables(Filters=[
        {"Name": "association.subnet-id", "Values": [private]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    assert [t["RouteTableId"] for t in vec2.describe_route_tables(
        Filters=[{"Name": "tag:tier", "Values": ["private"]}])["RouteTables"]] == [rtb]

    with pytest.raises(ClientError) as e:
        vec2.delete_route_table(RouteTableId=rtb)
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.delete_vpc(VpcId=vpc_id)
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.disassociate_route_table(AssociationId=main_assoc)
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        vec2.disassociate_route_table(AssociationId="rtbassoc-0123456789abcdef0")
    assert code(e) == "InvalidAssociationID.NotFound"

    # Route errors as EC2 gives them: (what the call names, the code).
    nobody = "igw-0123456789abcdef0"
    for kwargs, expected in (
            ({"DestinationCidrBlock": "10.40.0.0/16", "GatewayId": nobody},
             "InvalidParameterValue"),  # the local route
            ({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": nobody},
             "InvalidInternetGatewayID.NotFound"),
            ({"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0123456789abcdef0"},
             "InvalidNatGatewayID.NotFound"),
            ({"DestinationCidrBlock": "0.0.0.0/0", "InstanceId": "i-0123456789abcdef0"},
             "InvalidInstanceID.NotFound"),
            ({"DestinationCidrBlock": "0.0.0.0/0",
              "NetworkInterfaceId": "eni-0123456789abcdef0"},
             "InvalidNetworkInterfaceID.NotFound"),
            ({"DestinationCidrBlock": "0.0.0.0/99", "GatewayId": nobody},
             "InvalidParameterValue"),
            ({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": nobody,
              "RouteTableId": "rtb-0123456789abcdef0"}, "InvalidRouteTableID.NotFound")):
        with pytest.raises(ClientError) as e:
            vec2.create_route(**{"RouteTableId": rtb, **kwargs})
        assert code(e) == expected, kwargs
    for destination, expected in (("10.40.0.0/16", "InvalidParameterValue"),
                                  ("0.0.0.0/0", "InvalidRoute.NotFound")):
        with pytest.raises(ClientError) as e:
            vec2.delete_route(RouteTableId=rtb, DestinationCidrBlock=destination)
        assert code(e) == expected, destination
    igw_id = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    with pytest.raises(ClientError) as e:  # not attached to this VPC
        vec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert code(e) == "InvalidParameterValue"
    vec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    with pytest.raises(ClientError) as e:
        vec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert code(e) == "InvalidRoute.NotFound"
    vec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    with pytest.raises(ClientError) as e:
        vec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert code(e) == "RouteAlreadyExists"
    vec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert (rtb, "0.0.0.0/0") in routes_in_nb(vcloud, vpc_id)

    # The main association moves to the new table, and back.
    moved = vec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=rtb)
    new_main = moved["NewAssociationId"]
    assert new_main != main_assoc
    ports = by_mallee_id(vcloud, "Logical_Router_Port", "mallee:subnet-id")
    assert ports[public]["options"]["route_table"] == rtb
    (mains,) = [t for t in tables_of(vec2, vpc_id) if t["RouteTableId"] == rtb]
    assert {a["Main"] for a in mains["Associations"]} == {True, False}
    back = vec2.replace_route_table_association(AssociationId=new_main,
                                               RouteTableId=main["RouteTableId"])
    vec2.disassociate_route_table(AssociationId=assoc["AssociationId"])
    ports = by_mallee_id(vcloud, "Logical_Router_Port", "mallee:subnet-id")
    assert ports[private]["options"]["route_table"] == main["RouteTableId"]
    assert back["AssociationState"]["State"] == "associated"
    vec2.delete_route_table(RouteTableId=rtb)
    assert not [k for k in routes_in_nb(vcloud, vpc_id) if k[0] == rtb]
    vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    vec2.delete_internet_gateway(InternetGatewayId=igw_id)


def test_nat_gateway_snat_for_the_subnets_routed_to_it(vcloud, vec2, vpc):
    vpc_id, public, private = vpc
    eip = vec2.allocate_address(Domain="vpc")
    failed = vec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"]
                                    )["NatGateway"]
    assert failed["State"] == "failed" and failed["FailureCode"] == "Gateway.NotAttached"
    vec2.delete_nat_gateway(NatGatewayId=failed["NatGatewayId"])
    igw_id = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    vec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    nat = vec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"],
                                 ClientToken="nat-token-1",
                                 TagSpecifications=[{"ResourceType": "natgateway", "Tags": [
                                     {"Key": "Name", "Value": "out"}]}])["NatGateway"]
    nat_id = nat["NatGatewayId"]
    # The same ClientToken (a retried call) answers the same gateway; other
    # parameters with it are refused.
    again = vec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"],
                                   ClientToken="nat-token-1")["NatGateway"]
    assert again["NatGatewayId"] == nat_id and again["Tags"] == [{"Key": "Name",
                                                                  "Value": "out"}]
    with pytest.raises(ClientError) as e:
        vec2.create_nat_gateway(SubnetId=private, AllocationId=eip["AllocationId"],
                               ClientToken="nat-token-1")
    assert code(e) == "IdempotentParameterMismatch"
    assert nat["State"] == "pending" and nat["VpcId"] == vpc_id
    (address,) = nat["NatGatewayAddresses"]
    assert address["PublicIp"] == eip["PublicIp"]
    assert address["PrivateIp"].startswith("10.40.1.")
    vec2.get_waiter("nat_gateway_available").wait(
        NatGatewayIds=[nat_id], WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert [n["NatGatewayId"] for n in vec2.describe_nat_gateways(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["available"]},
        {"Name": "tag:Name", "Values": ["out"]}])["NatGateways"]] == [nat_id]
    with pytest.raises(ClientError) as e:  # one EIP, one live NAT gateway
        vec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"])
    assert code(e) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as e:
        vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.delete_subnet(SubnetId=public)
    assert code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:
        vec2.release_address(AllocationId=eip["AllocationId"])
    assert code(e) == "InvalidIPAddress.InUse"

    private_rtb = vec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    vec2.associate_route_table(RouteTableId=private_rtb, SubnetId=private)
    vec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0",
                     NatGatewayId=nat_id)
    (table,) = vec2.describe_route_tables(RouteTableIds=[private_rtb])["RouteTables"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat_id, "State": "active",
            "Origin": "CreateRoute"} in table["Routes"]
    nats = [n for n in nb_rows(vcloud, "NAT") if n["external_ids"].get("mallee:nat") == nat_id]
    assert [(n["type"], n["external_ip"], n["logical_ip"]) for n in nats] == [
        ("snat", eip["PublicIp"], "10.40.2.0/24")]
    assert eip["PublicIp"] in nbctl(vcloud, "lr-nat-list", f"mallee-{vpc_id}")
    route = routes_in_nb(vcloud, vpc_id)[(private_rtb, "0.0.0.0/0")]
    assert route["output_port"] == f"mallee-lrp-{igw_id}"
    # Reconcile: the NAT row deleted by hand comes back.
    nbctl(vcloud, "lr-nat-del", f"mallee-{vpc_id}", "snat", "10.40.2.0/24")
    assert vcloud.wait_for(lambda: [n for n in nb_rows(vcloud, "NAT")
                                    if n["external_ids"].get("mallee:nat") == nat_id],
                           timeout=10)

    vec2.delete_nat_gateway(NatGatewayId=nat_id)
    (gone,) = vec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"]
    assert gone["State"] == "deleted" and "DeleteTime" in gone
    assert not [n for n in nb_rows(vcloud, "NAT") if n["external_ids"].get("mallee:nat")]
    (table,) = vec2.describe_route_tables(RouteTableIds=[private_rtb])["RouteTables"]
    assert [r["State"] for r in table["Routes"] if r.get("NatGatewayId")] == ["blackhole"]
    with pytest.raises(ClientError) as e:
        vec2.describe_nat_gateways(NatGatewayIds=["nat-0123456789abcdef0"])
    assert code(e) == "NatGatewayNotFound"
    vec2.delete_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0")
    vec2.disassociate_route_table(AssociationId=table["Associations"][0][
        "RouteTableAssociationId"])
    vec2.delete_route_table(RouteTableId=private_rtb)
    vec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    vec2.delete_internet_gateway(InternetGatewayId=igw_id)
    vec2.release_address(AllocationId=eip["AllocationId"])


def test_dhcp_options_reach_the_subnets_dhcp_rows(vcloud, vec2, vpc):
    vpc_id, public, private = vpc
    dhcp = by_mallee_id(vcloud, "DHCP_Options", "mallee:subnet-id")
    assert dhcp[public]["options"]["dns_server"] == "10.40.0.2"  # AmazonProvidedDNS
    assert dhcp[public]["options"]["domain_name"] == '"mallee-1.compute.internal"' or \
        dhcp[public]["options"]["domain_name"].endswith('.compute.internal"')
    made = vec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["lab.example"]},
        {"Key": "domain-name-servers", "Values": ["192.0.2.53", "192.0.2.54"]},
        {"Key": "ntp-servers", "Values": ["192.0.2.123"]}], TagSpecifications=[
        {"ResourceType": "dhcp-options", "Tags": [{"Key": "Name", "Value": "lab"}]}]
    )["DhcpOptions"]
    dopt = made["DhcpOptionsId"]
    assert {c["Key"]: [v["Value"] for v in c["Values"]]
            for c in made["DhcpConfigurations"]}["domain-name-servers"] == [
        "192.0.2.53", "192.0.2.54"]
    vec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=vpc_id)
    assert vec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["DhcpOptionsId"] == dopt
    for subnet_id in (public, private):
        options = by_mallee_id(vcloud, "DHCP_Options", "mallee:subnet-id")[subnet_id]["options"]
        assert options["dns_server"] == "{192.0.2.53, 192.0.2.54}"
        assert options["domain_name"] == '"lab.example"'
        assert options["ntp_server"] == "192.0.2.123"
        assert options["mtu"] == "1442"
    with pytest.raises(ClientError) as e:
        vec2.delete_dhcp_options(DhcpOptionsId=dopt)
    assert code(e) == "DependencyViolation"
    assert [d["DhcpOptionsId"] for d in vec2.describe_dhcp_options(Filters=[
        {"Name": "tag:Name", "Values": ["lab"]}])["DhcpOptions"]] == [dopt]
    assert [d["DhcpOptionsId"] for d in vec2.describe_dhcp_options(Filters=[
        {"Name": "value", "Values": ["192.0.2.123"]}])["DhcpOptions"]] == [dopt]
    with pytest.raises(ClientError) as e:
        vec2.create_dhcp_options(DhcpConfigurations=[{"Key": "routers", "Values": ["1.2.3.4"]}])
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        vec2.associate_dhcp_options(DhcpOptionsId="dopt-0123456789abcdef0", VpcId=vpc_id)
    assert code(e) == "InvalidDhcpOptionID.NotFound"
    vec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc_id)
    default = vec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["DhcpOptionsId"]
    assert default != dopt and default.startswith("dopt-")
    assert "ntp_server" not in by_mallee_id(vcloud, "DHCP_Options",
                                            "mallee:subnet-id")[public]["options"]
    vec2.delete_dhcp_options(DhcpOptionsId=dopt)


def test_tags_on_routing_resources(vcloud, vec2, vpc):
    vpc_id = vpc[0]
    igw_id = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    rtb = vec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    dopt = vec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["x.example"]}])["DhcpOptions"]["DhcpOptionsId"]
    vec2.create_tags(Resources=[igw_id, rtb, dopt], Tags=[{"Key": "env", "Value": "t"}])
    found = {(t["ResourceId"], t["ResourceType"]) for t in vec2.describe_tags(Filters=[
        {"Name": "key", "Values": ["env"]}])["Tags"]}
    assert found == {(igw_id, "internet-gateway"), (rtb, "route-table"),
                     (dopt, "dhcp-options")}
    with pytest.raises(ClientError) as e:
        vec2.create_tags(Resources=["igw-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(e) == "InvalidInternetGatewayID.NotFound"
    vec2.delete_internet_gateway(InternetGatewayId=igw_id)
    vec2.delete_route_table(RouteTableId=rtb)
    vec2.delete_dhcp_options(DhcpOptionsId=dopt)
    assert not [t for t in vec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}]
                                             )["Tags"]]


def test_awscli_public_subnet_walkthrough(vcloud):
    vpc_id = vcloud.aws("ec2", "create-vpc", "--cidr-block", "10.60.0.0/16")["Vpc"]["VpcId"]
    subnet = vcloud.aws("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block",
                        "10.60.1.0/24")["Subnet"]["SubnetId"]
    igw = vcloud.aws("ec2", "create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    vcloud.aws("ec2", "attach-internet-gateway", "--internet-gateway-id", igw,
               "--vpc-id", vpc_id)
    rtb = vcloud.aws("ec2", "create-route-table", "--vpc-id", vpc_id
                     )["RouteTable"]["RouteTableId"]
    assert vcloud.aws("ec2", "create-route", "--route-table-id", rtb,
                      "--destination-cidr-block", "0.0.0.0/0", "--gateway-id", igw
                      )["Return"] is True
    assoc = vcloud.aws("ec2", "associate-route-table", "--route-table-id", rtb,
                       "--subnet-id", subnet)["AssociationId"]
    (table,) = vcloud.aws("ec2", "describe-route-tables", "--route-table-ids", rtb
                          )["RouteTables"]
    assert [r["GatewayId"] for r in table["Routes"]] == ["local", igw]
    vcloud.aws("ec2", "disassociate-route-table", "--association-id", assoc)
    vcloud.aws("ec2", "delete-route-table", "--route-table-id", rtb)
    vcloud.aws("ec2", "detach-internet-gateway", "--internet-gateway-id", igw,
               "--vpc-id", vpc_id)
    vcloud.aws("ec2", "delete-internet-gateway", "--internet-gateway-id", igw)
    vcloud.aws("ec2", "delete-subnet", "--subnet-id", subnet)
    vcloud.aws("ec2", "delete-vpc", "--vpc-id", vpc_id)
    # Nothing of it is left in OVN.
    for table, key in (("Logical_Router", "mallee:vpc-id"), ("Logical_Switch", "mallee:igw-id"),
                       ("Logical_Router_Static_Route", "mallee:route-table-id")):
        assert not [r for r in nb_rows(vcloud, table)
                    if r["external_ids"].get("mallee:vpc-id") == vpc_id], table
    assert json.loads(json.dumps(table))  # (the listing above parsed as JSON)


def test_accounts_are_apart(vcloud, vec2, vpc):
    """Another account's gateways, tables, NAT gateways and option sets are not found,
    whatever it calls with their ids."""
    vpc_id, public, _ = vpc
    igw_id = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    rtb = vec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    (main,) = [t for t in tables_of(vec2, vpc_id) if t["Associations"]]
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    dopt = vec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "ntp-servers", "Values": ["192.0.2.1"]}])["DhcpOptions"]["DhcpOptionsId"]
    mallory = vcloud.client("ec2", vcloud.new_account("mallory-routing"))
    mine = mallory.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    mine_subnet = mallory.create_subnet(VpcId=mine, CidrBlock="10.40.1.0/24"
                                        )["Subnet"]["SubnetId"]
    mine_igw = mallory.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    try:
        calls = [
            (lambda: mallory.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=mine),
             "InvalidInternetGatewayID.NotFound"),
            (lambda: mallory.delete_internet_gateway(InternetGatewayId=igw_id),
             "InvalidInternetGatewayID.NotFound"),
            (lambda: mallory.describe_internet_gateways(InternetGatewayIds=[igw_id]),
             "InvalidInternetGatewayID.NotFound"),
            (lambda: mallory.attach_internet_gateway(InternetGatewayId=mine_igw,
                                                     VpcId=vpc_id), "InvalidVpcID.NotFound"),
            (lambda: mallory.delete_route_table(RouteTableId=rtb),
             "InvalidRouteTableID.NotFound"),
            (lambda: mallory.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                                          GatewayId=igw_id), "InvalidRouteTableID.NotFound"),
            (lambda: mallory.associate_route_table(RouteTableId=rtb, SubnetId=mine_subnet),
             "InvalidRouteTableID.NotFound"),
            (lambda: mallory.replace_route_table_association(AssociationId=main_assoc,
                                                             RouteTableId=rtb),
             "InvalidAssociationID.NotFound"),
            (lambda: mallory.describe_route_tables(RouteTableIds=[rtb]),
             "InvalidRouteTableID.NotFound"),
            (lambda: mallory.create_nat_gateway(SubnetId=public,
                                                AllocationId="eipalloc-0123456789abcdef0"),
             "InvalidSubnetID.NotFound"),
            (lambda: mallory.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=mine),
             "InvalidDhcpOptionID.NotFound"),
            (lambda: mallory.delete_dhcp_options(DhcpOptionsId=dopt),
             "InvalidDhcpOptionID.NotFound"),
            (lambda: mallory.create_tags(Resources=[rtb], Tags=[{"Key": "a", "Value": "b"}]),
             "InvalidRouteTableID.NotFound"),
        ]
        for call, expected in calls:
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) == expected
        # The same CIDR in mallory's VPC: its own main table, nothing of the other's.
        assert {t["VpcId"] for t in mallory.describe_route_tables()["RouteTables"]} == \
            {mine, mallory.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}]
                                         )["Vpcs"][0]["VpcId"]}
        assert igw_id not in {g["InternetGatewayId"] for g in
                              mallory.describe_internet_gateways()["InternetGateways"]}
    finally:
        mallory.delete_internet_gateway(InternetGatewayId=mine_igw)
        mallory.delete_subnet(SubnetId=mine_subnet)
        mallory.delete_vpc(VpcId=mine)
        vec2.delete_internet_gateway(InternetGatewayId=igw_id)
        vec2.delete_route_table(RouteTableId=rtb)
        vec2.delete_dhcp_options(DhcpOptionsId=dopt)


def test_describe_vpc_attribute_of_an_own_vpc(vec2, vpc):
    """EC2's defaults for a VPC that is not a default one (Terraform's aws_vpc reads them)."""
    vpc_id = vpc[0]
    assert vec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")[
        "EnableDnsSupport"] == {"Value": True}
    assert vec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"] == {"Value": False}
    with pytest.raises(ClientError) as e:
        vec2.describe_vpc_attribute(VpcId="vpc-0123456789abcdef0", Attribute="enableDnsSupport")
    assert code(e) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as e:
        vec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="nope")
    assert code(e) == "InvalidParameterValue"


def test_a_wiped_nb_gets_the_routing_back_in_the_first_pass(tmp_path_factory):
    """A cloud of its own whose NB database is wiped while it is down: the CLC's first
    pass at start (the next is 30 s away) writes the routers, then the gateway port,
    the routes, the NAT row and the DHCP options on them."""
    home = tmp_path_factory.mktemp("vpcroute-restart")
    env = {"MALLEE_NETWORK_MODE": "vpc", "MALLEE_NETWORK_OVN_RECONCILE_SECONDS": "30"}
    first = Cloud(home, available_components(), env=env).start()
    try:
        vec2 = first.client("ec2")
        vpc_id = vec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
        public = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.80.1.0/24")["Subnet"]["SubnetId"]
        private = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.80.2.0/24")["Subnet"][
            "SubnetId"]
        igw = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        vec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        (main,) = tables_of(vec2, vpc_id)
        vec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw)
        eip = vec2.allocate_address(Domain="vpc")
        nat = vec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"]
                                     )["NatGateway"]["NatGatewayId"]
        rtb = vec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        vec2.associate_route_table(RouteTableId=rtb, SubnetId=private)
        vec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        # the VPC's own rows (the default VPC has its route to its gateway too)
        before = {t: [r for r in nb_rows(first, t)
                      if r["external_ids"].get("mallee:vpc-id") == vpc_id]
                  for t in ("Logical_Router_Static_Route", "NAT")}
    finally:
        first.stop()
    (first.ovn.data / "ovnnb_db.db").unlink()

    second = Cloud(home, available_components(), env=env)
    second.start()
    try:
        assert second.wait_for(lambda: len(nb_rows(second, "NAT")) == 1, timeout=10)
        routes = routes_in_nb(second, vpc_id)
        assert set(routes) == {(main["RouteTableId"], "0.0.0.0/0"), (rtb, "0.0.0.0/0")}
        assert {r["output_port"] for r in routes.values()} == {f"mallee-lrp-{igw}"}
        assert len(before["Logical_Router_Static_Route"]) == 2 and len(before["NAT"]) == 1
        (snat,) = nb_rows(second, "NAT")
        assert (snat["type"], snat["logical_ip"], snat["external_ip"]) == (
            "snat", "10.80.2.0/24", eip["PublicIp"])
        ports = by_mallee_id(second, "Logical_Router_Port", "mallee:subnet-id")
        assert ports[private]["options"]["route_table"] == rtb
        assert igw in by_mallee_id(second, "Logical_Switch", "mallee:igw-id")
        dhcp = by_mallee_id(second, "DHCP_Options", "mallee:subnet-id")
        assert dhcp[public]["options"]["dns_server"] == "10.80.0.2"
        # a chassis that comes (or goes) runs a pass at once, not at the next periodic one
        port = f"mallee-lrp-{igw}"
        sbctl(second, "chassis-add", "gw-c", "geneve", "127.0.0.5")
        sbctl(second, "set", "Chassis", "gw-c",
              "other_config:ovn-bridge-mappings=mallee-outside:br-ex")
        came = time.monotonic()
        assert second.wait_for(lambda: set(gateway_chassis(second, port)) == {"gw-c"},
                               timeout=10, interval=0.02)
        print(f"\na chassis' Gateway_Chassis {time.monotonic() - came:.3f} s after it came")
        sbctl(second, "chassis-del", "gw-c")
        assert second.wait_for(lambda: gateway_chassis(second, port) == {}, timeout=10)
        assert time.monotonic() - came < 15, "no periodic pass (30 s) needed"
    finally:
        second.stop()
