"""Elastic IPs, private addresses and the network view the cluster receives."""

import pytest
from botocore.exceptions import ClientError

from tests.api.network_view import cc_network, view_instance


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def instance(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def running(cloud, ec2, ids, timeout=30):
    def check():
        found = [instance(ec2, i) for i in ids]
        ok = all(f["State"]["Name"] == "running" and f.get("PrivateIpAddress") for f in found)
        return ok and found
    return cloud.wait_for(check, timeout=timeout)


def terminate(cloud, ec2, ids):
    ec2.terminate_instances(InstanceIds=ids)
    assert cloud.wait_for(lambda: all(instance(ec2, i)["State"]["Name"] == "terminated"
                                      for i in ids), timeout=30)


@pytest.fixture(scope="module")
def roomy(cloud, tmp_path_factory):
    """A cloud whose node has room for 10 instances at once, with its image."""
    from tests.harness import Cloud
    c = Cloud(tmp_path_factory.mktemp("roomy"), cloud.components,
              env={"MALLEE_NC_CORES": "16", "MALLEE_NC_MEMORY_MB": "16384"}).start()
    ec2 = c.client("ec2")
    image = c.publish_test_image(tmp_path_factory.mktemp("roomy-img"))
    yield c, ec2, image
    c.stop()


def test_ten_instances_get_distinct_private_addresses(roomy):
    cloud, ec2, published = roomy
    made = ec2.run_instances(ImageId=published["image"], MinCount=10, MaxCount=10,
                             InstanceType="t1.micro")
    ids = [i["InstanceId"] for i in made["Instances"]]
    found = running(cloud, ec2, ids)
    assert found, [instance(ec2, i) for i in ids]
    ips = [f["PrivateIpAddress"] for f in found]
    assert len(set(ips)) == 10
    region = cloud.settings.cloud.region
    for f in found:
        assert f["PrivateIpAddress"].startswith("10.64.")
        assert f["PrivateDnsName"] == \
            f"ip-{f['PrivateIpAddress'].replace('.', '-')}.{region}.compute.internal"
        assert f["NetworkInterfaces"][0]["PrivateIpAddress"] == f["PrivateIpAddress"]
        assert f["VpcId"].startswith("vpc-") and f["SubnetId"].startswith("subnet-")
    # The view the CC holds (and sends to its nodes) names every one of them.
    assert cloud.wait_for(lambda: all(view_instance(cloud, i) for i in ids), timeout=10)
    network = cc_network(cloud)
    by_id = {i["instance_id"]: i for i in network["view"]["instances"]}
    for f in found:
        seen = by_id[f["InstanceId"]]
        assert seen["private_ip"] == f["PrivateIpAddress"]
        assert seen["mac"] and seen["groups"] == [g["GroupId"] for g in f["SecurityGroups"]]
    assert network["view"]["subnet"] == cloud.settings.network.private_subnet
    assert network["view"]["gateway"] == "10.64.0.1"
    assert network["nodes"] and network["version"] == network["view"]["version"]
    assert len(network["view"]["epoch"]) == 16  # this cloud's, the same for every version

    def nodes_applied():  # every node reports the CC's version, without an error
        network = cc_network(cloud)
        return all(n["version"] == network["version"] and not n["error"]
                   for n in network["nodes"])
    assert cloud.wait_for(nodes_applied, timeout=10), cc_network(cloud)["nodes"]
    terminate(cloud, ec2, ids)
    assert cloud.wait_for(lambda: not any(view_instance(cloud, i) for i in ids), timeout=10)


def test_rules_reach_the_cluster_with_a_new_version(cloud, ec2, published):
    gid = ec2.create_security_group(GroupName="view-grp", Description="x")["GroupId"]
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                                    SecurityGroupIds=[gid])["Instances"][0]["InstanceId"]
    assert running(cloud, ec2, [instance_id])
    assert cloud.wait_for(lambda: view_instance(cloud, instance_id), timeout=10)
    before = cc_network(cloud)["version"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    def rule_arrived():
        network = cc_network(cloud)
        group = next((g for g in network["view"]["groups"] if g["group_id"] == gid), None)
        return network["version"] > before and group and group["ingress"] and network
    network = cloud.wait_for(rule_arrived, timeout=2, interval=0.05)  # "within a second"
    assert network, cc_network(cloud)
    group = next(g for g in network["view"]["groups"] if g["group_id"] == gid)
    assert group["ingress"] == [{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                 "cidrs": ["0.0.0.0/0"], "source_groups": []}]
    assert group["egress"] == [{"protocol": "-1", "from_port": -1, "to_port": -1,
                                "cidrs": ["0.0.0.0/0"], "source_groups": []}]
    default = next(g for g in ec2.describe_security_groups(GroupNames=["default"])[
        "SecurityGroups"])
    shown = next(g for g in network["view"]["groups"] if g["group_id"] == default["GroupId"])
    assert shown["ingress"][0]["source_groups"] == [default["GroupId"]]
    terminate(cloud, ec2, [instance_id])
    ec2.delete_security_group(GroupId=gid)


def test_allocate_associate_move_disassociate_release(cloud, ec2, published):
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=published["image"], MinCount=2, MaxCount=2)["Instances"]]
    assert running(cloud, ec2, ids)
    first, second = ids
    made = ec2.allocate_address(Domain="vpc")
    ip, alloc = made["PublicIp"], made["AllocationId"]
    assert alloc.startswith("eipalloc-") and ip.startswith("198.51.100.")
    assoc = ec2.associate_address(AllocationId=alloc, InstanceId=first)["AssociationId"]
    assert assoc.startswith("eipassoc-")
    shown = instance(ec2, first)
    assert shown["PublicIpAddress"] == ip
    assert shown["PublicDnsName"] == f"ec2-{ip.replace('.', '-')}." \
        f"{cloud.settings.cloud.region}.compute.external"
    (address,) = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"]
    assert address["InstanceId"] == first and address["AssociationId"] == assoc
    assert address["PrivateIpAddress"] == shown["PrivateIpAddress"]
    assert cloud.wait_for(lambda: (view_instance(cloud, first) or {}).get("public_ip") == ip,
                          timeout=2, interval=0.05)
    # Moving it needs AllowReassociation in a VPC, as in EC2.
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=alloc, InstanceId=second)
    assert code(e) == "Resource.AlreadyAssociated"
    eni = instance(ec2, second)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    moved = ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni,
                                  AllowReassociation=True)["AssociationId"]
    assert "PublicIpAddress" not in instance(ec2, first)
    assert instance(ec2, second)["PublicIpAddress"] == ip
    assert ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [second]}])[
        "Addresses"][0]["AssociationId"] == moved
    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId=alloc)
    assert code(e) == "InvalidIPAddress.InUse"
    with pytest.raises(ClientError) as e:
        ec2.disassociate_address(AssociationId=assoc)  # the old association is gone
    assert code(e) == "InvalidAssociationID.NotFound"
    ec2.disassociate_address(AssociationId=moved)
    assert "PublicIpAddress" not in instance(ec2, second)
    assert cloud.wait_for(lambda: (view_instance(cloud, second) or {}).get("public_ip") is None,
                          timeout=2, interval=0.05)
    ec2.release_address(AllocationId=alloc)
    with pytest.raises(ClientError) as e:
        ec2.describe_addresses(AllocationIds=[alloc])
    assert code(e) == "InvalidAllocationID.NotFound"
    terminate(cloud, ec2, ids)


def test_terminate_gives_the_address_back(cloud, ec2, published):
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]
    assert running(cloud, ec2, [instance_id])
    alloc = ec2.allocate_address()["AllocationId"]
    ec2.associate_address(AllocationId=alloc, InstanceId=instance_id)
    terminate(cloud, ec2, [instance_id])
    assert cloud.wait_for(lambda: "InstanceId" not in ec2.describe_addresses(
        AllocationIds=[alloc])["Addresses"][0], timeout=10)
    ec2.release_address(AllocationId=alloc)


def test_public_address_at_launch(cloud, ec2, published):
    made = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                             NetworkInterfaces=[{"DeviceIndex": 0,
                                                 "AssociatePublicIpAddress": True}])
    instance_id = made["Instances"][0]["InstanceId"]
    public = made["Instances"][0]["PublicIpAddress"]
    assert public.startswith("198.51.100.")
    assert public not in [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]]
    assert running(cloud, ec2, [instance_id])
    # An elastic IP takes its place; the launch address goes back to the pool.
    alloc = ec2.allocate_address()
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=instance_id)
    assert instance(ec2, instance_id)["PublicIpAddress"] == alloc["PublicIp"]
    ec2.disassociate_address(PublicIp=alloc["PublicIp"])
    ec2.release_address(PublicIp=alloc["PublicIp"])
    terminate(cloud, ec2, [instance_id])


def test_quota_and_bad_input(cloud, ec2, alice_ec2):
    limit = cloud.settings.network.max_addresses_per_account
    made = [alice_ec2.allocate_address()["AllocationId"] for _ in range(limit)]
    with pytest.raises(ClientError) as e:
        alice_ec2.allocate_address()
    assert code(e) == "AddressLimitExceeded"
    # Another account's addresses are not found.
    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId=made[0])
    assert code(e) == "InvalidAllocationID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_addresses(AllocationIds=[made[0]])
    assert code(e) == "InvalidAllocationID.NotFound"
    for call, expected in [
        (lambda: ec2.associate_address(AllocationId="eipalloc-0123456789abcdef0",
                                       InstanceId="i-0123456789abcdef0"),
         "InvalidAllocationID.NotFound"),
        (lambda: ec2.disassociate_address(AssociationId="eipassoc-0123456789abcdef0"),
         "InvalidAssociationID.NotFound"),
        (lambda: ec2.release_address(PublicIp="203.0.113.99"), "InvalidAddress.NotFound"),
        (lambda: ec2.allocate_address(Domain="moon"), "InvalidParameterValue"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == expected
    mine = ec2.allocate_address()["AllocationId"]
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=mine, InstanceId="i-0123456789abcdef0")
    assert code(e) == "InvalidInstanceID.NotFound"
    ec2.release_address(AllocationId=mine)
    for allocation_id in made:
        alice_ec2.release_address(AllocationId=allocation_id)
    assert alice_ec2.describe_addresses()["Addresses"] == []


def test_awscli_elastic_ip(cloud, ec2, published):
    def aws(*args):
        return cloud.aws("ec2", *args)
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]
    assert running(cloud, ec2, [instance_id])
    alloc = aws("allocate-address", "--domain", "vpc")
    aws("associate-address", "--allocation-id", alloc["AllocationId"],
        "--instance-id", instance_id)
    listed = aws("describe-addresses", "--filters",
                 f"Name=public-ip,Values={alloc['PublicIp']}")["Addresses"]
    assert listed[0]["InstanceId"] == instance_id
    aws("disassociate-address", "--public-ip", alloc["PublicIp"])
    aws("release-address", "--allocation-id", alloc["AllocationId"])
    terminate(cloud, ec2, [instance_id])
