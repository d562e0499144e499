"""Ansible's amazon.aws collection, unmodified, against a whole test cloud
(tests/harness.py: every component in this process on free loopback ports,
the fake hypervisor), as a user drives an EC2/S3 target (issue 12).

The playbooks are in ansible_playbooks/. ansible-playbook runs as a
subprocess with the cloud's endpoints and an account's keys, on localhost
with the venv's Python (which has boto3); its `ansible.posix.json` callback
says per host how many tasks changed and failed. amazon.aws comes with the
`ansible` package from PyPI (pyproject's test extra): `ansible-galaxy
collection install` needs galaxy's server, which this project's machines do
not reach.

S3 and EC2, each its own playbook and test: green twice, the second run
changing nothing, then everything is removed and nothing is left.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError


pytestmark = pytest.mark.clients

PLAYBOOKS = Path(__file__).with_name("ansible_playbooks")
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")


@dataclass
class Run:
    changed: int
    failed: int
    failures: list[str]  # "task: module's message" for each failed task
    changes: list[str]  # "task: its diff or result" for each task that changed something
    seconds: float
    output: str


@pytest.fixture(scope="module")
def ansible_cloud(clients_cloud):
    """The client suite's cloud (conftest.py), with ansible-playbook at hand."""
    if not PLAYBOOK_BIN.exists():
        pytest.skip(f"{PLAYBOOK_BIN} is missing: `make venv` installs ansible (pyproject's "
                    "test extra)")
    return clients_cloud


@pytest.fixture(scope="module")
def ansible_user(ansible_cloud):
    """An account of its own, as a new user would have after `mallee admin account-create`."""
    return ansible_cloud.new_account("ansible")


@pytest.fixture(scope="module")
def playbook(ansible_cloud, ansible_user, tmp_path_factory):
    """Run a playbook of ansible_playbooks/ with extra variables; returns a Run."""
    home = tmp_path_factory.mktemp("ansible-home")
    (home / "inventory").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ANSIBLE_", "EC2_", "S3_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ansible_user.access_key_id,
        AWS_SECRET_ACCESS_KEY=ansible_user.secret_access_key,
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_INVENTORY=str(home / "inventory"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOST_KEY_CHECKING="0",
        LC_ALL="C.UTF-8",  # ansible-core refuses to run under a locale that is not UTF-8
        # Only the collections that come with the venv's `ansible`, never ~/.ansible's.
        ANSIBLE_COLLECTIONS_PATH=str(home / "collections"))
    base = {"s3_endpoint": ansible_cloud.s3_url.rstrip("/"),
            "ec2_endpoint": ansible_cloud.ec2_url.rstrip("/"),
            "region": ansible_cloud.settings.cloud.region}

    def run(name: str, **extra) -> Run:
        started = time.monotonic()
        done = subprocess.run(
            [str(PLAYBOOK_BIN), str(PLAYBOOKS / name), "-e", json.dumps({**base, **extra})],
            env=env, capture_output=True, text=True, timeout=600)
        seconds = time.monotonic() - started
        try:
            report = json.loads(done.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook {name} wrote no JSON report "
                                 f"(exit {done.returncode}): {done.stdout[-3000:]}"
                                 f"{done.stderr[-3000:]}")
        stats = report["stats"].get("localhost", {})
        failures, changes = [], []
        for play in report["plays"]:
            for task in play["tasks"]:
                result = task["hosts"].get("localhost", {})
                if result.get("failed") or result.get("unreachable"):
                    failures.append(f"{task['task']['name']}: {result.get('msg', result)}")
                if result.get("changed"):
                    shown = {k: v for k, v in result.items() if k != "invocation"}
                    changes.append(f"{task['task']['name']}: {json.dumps(shown)[:1500]}")
        return Run(stats.get("changed", 0),
                   stats.get("failures", 0) + stats.get("unreachable", 0), failures, changes,
                   seconds, done.stdout)
    return run


def test_s3_playbook_twice_then_nothing_left(ansible_cloud, ansible_user, playbook):
    bucket = "ansible-s3-b1"
    first = playbook("s3.yml", bucket=bucket)
    assert first.failed == 0, first.failures
    assert first.changed >= 2  # the bucket and the object were made
    s3 = ansible_cloud.client("s3", ansible_user)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"env": "test", "owner": "ansible"}
    tags = {t["Key"]: t["Value"]
            for t in s3.get_object_tagging(Bucket=bucket, Key="hello.txt")["TagSet"]}
    assert tags == {"kind": "greeting"}

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    second = playbook("s3.yml", bucket=bucket)
    assert second.failed == 0, second.failures
    assert second.changed == 0, second.changes

    # Old versions and delete markers, which `force: true` must empty too (it lists
    # object versions; a plain listing left them and the removal failed BucketNotEmpty).
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"second version\n")
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    listed = s3.list_object_versions(Bucket=bucket)
    assert len(listed["Versions"]) == 3 and len(listed["DeleteMarkers"]) == 1
    gone = playbook("s3_absent.yml", bucket=bucket)
    assert gone.failed == 0, gone.failures
    assert gone.changed == 1
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    print(f"ansible S3: first run {first.seconds:.1f} s, second {second.seconds:.1f} s, "
          f"removal {gone.seconds:.1f} s")


# What ec2.yml met on this cloud before the EC2 side of issue 12 (amazon.aws 10.1.2,
# botocore 1.44), found by running each task on its own:
# - ec2_vpc_net_info: DescribeVpcAttribute (Attribute=enableDnsSupport) answers 400
#   InvalidAction "The action DescribeVpcAttribute is not valid for this web service."
# - ec2_instance (a new instance with a name or tags): RunInstances with
#   TagSpecification.N.ResourceType=volume answers 400 InvalidParameterValue "'volume' is
#   not a valid taggable resource type for this operation."
# Everything else passed: ec2_vpc_subnet_info, ec2_key, ec2_security_group (ingress and
# egress rules), ec2_instance on an existing instance (wait for running, tags; a second run
# changes nothing), ec2_instance_info, ec2_tag, and removing the instance, group and key.
def test_ec2_playbook_twice_then_nothing_left(ansible_cloud, ansible_user, playbook,
                                              clients_image):
    names = {"prefix": "ansible-ec2", "image_id": clients_image["image"]}
    ec2 = ansible_cloud.client("ec2", ansible_user)
    try:
        first = playbook("ec2.yml", **names)
        assert first.failed == 0, first.failures
        running = ec2.describe_instances(Filters=[
            {"Name": "tag:Name", "Values": ["ansible-ec2-vm"]},
            {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
        assert len(running) == 1
        tags = {t["Key"]: t["Value"] for t in running[0]["Instances"][0]["Tags"]}
        assert tags == {"Name": "ansible-ec2-vm", "role": "ansible-test", "owner": "ansible"}
        second = playbook("ec2.yml", **names)
        assert second.failed == 0, second.failures
        assert second.changed == 0, second.changes
    finally:
        gone = playbook("ec2_absent.yml", **names)
    assert gone.failed == 0, gone.failures
    left = ec2.describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["ansible-ec2-vm"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping",
                                                    "stopped", "shutting-down"]}])
    assert left["Reservations"] == []
    assert [g for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"] == "ansible-ec2-sg"] == []
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name",
                                            "Values": ["ansible-ec2-key"]}])["KeyPairs"] == []
    print(f"ansible EC2: first run {first.seconds:.1f} s, second {second.seconds:.1f} s, "
          f"removal {gone.seconds:.1f} s")
