"""Kill -9 the SC, then its tgtd, then the NC, while a real guest writes to a volume:
the guest only stalls (QEMU's iSCSI client reconnects; the SC restarts a tgtd that
is gone and re-creates its targets from its database; the NC keeps no record, the
disk lives in the domain), the attachment stays attached through the NC's restart
and can be detached by the new NC, and every write the guest was told is done is
on the volume afterwards, read back by a second guest."""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from ebs.teardown import end_storage
from tests.faults.processes import Component
from tests.integration.guests import real_cloud

pytestmark = [pytest.mark.faults, pytest.mark.integration]

ROUNDS, MIB = 12, 4
LINE = re.compile(r"volume vol-[0-9a-f]+ on vd[a-z]+: 4 MiB at (\d+) MiB: (wrote )?md5 "
                  r"([0-9a-f]{32})")
BOOT_TIMEOUT = 120


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    cloud = real_cloud(tmp_path_factory.mktemp("kill-sc"), components=("walrus", "cc", "clc"),
                       MALLEE_NC_CORES="2")
    sc, nc = Component(cloud, "sc"), Component(cloud, "nc")
    try:
        sc.start()
        nc.start()
        yield cloud, sc, nc
    finally:
        nc.stop()
        sc.stop()
        cloud.stop()
        end_storage(cloud.settings)  # the SC's tgtd outlives the SC by design


def tgtd_pid(control_port: int) -> int:
    """The tgtd our SC started: the one serving this cloud's own control socket."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"tgtd") and str(control_port).encode() in argv:
                return int(entry.name)
    raise AssertionError(f"no tgtd on control port {control_port}")


def console(ec2, instance_id: str) -> str:
    return ec2.get_console_output(InstanceId=instance_id).get("Output", "")


def rounds(text: str, wrote: bool) -> dict[int, str]:
    return {int(m[1]): m[3] for m in LINE.finditer(text) if bool(m[2]) == wrote}


def launch_attached(cloud, ec2, image: str, volume_id: str, user_data: str) -> str:
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="m1.small",
                                    UserData=user_data)["Instances"][0]["InstanceId"]
    assert cloud.wait_for(lambda: "MALLEE-TEST-BOOTED" in console(ec2, instance_id),
                          timeout=BOOT_TIMEOUT, interval=1), console(ec2, instance_id)[-2000:]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return instance_id


def test_guest_writes_survive_kill_9_of_the_sc_of_tgtd_and_of_the_nc(storage,
                                                                   tmp_path_factory):
    cloud, sc, nc = storage
    ec2 = cloud.client("ec2", read_timeout=60)
    image = cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
    volume_id = ec2.create_volume(AvailabilityZone="mallee-1a", Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    steps = " ".join(str(i * MIB) for i in range(ROUNDS))
    writer = launch_attached(cloud, ec2, image, volume_id,
                             f"#!/bin/sh\nfor at in {steps}; do mallee-volume write {volume_id} "
                             f"{MIB} $at; done\necho writer: done\n")
    assert cloud.wait_for(lambda: len(rounds(console(ec2, writer), True)) >= 2, timeout=120,
                          interval=0.5), console(ec2, writer)[-2000:]

    sc.kill()  # the SC, by the pid this test started; tgtd keeps serving meanwhile
    sc.start()
    before = len(rounds(console(ec2, writer), True))
    os.kill(tgtd_pid(cloud.settings.sc.tgt_control_port), signal.SIGKILL)
    killed_at = time.monotonic()
    before_nc = len(rounds(console(ec2, writer), True))
    nc.kill()  # the guest's QEMU is libvirt's child, not the NC's: it goes on writing
    nc.start()
    assert cloud.wait_for(lambda: "writer: done" in console(ec2, writer), timeout=300,
                          interval=1), console(ec2, writer)[-3000:]
    # Polls after the restart still find the disk in the domain: nothing is detached.
    time.sleep(cloud.settings.cc.poll_seconds + cloud.settings.clc.poll_seconds + 1)
    attachment = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Attachments"]
    assert [(a["InstanceId"], a["State"]) for a in attachment] == [(writer, "attached")]
    assert "disk gone" not in console(ec2, writer)
    written = rounds(console(ec2, writer), True)
    assert "write failed" not in console(ec2, writer), console(ec2, writer)[-3000:]
    assert sorted(written) == [i * MIB for i in range(ROUNDS)], written
    print(f"\n{before} rounds done when tgtd was killed, {before_nc} when the NC was; all "
          f"{ROUNDS} acknowledged {time.monotonic() - killed_at:.1f} s after the first")
    assert tgtd_pid(cloud.settings.sc.tgt_control_port)  # the SC started another

    ec2.detach_volume(VolumeId=volume_id)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    reader = launch_attached(cloud, ec2, image, volume_id,
                             f"#!/bin/sh\nfor at in {steps}; do mallee-volume check {volume_id} "
                             f"{MIB} $at; done\n")
    assert cloud.wait_for(lambda: len(rounds(console(ec2, reader), False)) == ROUNDS,
                          timeout=180, interval=1), console(ec2, reader)[-3000:]
    assert rounds(console(ec2, reader), False) == written
    ec2.terminate_instances(InstanceIds=[writer, reader])
    assert cloud.wait_for(lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0][
        "State"] == "available", timeout=90)
    ec2.delete_volume(VolumeId=volume_id)
