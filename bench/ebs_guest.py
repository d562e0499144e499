"""Inside a real guest: sequential write and read on an EBS volume against the
instance's local (ephemeral) disk on the same node, in one run.

    .venv/bin/python bench/ebs_guest.py [--mib 256]

One TCG guest (m1.small) on the whole test cloud (libvirt, the SC with its own
tgtd, EDGE networking); its user data runs `mallee-volume speed` on its
ephemeral0 disk (a sparse raw file on the node, through virtio) and then on an
attached volume (iSCSI to tgtd on this host, through QEMU's iSCSI client): MIB
MiB of zeros written with fsync, then read back with the guest's cache dropped.
Prints MiB/s and the ratio volume / local disk. Under TCG both paths pay the
same emulated virtio; a KVM host shows the iSCSI path's own cost more plainly.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import Cloud  # noqa: E402

SPEED = re.compile(r"volume (\S+) on (vd[a-z]+): (\d+) MiB at 0 MiB: speed write ([\d.]+) s "
                   r"read ([\d.]+) s")


def console(ec2, instance_id: str) -> str:
    return ec2.get_console_output(InstanceId=instance_id).get("Output", "")


def wait(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    raise TimeoutError(what)


def guest_speeds(cloud: Cloud, work: Path, mib: int) -> dict[str, tuple[float, float]]:
    """{disk: (write MiB/s, read MiB/s)} as the guest measured them."""
    ec2 = cloud.client("ec2")
    image = cloud.publish_test_image(work / "img")["image"]
    volume_id = ec2.create_volume(AvailabilityZone="mallee-1a", Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    script = (f"#!/bin/sh\nmallee-volume speed ephemeral0 {mib}\n"
              f"mallee-volume speed {volume_id} {mib}\n")
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small",
                                    UserData=script)["Instances"][0]["InstanceId"]
    try:
        wait(lambda: "MALLEE-TEST-BOOTED" in console(ec2, instance_id), 180, "boot")
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
        found = wait(lambda: len(SPEED.findall(console(ec2, instance_id))) >= 2 and
                     SPEED.findall(console(ec2, instance_id)), 900, "the guest's speed lines")
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
    speeds = {}
    for disk, _, size, write, read in found:
        speeds["local" if disk == "ephemeral0" else "ebs"] = (int(size) / float(write),
                                                              int(size) / float(read))
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB written and read per disk")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ebs-guest-", dir=ROOT / "bench"))
    env = {"MALLEE_NC_DRIVER": "libvirt", "MALLEE_NC_CORES": "2",
           "MALLEE_NC_MEMORY_MB": "2048", "MALLEE_NC_DISK_GB": "40"}
    cloud = Cloud(work / "home", env=env).start()
    try:
        speeds = guest_speeds(cloud, work, args.mib)
    finally:
        cloud.stop()
        shutil.rmtree(work, ignore_errors=True)
    local, ebs = speeds["local"], speeds["ebs"]
    print(f"{'in the guest, ' + str(args.mib) + ' MiB sequential':38} {'ebs':>8} {'local':>8}  ratio")
    for n, op in enumerate(("write (fsync) MiB/s", "read (cold) MiB/s")):
        print(f"{op:38} {ebs[n]:8.0f} {local[n]:8.0f}  {ebs[n] / local[n]:.2f}x local disk")


if __name__ == "__main__":
    main()
