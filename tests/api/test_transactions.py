"""Each request is its own unit of work (issue 11, defect 2): one account's
failing write must not undo, nor commit, anything of another's."""
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

LIMIT = 50  # tags per resource (services/tags.py MAX_TAGS, as in EC2)


def _tags_of(ec2, resource_id):
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}],
                             MaxResults=1000)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_a_rolled_back_request_keeps_everyone_elses_acknowledged_writes(cloud):
    a = cloud.client("ec2", cloud.new_account("txn-tags-a"), max_pool_connections=16)
    b = cloud.client("ec2", cloud.new_account("txn-tags-b"), max_pool_connections=16)
    a_keys = [a.create_key_pair(KeyName=f"a{i}")["KeyPairId"] for i in range(4)]
    b_key = b.create_key_pair(KeyName="b")["KeyPairId"]
    b.create_tags(Resources=[b_key], Tags=[{"Key": f"base{i}", "Value": "v"}
                                           for i in range(LIMIT - 5)])

    def a_writes(n):  # 200 single-tag writes, all within the limit
        kp = a_keys[n % len(a_keys)]
        a.create_tags(Resources=[kp], Tags=[{"Key": f"t{n}", "Value": str(n)}])
        return kp, f"t{n}", str(n)

    def b_writes(n):  # each adds 3 new tags: only the first one or two fit
        tags = [{"Key": f"b{n}-{j}", "Value": "v"} for j in range(3)]
        try:
            b.create_tags(Resources=[b_key], Tags=tags)
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ResourceLimitExceeded"
            return None
        return [t["Key"] for t in tags]

    with ThreadPoolExecutor(16) as pool:
        b_done = [pool.submit(b_writes, n) for n in range(40)]
        a_done = list(pool.map(a_writes, range(200)))
        b_acked = [f.result() for f in b_done]

    for kp in a_keys:
        stored = _tags_of(a, kp)
        wanted = {key: value for k, key, value in a_done if k == kp}
        assert stored == wanted, f"{kp}: {len(wanted) - len(stored.keys() & wanted.keys())} " \
                                 f"acknowledged tag(s) lost"
    stored = _tags_of(b, b_key)
    assert len(stored) <= LIMIT
    for keys in filter(None, b_acked):
        assert set(keys) <= stored.keys()
    assert len(stored) == LIMIT - 5 + 3 * sum(1 for k in b_acked if k)


def _public_ip(ec2, instance_id):
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return found.get("PublicIpAddress")


def test_associate_racing_release_never_leaves_an_instance_on_a_released_address(
        cloud, published):
    """Defect 6: associate and release each decide on what they read in their own unit."""
    ec2 = cloud.client("ec2", cloud.new_account("txn-eip"), max_pool_connections=4)
    instance_id = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                                    InstanceType="m1.small")["Instances"][0]["InstanceId"]
    try:
        for _ in range(12):
            address = ec2.allocate_address(Domain="vpc")

            def associate():
                try:
                    ec2.associate_address(AllocationId=address["AllocationId"],
                                          InstanceId=instance_id)
                    return True
                except ClientError as err:
                    assert err.response["Error"]["Code"] == "InvalidAllocationID.NotFound"
                    return False

            def release():
                try:
                    ec2.release_address(AllocationId=address["AllocationId"])
                    return True
                except ClientError as err:
                    assert err.response["Error"]["Code"] == "InvalidIPAddress.InUse"
                    return False

            with ThreadPoolExecutor(2) as pool:
                associated, released = (f.result() for f in
                                        [pool.submit(associate), pool.submit(release)])
            assert associated != released  # exactly one of them won
            ip = _public_ip(ec2, instance_id)
            if released:
                assert ip != address["PublicIp"], "the instance kept a released address"
            else:
                assert ip == address["PublicIp"]
                ec2.disassociate_address(AssociationId=ec2.describe_addresses(
                    AllocationIds=[address["AllocationId"]])["Addresses"][0]["AssociationId"])
                ec2.release_address(AllocationId=address["AllocationId"])
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
