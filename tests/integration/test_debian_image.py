"""A real cloud image: Debian bookworm with cloud-init, built by debootstrap,
registered as `mallee-debian` and booted through the whole cloud. Unmodified
cloud-init finds the metadata (Ec2 datasource), installs the key pair and runs
the user-data script; a user reaches the instance as root through an elastic IP.

Slow under TCG (about 2 minutes to build the first time, a few to boot): the
image is cached in $MALLEE_IMAGE_CACHE (default /var/cache/mallee/images)."""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.guests import assert_no_taps_left, domains, key_pair, real_cloud, ssh

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE_CACHE = Path(os.environ.get("MALLEE_IMAGE_CACHE", "/var/cache/mallee/images"))
BOOT_TIMEOUT = 150
CLOUD_INIT_TIMEOUT = 480  # RunInstances to cloud-init's final message, under TCG
USER_DATA = "#!/bin/sh\necho MALLEE-USERDATA-RAN as $(id -un) > /dev/console\n"
FINISHED = re.compile(r"Cloud-init v\. \S+ finished at .* Datasource DataSourceEc2")
READ_METADATA = ("python3 -c \"import urllib.request as u; print(u.urlopen("
                 "'http://169.254.169.254/latest/meta-data/instance-id').read().decode())\"")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        pytest.skip("building the Debian image needs root and debootstrap")
    c = real_cloud(tmp_path_factory.mktemp("debcloud"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def image(cloud, tmp_path_factory):
    from mallee.images.publish import Signer, publish_debian_image
    started = time.monotonic()
    ids = publish_debian_image(cloud.client("ec2"), cloud.client("s3"),
                               Signer.from_env(cloud.cli_env()),
                               tmp_path_factory.mktemp("img"), cache_dir=IMAGE_CACHE)
    print(f"\nmallee-debian built (or cached) and published in {time.monotonic() - started:.0f} s")
    return ids["image"]


def test_cloud_init_gets_the_key_and_runs_the_user_data(cloud, image, tmp_path):
    ec2 = cloud.client("ec2")
    key = key_pair(ec2, "k1", tmp_path)
    group = ec2.create_security_group(GroupName="ssh", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    launched = time.monotonic()
    # 512 MiB: cloud-init's Python and systemd do not fit the 256 MiB of m1.small
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="c1.medium", KeyName="k1",
                                    SecurityGroupIds=[group],
                                    UserData=USER_DATA)["Instances"][0]["InstanceId"]

    def described():
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def console():
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""

    assert cloud.wait_for(lambda: described()["State"]["Name"] == "running",
                          timeout=BOOT_TIMEOUT)
    address = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(InstanceId=instance_id, AllocationId=address["AllocationId"])
    eip = address["PublicIp"]

    assert cloud.wait_for(lambda: FINISHED.search(console()), timeout=CLOUD_INIT_TIMEOUT,
                          interval=5), console()[-3000:]
    print(f"RunInstances to cloud-init finished: {time.monotonic() - launched:.0f} s")
    assert "MALLEE-USERDATA-RAN as root" in console()

    reply = ssh(cloud, key, eip, f"cloud-init status --long; {READ_METADATA}")
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.startswith("status: done"), reply.stdout  # no module failed
    assert reply.stdout.split()[-1] == instance_id, reply.stdout

    ec2.terminate_instances(InstanceIds=[instance_id])
    assert cloud.wait_for(lambda: described()["State"]["Name"] == "terminated", timeout=60)
    ec2.release_address(AllocationId=address["AllocationId"])
    assert_no_taps_left(cloud)
    assert instance_id not in domains()
