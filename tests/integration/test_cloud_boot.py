"""The whole Eucalyptus path with a real guest: awscli -> CLC -> CC -> NC ->
libvirt/QEMU (TCG here), from a bundle in Walrus to MALLEE-TEST-BOOTED on the
serial console, then reboot, terminate, and a clean node."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.guests import domains, real_cloud

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 90


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = real_cloud(tmp_path_factory.mktemp("realcloud"), MALLEE_NC_CORES="2")
    yield c
    c.stop()


def aws(cloud, *args):
    proc = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"],
                          env=cloud.cli_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def mallee(cloud, *args):
    proc = subprocess.run([sys.executable, "-m", "mallee_cli", *args], env=cloud.cli_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def instance(cloud, instance_id):
    return aws(cloud, "ec2", "describe-instances", "--instance-ids",
               instance_id)["Reservations"][0]["Instances"][0]


def console(cloud, instance_id) -> str:
    return aws(cloud, "ec2", "get-console-output", "--instance-id", instance_id).get("Output", "")


def boot_and_end(cloud, image_id: str, key_name: str | None = None) -> str:
    args = ["ec2", "run-instances", "--image-id", image_id, "--instance-type", "m1.small",
            "--user-data", "hello"]
    if key_name:
        args += ["--key-name", key_name]
    instance_id = aws(cloud, *args)["Instances"][0]["InstanceId"]
    assert cloud.wait_for(lambda: instance(cloud, instance_id)["State"]["Name"] == "running",
                          timeout=BOOT_TIMEOUT), instance(cloud, instance_id)
    assert instance_id in domains()
    assert cloud.wait_for(lambda: "MALLEE-TEST-BOOTED" in console(cloud, instance_id),
                          timeout=BOOT_TIMEOUT, interval=1), console(cloud, instance_id)[-2000:]
    aws(cloud, "ec2", "reboot-instances", "--instance-ids", instance_id)
    assert cloud.wait_for(lambda: console(cloud, instance_id).count("MALLEE-TEST-BOOTED") >= 2,
                          timeout=BOOT_TIMEOUT, interval=1), console(cloud, instance_id)[-2000:]
    aws(cloud, "ec2", "terminate-instances", "--instance-ids", instance_id)
    assert cloud.wait_for(lambda: instance(cloud, instance_id)["State"]["Name"] == "terminated",
                          timeout=60)
    assert instance_id not in domains()
    assert not (cloud.nc_state / "instances" / instance_id).exists()
    return instance_id


def test_test_image_boots_through_the_whole_path(cloud, published):
    aws(cloud, "ec2", "create-key-pair", "--key-name", "k1")
    boot_and_end(cloud, published["image"], key_name="k1")


def test_a_bundle_made_with_mallee_image_boots_the_same_way(cloud, published, tmp_path_factory):
    work = tmp_path_factory.mktemp("bundle")
    root = cloud.home / "images" / "test-copy.img"
    root.parent.mkdir(parents=True, exist_ok=True)
    from mallee.images.testimage import build_test_image
    root.write_bytes(build_test_image(work / "build").rootfs.read_bytes())
    mallee(cloud, "image", "bundle", "-i", str(root), "-d", str(work / "out"),
           "--kernel", published["kernel"], "--ramdisk", published["ramdisk"])
    mallee(cloud, "image", "upload", "-b", "my-bundles", "-m",
           str(work / "out" / "test-copy.img.manifest.xml"))
    out = mallee(cloud, "image", "register", "my-bundles/test-copy.img.manifest.xml",
                 "-n", "my-copy")
    image_id = out.split()[1]
    assert image_id.startswith("ami-")
    described = aws(cloud, "ec2", "describe-images", "--image-ids", image_id)["Images"][0]
    assert described["KernelId"] == published["kernel"]
    boot_and_end(cloud, image_id)


def test_a_guest_that_powers_itself_off_ends_terminated(cloud, published):
    """User data powers the guest off: libvirt shows the domain shut off, the NC
    reports it, the CC's poll carries it up and the CLC ends the instance with EC2's
    reason (its termination protection does not count, as in EC2); nothing of it is
    left on the node."""
    script = "#!/bin/sh\necho MALLEE-GUEST-POWEROFF\nsleep 1\npoweroff -f\n"
    instance_id = aws(cloud, "ec2", "run-instances", "--image-id", published["image"],
                      "--instance-type", "m1.small", "--user-data", script,
                      "--disable-api-termination")["Instances"][0]["InstanceId"]
    assert cloud.wait_for(lambda: instance(cloud, instance_id)["State"]["Name"] == "terminated",
                          timeout=BOOT_TIMEOUT + 60, interval=1), instance(cloud, instance_id)
    ended = instance(cloud, instance_id)
    assert ended["StateReason"] == {
        "Code": "Client.InstanceInitiatedShutdown",
        "Message": "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
    assert instance_id not in domains()
    assert not (cloud.nc_state / "instances" / instance_id).exists()


@pytest.fixture(scope="module")
def published(cloud, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))
