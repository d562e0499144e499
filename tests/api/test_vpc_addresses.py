"""VPC mode (docs/vpc.md): elastic IPs on instances in own subnets are
`dnat_and_snat` rows on the VPC's router in a real OVN northbound database,
there with AssociateAddress's reply, gone with DisassociateAddress and with
TerminateInstances, written again by the reconcile after a hand-made delete;
EC2's errors; accounts apart. The fake hypervisor runs the guests."""
import pytest
from botocore.exceptions import ClientError

from mallee.ovn_central import missing_binaries
from tests.api.test_vpc_ovn import code
from tests.ovn_nb import nb_rows, nbctl

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"OVN not installed: {missing_binaries()}")


@pytest.fixture(scope="module")
def net(vec2):
    """A VPC with a subnet and an attached internet gateway."""
    vpc_id = vec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = vec2.create_subnet(VpcId=vpc_id, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    igw = vec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    vec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    return vpc_id, subnet, igw


def launch(vec2, vimage, subnet):
    (instance,) = vec2.run_instances(ImageId=vimage, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small", SubnetId=subnet)["Instances"]
    return instance


def nats(vcloud, vpc_id) -> list[tuple[str, str, str]]:
    """The VPC's router's dnat_and_snat rows: (external_ip, logical_ip, owner)."""
    router = nbctl(vcloud, "--bare", "--columns=nat", "find", "Logical_Router",
                   f"name=mallee-{vpc_id}").split()
    return sorted((r["external_ip"], r["logical_ip"], r["external_ids"]["mallee:nat"])
                  for r in nb_rows(vcloud, "NAT")
                  if r["_uuid"] in router and r["type"] == "dnat_and_snat")


def test_elastic_ip_on_a_vpc_instance_is_a_dnat_and_snat_row(vcloud, vec2, vimage, net):
    vpc_id, subnet, _ = net
    instance = launch(vec2, vimage, subnet)
    iid, private = instance["InstanceId"], instance["PrivateIpAddress"]
    eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    alloc = vec2.allocate_address(Domain="vpc")
    ip, alloc_id = alloc["PublicIp"], alloc["AllocationId"]

    assoc = vec2.associate_address(AllocationId=alloc_id, InstanceId=iid)["AssociationId"]
    assert nats(vcloud, vpc_id) == [(ip, private, alloc_id)]  # with the reply
    (row,) = vec2.describe_addresses(AllocationIds=[alloc_id])["Addresses"]
    assert row["AssociationId"] == assoc and row["InstanceId"] == iid
    assert row["NetworkInterfaceId"] == eni and row["PrivateIpAddress"] == private
    assert row["NetworkInterfaceOwnerId"] == vcloud.admin.account_id
    (shown,) = vec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"]
    assert shown["PublicIpAddress"] == ip
    association = shown["NetworkInterfaces"][0]["Association"]
    # botocore's InstanceNetworkInterfaceAssociation has no association id
    assert association["PublicIp"] == ip
    assert association["IpOwnerId"] == vcloud.admin.account_id

    # the reconcile writes back what was removed by hand
    nbctl(vcloud, "lr-nat-del", f"mallee-{vpc_id}", "dnat_and_snat", ip)
    assert nats(vcloud, vpc_id) == []
    vcloud.wait_for(lambda: nats(vcloud, vpc_id) == [(ip, private, alloc_id)], timeout=10)

    # a gateway with a mapped address stays attached
    with pytest.raises(ClientError) as e:
        vec2.detach_internet_gateway(InternetGatewayId=net[2], VpcId=vpc_id)
    assert code(e) == "DependencyViolation"
    assert "has some mapped public address(es)" in e.value.response["Error"]["Message"]

    vec2.disassociate_address(AssociationId=assoc)
    assert nats(vcloud, vpc_id) == []
    (row,) = vec2.describe_addresses(AllocationIds=[alloc_id])["Addresses"]
    assert "AssociationId" not in row and "InstanceId" not in row

    # by its interface and its private address, then again without AllowReassociation
    assoc = vec2.associate_address(AllocationId=alloc_id, NetworkInterfaceId=eni,
                                  PrivateIpAddress=private)["AssociationId"]
    assert nats(vcloud, vpc_id) == [(ip, private, alloc_id)]
    other = launch(vec2, vimage, subnet)
    with pytest.raises(ClientError) as e:
        vec2.associate_address(AllocationId=alloc_id, InstanceId=other["InstanceId"])
    assert code(e) == "Resource.AlreadyAssociated"
    assoc = vec2.associate_address(PublicIp=ip, InstanceId=other["InstanceId"],
                                  AllowReassociation=True)["AssociationId"]
    assert nats(vcloud, vpc_id) == [(ip, other["PrivateIpAddress"], alloc_id)]

    # terminating the instance ends the mapping; the address stays the account's
    vec2.terminate_instances(InstanceIds=[other["InstanceId"], iid])
    assert nats(vcloud, vpc_id) == []
    vcloud.wait_for(lambda: "AssociationId" not in vec2.describe_addresses(
        AllocationIds=[alloc_id])["Addresses"][0], timeout=30)
    vec2.release_address(AllocationId=alloc_id)


def test_association_errors(vcloud, vec2, vimage, net):
    vpc_id, subnet, _ = net
    instance = launch(vec2, vimage, subnet)
    iid = instance["InstanceId"]
    alloc_id = vec2.allocate_address(Domain="vpc")["AllocationId"]
    standard = vec2.allocate_address(Domain="standard")["PublicIp"]
    bare_vpc = vec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]["VpcId"]
    bare_subnet = vec2.create_subnet(VpcId=bare_vpc, CidrBlock="10.51.1.0/24"
                                    )["Subnet"]["SubnetId"]
    unreachable = launch(vec2, vimage, bare_subnet)
    try:
        for kwargs, expected in (
                ({"AllocationId": alloc_id, "InstanceId": unreachable["InstanceId"]},
                 "Gateway.NotAttached"),
                ({"AllocationId": alloc_id, "InstanceId": iid,
                  "PrivateIpAddress": "10.50.1.200"}, "InvalidParameterValue"),
                ({"PublicIp": standard, "InstanceId": iid}, "InvalidParameterCombination"),
                ({"AllocationId": "eipalloc-0123456789abcdef0", "InstanceId": iid},
                 "InvalidAllocationID.NotFound"),
                ({"AllocationId": alloc_id, "InstanceId": "i-0123456789abcdef0"},
                 "InvalidInstanceID.NotFound"),
                ({"AllocationId": alloc_id, "NetworkInterfaceId": "eni-0123456789abcdef0"},
                 "InvalidNetworkInterfaceID.NotFound"),
        ):
            with pytest.raises(ClientError) as e:
                vec2.associate_address(**kwargs)
            assert code(e) == expected, kwargs
        with pytest.raises(ClientError) as e:
            vec2.associate_address(AllocationId=alloc_id, InstanceId=unreachable["InstanceId"])
        assert e.value.response["Error"]["Message"] == \
            f"Network {bare_vpc} is not attached to any internet gateway"
        with pytest.raises(ClientError) as e:
            vec2.disassociate_address(AssociationId="eipassoc-0123456789abcdef0")
        assert code(e) == "InvalidAssociationID.NotFound"
        assert nats(vcloud, vpc_id) == [] and nats(vcloud, bare_vpc) == []
    finally:
        vec2.terminate_instances(InstanceIds=[iid, unreachable["InstanceId"]])
        vec2.release_address(AllocationId=alloc_id)
        vec2.release_address(PublicIp=standard)


def test_accounts_are_apart(vcloud, vec2, vimage, net):
    vpc_id, subnet, _ = net
    instance = launch(vec2, vimage, subnet)
    eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    alloc_id = vec2.allocate_address(Domain="vpc")["AllocationId"]
    mallory = vcloud.client("ec2", vcloud.new_account("mallory-eip"))
    theirs = mallory.allocate_address(Domain="vpc")["AllocationId"]
    assoc = vec2.associate_address(AllocationId=alloc_id, InstanceId=instance["InstanceId"]
                                  )["AssociationId"]
    try:
        for call, expected in (
                (lambda: mallory.associate_address(AllocationId=theirs,
                                                   InstanceId=instance["InstanceId"]),
                 "InvalidInstanceID.NotFound"),
                (lambda: mallory.associate_address(AllocationId=theirs,
                                                   NetworkInterfaceId=eni),
                 "InvalidNetworkInterfaceID.NotFound"),
                (lambda: mallory.associate_address(AllocationId=alloc_id,
                                                   InstanceId=instance["InstanceId"]),
                 "InvalidAllocationID.NotFound"),
                (lambda: mallory.disassociate_address(AssociationId=assoc),
                 "InvalidAssociationID.NotFound"),
                (lambda: mallory.describe_addresses(AllocationIds=[alloc_id]),
                 "InvalidAllocationID.NotFound"),
        ):
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) == expected
        assert [n[2] for n in nats(vcloud, vpc_id)] == [alloc_id]
    finally:
        vec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
        mallory.release_address(AllocationId=theirs)
    vcloud.wait_for(lambda: "AssociationId" not in vec2.describe_addresses(
        AllocationIds=[alloc_id])["Addresses"][0], timeout=30)
    vec2.release_address(AllocationId=alloc_id)


def test_elastic_ips_on_several_interfaces_and_addresses(vcloud, vec2, vimage, net):
    """One elastic IP per (interface, private address): the primary's primary address,
    a second interface's secondary address; each its own dnat_and_snat row, shown on
    that address in DescribeNetworkInterfaces; only the primary's is the instance's
    PublicIpAddress."""
    vpc_id, subnet, _ = net
    (instance,) = vec2.run_instances(
        ImageId=vimage, MinCount=1, MaxCount=1, InstanceType="m1.small", NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": subnet},
            {"DeviceIndex": 1, "SubnetId": subnet, "SecondaryPrivateIpAddressCount": 1}]
    )["Instances"]
    iid = instance["InstanceId"]
    primary, second = instance["NetworkInterfaces"]
    first_ip = primary["PrivateIpAddress"]
    extra_ip = [a["PrivateIpAddress"] for a in second["PrivateIpAddresses"]
                if not a["Primary"]][0]
    a, b = (vec2.allocate_address(Domain="vpc") for _ in range(2))
    vec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)
    assoc_b = vec2.associate_address(AllocationId=b["AllocationId"],
                                     NetworkInterfaceId=second["NetworkInterfaceId"],
                                     PrivateIpAddress=extra_ip)["AssociationId"]
    assert nats(vcloud, vpc_id) == sorted([(a["PublicIp"], first_ip, a["AllocationId"]),
                                           (b["PublicIp"], extra_ip, b["AllocationId"])])
    (row,) = vec2.describe_addresses(AllocationIds=[b["AllocationId"]])["Addresses"]
    assert (row["InstanceId"], row["NetworkInterfaceId"], row["PrivateIpAddress"]) == \
        (iid, second["NetworkInterfaceId"], extra_ip)
    shown = vec2.describe_network_interfaces(
        NetworkInterfaceIds=[second["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    by_ip = {p["PrivateIpAddress"]: p.get("Association") for p in shown["PrivateIpAddresses"]}
    assert by_ip[extra_ip]["PublicIp"] == b["PublicIp"]
    assert by_ip[second["PrivateIpAddress"]] is None and "Association" not in shown
    (described,) = vec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"]
    assert described["PublicIpAddress"] == a["PublicIp"]
    assert described["NetworkInterfaces"][1]["PrivateIpAddresses"][1]["Association"][
        "PublicIp"] == b["PublicIp"]

    # an address the interface does not hold
    with pytest.raises(ClientError) as e:
        vec2.associate_address(AllocationId=b["AllocationId"],
                               NetworkInterfaceId=second["NetworkInterfaceId"],
                               PrivateIpAddress=first_ip, AllowReassociation=True)
    assert code(e) == "InvalidParameterValue"

    # b moves onto the primary's address: a loses it there, as EC2 replaces a mapping
    vec2.associate_address(AllocationId=b["AllocationId"], InstanceId=iid,
                           AllowReassociation=True)
    assert nats(vcloud, vpc_id) == [(b["PublicIp"], first_ip, b["AllocationId"])]
    (described,) = vec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"]
    assert described["PublicIpAddress"] == b["PublicIp"]
    assert "AssociationId" not in vec2.describe_addresses(
        AllocationIds=[a["AllocationId"]])["Addresses"][0]
    # the secondary address gets a again; disassociating it leaves the primary's
    assoc_a = vec2.associate_address(AllocationId=a["AllocationId"],
                                     NetworkInterfaceId=second["NetworkInterfaceId"],
                                     PrivateIpAddress=extra_ip)["AssociationId"]
    vec2.disassociate_address(AssociationId=assoc_a)
    assert nats(vcloud, vpc_id) == [(b["PublicIp"], first_ip, b["AllocationId"])]
    (described,) = vec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"]
    assert described["PublicIpAddress"] == b["PublicIp"]
    assert assoc_b != assoc_a
    vec2.terminate_instances(InstanceIds=[iid])
    assert nats(vcloud, vpc_id) == []
    vcloud.wait_for(lambda: all("AssociationId" not in r for r in vec2.describe_addresses(
        AllocationIds=[a["AllocationId"], b["AllocationId"]])["Addresses"]), timeout=30)
    for alloc in (a, b):
        vec2.release_address(AllocationId=alloc["AllocationId"])
