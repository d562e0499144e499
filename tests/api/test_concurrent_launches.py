"""Concurrent RunInstances against the quota and the capacity (issue 11,
defects 20 and 23): both are decided exactly, whatever the interleaving."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

QUOTA = 1  # instances per account
ROOM = 2  # m1.small (1 core) instances the one node holds


@pytest.fixture(scope="module")
def small(cloud, tmp_path_factory):
    """A cloud whose node has room for exactly two m1.small, one per account."""
    from tests.harness import Cloud
    c = Cloud(tmp_path_factory.mktemp("small"), cloud.components,
              env={"MALLEE_NC_CORES": str(ROOM), "MALLEE_NC_MEMORY_MB": "1024",
                   "MALLEE_CLC_MAX_INSTANCES_PER_ACCOUNT": str(QUOTA)}).start()
    image = c.publish_test_image(tmp_path_factory.mktemp("small-img"))
    yield c, image["image"]
    c.stop()


def _launch(ec2, image):
    try:
        return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 InstanceType="m1.small")["Instances"][0]["InstanceId"]
    except ClientError as err:
        return err.response["Error"]["Code"]


def _state(ec2, instance_id):
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return found[0]["Instances"][0]["State"]["Name"]


def _end(cloud, clients_and_ids):
    for ec2, instance_id in clients_and_ids:
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert cloud.wait_for(lambda: all(_state(ec2, i) == "terminated"
                                      for ec2, i in clients_and_ids), timeout=30)


def test_as_many_concurrent_launches_succeed_as_fit(small):
    """Defect 23: three at once where two fit: two placed, one refused at once."""
    cloud, image = small
    clients = [cloud.client("ec2", cloud.new_account(f"fit{n}")) for n in range(ROOM + 1)]
    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(lambda ec2: _launch(ec2, image), clients))
    made = [(ec2, a) for ec2, a in zip(clients, answers) if a.startswith("i-")]
    refused = [a for a in answers if not a.startswith("i-")]
    try:
        assert len(made) == ROOM and refused == ["InsufficientInstanceCapacity"], answers
        assert cloud.wait_for(lambda: all(_state(ec2, i) == "running" for ec2, i in made),
                              timeout=30), [_state(ec2, i) for ec2, i in made]
    finally:
        _end(cloud, made)


def test_concurrent_launches_keep_the_instance_quota(small):
    """Defect 20: the count and the insert are one unit, so the quota holds."""
    cloud, image = small
    ec2 = cloud.client("ec2", cloud.new_account("quota"), max_pool_connections=4)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _launch(ec2, image), range(4)))
    made = [a for a in answers if a.startswith("i-")]
    try:
        assert len(made) == QUOTA, answers
        assert sorted(a for a in answers if a not in made) == ["InstanceLimitExceeded"] * 3
    finally:
        _end(cloud, [(ec2, i) for i in made])
