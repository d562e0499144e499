"""VPC mode (docs/vpc.md): accounts' own VPCs and subnets in the CLC's database,
written to a real OVN northbound database (ovsdb-server + ovn-northd started by
the test cloud), checked with boto3, awscli and ovn-nbctl."""
import ipaddress
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from mallee import settings as settings_mod
from mallee.ovn_central import OvnCentral, alive, missing_binaries
from tests.harness import Cloud, available_components
from tests.ovn_nb import as_list, by_mallee_id, nbctl

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()} "
                                       "(scripts/host-deps.sh installs it)")


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def vpc_env():
    return {"MALLEE_NETWORK_MAX_VPCS_PER_ACCOUNT": "3"}


@pytest.fixture(scope="module")
def bob(vcloud):
    return vcloud.new_account("bob")


def default_parts(ec2) -> set[str]:
    """The ids of the default VPC and its subnets."""
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return {vpc["VpcId"]} | {s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]}


def test_create_vpc_and_subnets_land_in_ovn(vcloud, vec2):
    vpc = vec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "lab"}]}])["Vpc"]
    assert vpc["VpcId"].startswith("vpc-") and vpc["CidrBlock"] == "10.20.0.0/16"
    assert vpc["IsDefault"] is False and vpc["State"] == "available"
    assert vpc["Tags"] == [{"Key": "Name", "Value": "lab"}]
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    vpc_id = vpc["VpcId"]
    a = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24",
                           AvailabilityZone="mallee-1a")["Subnet"]
    b = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/28", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "db"}]}])["Subnet"]
    assert a["AvailableIpAddressCount"] == 256 - 5 and b["AvailableIpAddressCount"] == 16 - 5
    assert a["VpcId"] == vpc_id and a["DefaultForAz"] is False and a["State"] == "available"
    assert b["AvailabilityZone"] == "mallee-1a" and b["Tags"] == [{"Key": "tier",
                                                                   "Value": "db"}]
    assert a["MapPublicIpOnLaunch"] is False

    # Describe: the default VPC as before, beside the new one; filters and tags.
    vpcs = {v["VpcId"]: v for v in vec2.describe_vpcs()["Vpcs"]}
    assert vpc_id in vpcs and sum(v["IsDefault"] for v in vpcs.values()) == 1
    assert [v["VpcId"] for v in vec2.describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["lab"]}])["Vpcs"]] == [vpc_id]
    assert [v["VpcId"] for v in vec2.describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]] == [vpc_id]
    assert vec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.20.0.0/16"]}]
                              )["Vpcs"][0]["VpcId"] == vpc_id
    subnets = vec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert sorted(s["SubnetId"] for s in subnets) == sorted([a["SubnetId"], b["SubnetId"]])
    assert vec2.describe_subnets(SubnetIds=[b["SubnetId"]])["Subnets"][0]["CidrBlock"] == \
        "10.20.2.0/28"
    assert len(vec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                               "Values": ["true"]}])["Subnets"]) == 1

    # OVN: a router for the VPC, a switch per subnet joined to it at the .1, DHCP options.
    routers = by_mallee_id(vcloud, "Logical_Router", "mallee:vpc-id")
    assert routers[vpc_id]["name"] == f"mallee-{vpc_id}"
    assert routers[vpc_id]["external_ids"]["mallee:account"] == vcloud.admin.account_id
    switches = by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id")
    ports = by_mallee_id(vcloud, "Logical_Router_Port", "mallee:subnet-id")
    dhcp = by_mallee_id(vcloud, "DHCP_Options", "mallee:subnet-id")
    for subnet in (a, b):
        sid = subnet["SubnetId"]
        assert switches[sid]["external_ids"]["mallee:vpc-id"] == vpc_id
        net = ipaddress.ip_network(subnet["CidrBlock"])
        assert ports[sid]["networks"] == f"{net[1]}/{net.prefixlen}"
        assert ports[sid]["_uuid"] in as_list(routers[vpc_id]["ports"])
        assert dhcp[sid]["cidr"] == subnet["CidrBlock"]
        assert dhcp[sid]["options"]["router"] == str(net[1])
        assert dhcp[sid]["options"]["mtu"] == "1442"
    show = nbctl(vcloud, "show", f"mallee-{a['SubnetId']}")
    assert "type: router" in show and f"mallee-lrp-{a['SubnetId']}" in show

    # ModifySubnetAttribute: MapPublicIpOnLaunch is kept.
    vec2.modify_subnet_attribute(SubnetId=a["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    assert vec2.describe_subnets(SubnetIds=[a["SubnetId"]])["Subnets"][0][
        "MapPublicIpOnLaunch"] is True
    assert [s["SubnetId"] for s in vec2.describe_subnets(Filters=[
        {"Name": "map-public-ip-on-launch", "Values": ["true"]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]] == [a["SubnetId"]]

    # DeleteVpc refused while it has subnets; then subnets, then the VPC, leave nothing.
    with pytest.raises(ClientError) as e:
        vec2.delete_vpc(VpcId=vpc_id)
    assert code(e) == "DependencyViolation"
    vec2.delete_subnet(SubnetId=a["SubnetId"])
    vec2.delete_subnet(SubnetId=b["SubnetId"])
    vec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as e:
        vec2.describe_vpcs(VpcIds=[vpc_id])
    assert code(e) == "InvalidVpcID.NotFound"
    default = default_parts(vec2)  # the default VPC's rows stay (a real VPC in vpc mode)
    for table, key in (("Logical_Router", "mallee:vpc-id"),
                       ("Logical_Switch", "mallee:subnet-id"),
                       ("Logical_Router_Port", "mallee:subnet-id"),
                       ("DHCP_Options", "mallee:subnet-id")):
        assert set(by_mallee_id(vcloud, table, key)) <= default, table


@pytest.mark.parametrize("cidr, error", [
    ("10.0.0.0/8", "InvalidVpc.Range"), ("10.0.0.0/29", "InvalidVpc.Range"),
    ("10.0.0.1/16", "InvalidParameterValue"), ("10.0.0.0/33", "InvalidParameterValue"),
    ("banana", "InvalidParameterValue")])
def test_create_vpc_errors(vec2, cidr, error):
    with pytest.raises(ClientError) as e:
        vec2.create_vpc(CidrBlock=cidr)
    assert code(e) == error
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_vpc_errors_and_limits(vcloud, vec2):
    with pytest.raises(ClientError) as e:
        vec2.create_vpc(CidrBlock="10.1.0.0/16", AmazonProvidedIpv6CidrBlock=True)
    assert code(e) == "UnsupportedOperation"
    with pytest.raises(ClientError) as e:
        vec2.delete_vpc(VpcId="vpc-0123456789abcdef0")
    assert code(e) == "InvalidVpcID.NotFound"
    default = vec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    with pytest.raises(ClientError) as e:
        vec2.delete_vpc(VpcId=default["VpcId"])
    assert code(e) == "UnsupportedOperation"
    made = [vec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(3)]
    with pytest.raises(ClientError) as e:  # the test cloud allows 3
        vec2.create_vpc(CidrBlock="10.9.0.0/16")
    assert code(e) == "VpcLimitExceeded"
    for vpc_id in made:
        vec2.delete_vpc(VpcId=vpc_id)


def test_subnet_errors(vec2):
    vpc_id = vec2.create_vpc(CidrBlock="172.16.0.0/20")["Vpc"]["VpcId"]
    try:
        vec2.create_subnet(VpcId=vpc_id, CidrBlock="172.16.0.0/24")
        cases = [("172.16.0.128/25", "InvalidSubnet.Conflict"),
                 ("172.16.0.0/20", "InvalidSubnet.Conflict"),
                 ("172.17.0.0/24", "InvalidSubnet.Range"),
                 ("172.16.1.0/29", "InvalidSubnet.Range"),
                 ("172.16.1.1/24", "InvalidParameterValue")]
        for cidr, error in cases:
            with pytest.raises(ClientError) as e:
                vec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)
            assert code(e) == error, cidr
        with pytest.raises(ClientError) as e:
            vec2.create_subnet(VpcId=vpc_id, CidrBlock="172.16.2.0/24",
                               AvailabilityZone="nowhere-1z")
        assert code(e) == "InvalidParameterValue"
        with pytest.raises(ClientError) as e:
            vec2.create_subnet(VpcId="vpc-0123456789abcdef0", CidrBlock="172.16.2.0/24")
        assert code(e) == "InvalidVpcID.NotFound"
        with pytest.raises(ClientError) as e:
            vec2.delete_subnet(SubnetId="subnet-0123456789abcdef0")
        assert code(e) == "InvalidSubnetID.NotFound"
        default_subnet = vec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                                         "Values": ["true"]}])["Subnets"][0]
        with pytest.raises(ClientError) as e:
            vec2.delete_subnet(SubnetId=default_subnet["SubnetId"])
        assert code(e) == "UnsupportedOperation"
    finally:
        for s in vec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
                                       )["Subnets"]:
            vec2.delete_subnet(SubnetId=s["SubnetId"])
        vec2.delete_vpc(VpcId=vpc_id)


def test_reconcile_puts_back_and_removes(vcloud, vec2):
    vpc_id = vec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet_id = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    try:
        # Someone deletes the subnet's switch by hand: the loop puts it back, port and all.
        nbctl(vcloud, "ls-del", f"mallee-{subnet_id}")
        assert subnet_id not in by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id")
        assert vcloud.wait_for(lambda: subnet_id in by_mallee_id(
            vcloud, "Logical_Switch", "mallee:subnet-id"), timeout=10)
        assert "type: router" in nbctl(vcloud, "show", f"mallee-{subnet_id}")
        # The whole router goes: it comes back with its ports.
        nbctl(vcloud, "lr-del", f"mallee-{vpc_id}")
        assert vcloud.wait_for(lambda: subnet_id in by_mallee_id(
            vcloud, "Logical_Router_Port", "mallee:subnet-id"), timeout=10)
        # Rows tagged as Mallee's that the database does not know (a crash between the
        # CLC's COMMIT of a delete and its OVN write) go; rows of others stay.
        nbctl(vcloud, "lr-add", "mallee-vpc-0000000000000dead", "--", "set",
              "Logical_Router", "mallee-vpc-0000000000000dead",
              'external_ids:"mallee:vpc-id"=vpc-0000000000000dead')
        nbctl(vcloud, "ls-add", "mallee-subnet-000000000000dead", "--", "set",
              "Logical_Switch", "mallee-subnet-000000000000dead",
              'external_ids:"mallee:subnet-id"=subnet-000000000000dead')
        nbctl(vcloud, "ls-add", "someone-elses")
        assert vcloud.wait_for(lambda: "vpc-0000000000000dead" not in by_mallee_id(
            vcloud, "Logical_Router", "mallee:vpc-id") and "subnet-000000000000dead" not in
            by_mallee_id(vcloud, "Logical_Switch", "mallee:subnet-id"), timeout=10)
        assert "someone-elses" in nbctl(vcloud, "ls-list")
        nbctl(vcloud, "ls-del", "someone-elses")
    finally:
        vec2.delete_subnet(SubnetId=subnet_id)
        vec2.delete_vpc(VpcId=vpc_id)


def test_accounts_are_apart(vcloud, vec2, bob):
    bob_ec2 = vcloud.client("ec2", bob)
    mine = vec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    theirs = bob_ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]  # same CIDR: fine
    their_subnet = bob_ec2.create_subnet(VpcId=theirs, CidrBlock="10.40.1.0/24")["Subnet"]
    my_subnet = vec2.create_subnet(VpcId=mine, CidrBlock="10.40.1.0/24")["Subnet"]
    try:
        assert mine not in [v["VpcId"] for v in bob_ec2.describe_vpcs()["Vpcs"]]
        assert theirs not in [v["VpcId"] for v in vec2.describe_vpcs()["Vpcs"]]
        for call in (lambda: vec2.describe_vpcs(VpcIds=[theirs]),
                     lambda: vec2.delete_vpc(VpcId=theirs),
                     lambda: vec2.create_subnet(VpcId=theirs, CidrBlock="10.40.2.0/24")):
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) == "InvalidVpcID.NotFound"
        for call in (lambda: vec2.describe_subnets(SubnetIds=[their_subnet["SubnetId"]]),
                     lambda: vec2.delete_subnet(SubnetId=their_subnet["SubnetId"]),
                     lambda: vec2.modify_subnet_attribute(
                         SubnetId=their_subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})):
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) == "InvalidSubnetID.NotFound"
        with pytest.raises(ClientError) as e:
            vec2.create_tags(Resources=[theirs], Tags=[{"Key": "k", "Value": "v"}])
        assert code(e) == "InvalidVpcID.NotFound"
        routers = by_mallee_id(vcloud, "Logical_Router", "mallee:vpc-id")
        assert routers[theirs]["external_ids"]["mallee:account"] == bob.account_id
        assert routers[mine]["external_ids"]["mallee:account"] == vcloud.admin.account_id
        # The two routers share no port: each VPC is its own L3 domain.
        mine_ports, their_ports = (set(as_list(routers[v]["ports"])) for v in (mine, theirs))
        assert len(mine_ports) == len(their_ports) == 1 and not mine_ports & their_ports
    finally:
        vec2.delete_subnet(SubnetId=my_subnet["SubnetId"])
        bob_ec2.delete_subnet(SubnetId=their_subnet["SubnetId"])
        bob_ec2.delete_vpc(VpcId=theirs)
        vec2.delete_vpc(VpcId=mine)


def test_awscli(vcloud):
    vpc = vcloud.aws("ec2", "create-vpc", "--cidr-block", "10.50.0.0/16",
                     "--tag-specifications",
                     "ResourceType=vpc,Tags=[{Key=Name,Value=cli}]")["Vpc"]
    subnet = vcloud.aws("ec2", "create-subnet", "--vpc-id", vpc["VpcId"], "--cidr-block",
                        "10.50.3.0/24")["Subnet"]
    assert subnet["AvailableIpAddressCount"] == 251
    listed = vcloud.aws("ec2", "describe-subnets", "--filters",
                        f"Name=vpc-id,Values={vpc['VpcId']}")["Subnets"]
    assert [s["SubnetId"] for s in listed] == [subnet["SubnetId"]]
    vcloud.aws("ec2", "modify-subnet-attribute", "--subnet-id", subnet["SubnetId"],
               "--map-public-ip-on-launch")
    assert vcloud.aws("ec2", "describe-subnets", "--subnet-ids", subnet["SubnetId"]
                      )["Subnets"][0]["MapPublicIpOnLaunch"] is True
    vcloud.aws("ec2", "delete-subnet", "--subnet-id", subnet["SubnetId"])
    vcloud.aws("ec2", "delete-vpc", "--vpc-id", vpc["VpcId"])
    assert vpc["VpcId"] not in [v["VpcId"] for v in
                                vcloud.aws("ec2", "describe-vpcs")["Vpcs"]]


def test_the_model_survives_a_clc_restart_and_ovn_follows(tmp_path_factory):
    """A cloud of its own: the NB database is wiped while the cloud is down; the
    CLC's first pass at start writes everything back. After stop, no OVN process
    of the cloud is left."""
    home = tmp_path_factory.mktemp("vpcr")
    env = {"MALLEE_NETWORK_MODE": "vpc", "MALLEE_NETWORK_OVN_RECONCILE_SECONDS": "30"}
    first = Cloud(home, available_components(), env=env).start()
    try:
        ec2 = first.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.0.0/24")["Subnet"][
            "SubnetId"]
        central = first.ovn
        pids = list(central.running().values())
        assert len(pids) == 3
    finally:
        first.stop()
    assert central.running() == {}
    assert not [p for p in pids if alive(p)]
    (central.data / "ovnnb_db.db").unlink()  # an NB database that lost everything

    second = Cloud(home, available_components(), env=env)
    second.start()
    second.admin = first.admin  # the same account and key (init made them the first time)
    try:
        assert second.wait_for(lambda: subnet_id in by_mallee_id(
            second, "Logical_Switch", "mallee:subnet-id"), timeout=10)
        assert vpc_id in by_mallee_id(second, "Logical_Router", "mallee:vpc-id")
        ec2 = second.client("ec2")
        assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"] == vpc_id
    finally:
        second.stop()
    assert second.ovn.running() == {}



def test_mallee_status_shows_ovn(vcloud):
    out = vcloud.mallee("status", "--output", "json")
    assert out.returncode == 0, out.stderr
    rows = {r["component"]: r for r in json.loads(out.stdout)["components"]}
    for name in ("ovsdb-server-nb", "ovsdb-server-sb", "ovn-northd"):
        assert rows[name]["health"] == "ok" and rows[name]["pid"] in vcloud.ovn.running().values()


def test_the_central_starts_once_and_stops_only_its_own(tmp_path_factory):
    central = OvnCentral.of(settings_mod.load(home=tmp_path_factory.mktemp("c"), env={}))
    central.start()
    try:
        pids = central.running()
        assert len(pids) == 3
        central.start()  # again: the running ones are kept
        assert central.running() == pids
        assert subprocess.run(["ovn-nbctl", f"--db={central.nb.remote}", "--no-wait",
                               "ls-list"], capture_output=True, timeout=30).returncode == 0
    finally:
        central.stop()
    assert central.running() == {} and not [p for p in pids.values() if alive(p)]
    # A pid file that names a process which is not ours (a reused pid) is left alone.
    central.run.mkdir(parents=True, exist_ok=True)
    central.northd_pidfile.write_text(f"{os.getpid()}\n")
    assert central.running() == {}
    central.stop()
    assert alive(os.getpid())


def test_a_killed_nb_database_converges_after_it_is_back(vcloud, vec2):
    """kill -9 of the NB ovsdb-server: the API still answers (the row is committed),
    and once the server is back the reconcile writes what it missed."""
    import signal
    import time
    central = vcloud.ovn
    os.kill(central.running()["ovsdb-server-nb.pid"], signal.SIGKILL)
    assert vcloud.wait_for(lambda: "ovsdb-server-nb.pid" not in central.running(), timeout=5)
    started = time.monotonic()
    vpc_id = vec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    assert time.monotonic() - started < 15
    try:
        central.start()  # what `mallee up` does again: the NB server is back, same file
        assert vcloud.wait_for(lambda: vpc_id in by_mallee_id(
            vcloud, "Logical_Router", "mallee:vpc-id"), timeout=20)
    finally:
        vec2.delete_vpc(VpcId=vpc_id)
    assert vcloud.wait_for(lambda: vpc_id not in by_mallee_id(
        vcloud, "Logical_Router", "mallee:vpc-id"), timeout=20)
