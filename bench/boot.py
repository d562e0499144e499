"""Boot-path benchmark: Mallee against raw libvirt, in one run.

  python bench/boot.py [--fake-only] [--instances 1000]

Measures
  1. RunInstances reply latency (boto3, cached image)            target < 50 ms
  2. RunInstances -> `running`, and -> MALLEE-TEST-BOOTED on the console,
     for a cached image, beside the same guest defined and started directly
     through libvirt (same kernel, initrd, qcow2 overlay, disks)  target +0.5 s
  3. 10 instances at once: RunInstances -> all running, all booted
  4. FakeDriver: DescribeInstances over N instances: calls/s for the whole
     set and for 50-instance pages, with and without a long terminated history.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harness import Cloud  # noqa: E402

from mallee.images.publish import Signer, publish_test_image  # noqa: E402

MARKER = "MALLEE-TEST-BOOTED"


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def until(predicate, timeout=120.0, interval=0.05):
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():
            return time.perf_counter() - started
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def states(ec2, ids):
    return {i["InstanceId"]: i["State"]["Name"] for r in
            ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]}


def console_file_times(path: Path, started: float, timeout: float = 120.0) -> tuple[float, float]:
    """(first byte, MALLEE-TEST-BOOTED) on a console file, seconds after `started`;
    the same clock for Mallee's guest and the raw libvirt one."""
    first = None
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if text and first is None:
            first = time.perf_counter() - started
        if MARKER in text:
            return first, time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(f"no {MARKER} on {path}")


def console_has_marker(ec2, instance_id):
    return MARKER in (ec2.get_console_output(InstanceId=instance_id).get("Output") or "")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def real_cloud_bench(rows: list):
    tmp = Path(tempfile.mkdtemp(prefix="mallee-bench-"))
    cloud = Cloud(tmp, env={"MALLEE_NC_DRIVER": "libvirt", "MALLEE_NC_CORES": "12",
                            "MALLEE_NC_MEMORY_MB": "6144", "MALLEE_NC_DISK_GB": "100"}).start()
    try:
        ec2 = cloud.client("ec2")
        ids = publish_test_image(ec2, cloud.client("s3"), Signer.from_env(cloud.cli_env()),
                                 tmp / "img")
        # Warm up: the KVM probe and the image cache (the bench measures a cached image).
        first = ec2.run_instances(ImageId=ids["image"], MinCount=1, MaxCount=1)
        warm_id = first["Instances"][0]["InstanceId"]
        until(lambda: states(ec2, [warm_id])[warm_id] == "running", timeout=180)
        ec2.terminate_instances(InstanceIds=[warm_id])
        until(lambda: states(ec2, [warm_id])[warm_id] == "terminated")

        replies, to_running, to_first, to_booted = [], [], [], []
        for _ in range(3):
            reply, made = timed(lambda: ec2.run_instances(ImageId=ids["image"], MinCount=1,
                                                          MaxCount=1, InstanceType="m1.small"))
            started = time.perf_counter() - reply
            instance_id = made["Instances"][0]["InstanceId"]
            replies.append(reply)
            until(lambda: states(ec2, [instance_id])[instance_id] == "running")
            to_running.append(time.perf_counter() - started)
            first, booted = console_file_times(
                cloud.nc_state / "instances" / instance_id / "console.log", started)
            to_first.append(first)
            to_booted.append(booted)
            assert console_has_marker(ec2, instance_id)  # and GetConsoleOutput shows it
            ec2.terminate_instances(InstanceIds=[instance_id])
            until(lambda: states(ec2, [instance_id])[instance_id] == "terminated")
        for _ in range(7):  # reply latency alone, more samples
            reply, made = timed(lambda: ec2.run_instances(ImageId=ids["image"], MinCount=1,
                                                          MaxCount=1, InstanceType="t1.micro"))
            replies.append(reply)
            ec2.terminate_instances(InstanceIds=[made["Instances"][0]["InstanceId"]])
        time.sleep(3)

        raw = raw_libvirt_boot(cloud, ids["image"])
        rows.append(("RunInstances reply (ms), median / p95",
                     f"{statistics.median(replies) * 1000:.1f} / {pct(replies, .95) * 1000:.1f}",
                     "", "target < 50 ms"))
        rows.append(("RunInstances -> running (s), median", f"{statistics.median(to_running):.2f}",
                     f"{raw['running']:.2f}", "raw: define+start returned"))
        delta = statistics.median(to_first) - raw["first"]
        rows.append(("RunInstances -> guest's first console byte (s)",
                     f"{statistics.median(to_first):.2f}", f"{raw['first']:.2f}",
                     f"{delta:+.2f} s: the cloud's own cost (target +0.5 s)"))
        delta = statistics.median(to_booted) - raw["booted"]
        rows.append(("RunInstances -> MALLEE-TEST-BOOTED (s)", f"{statistics.median(to_booted):.2f}",
                     f"{raw['booted']:.2f}", f"{delta:+.2f} s; Mallee's guest also does "
                                             "DHCP + IMDS first, raw has no NIC"))

        many_started = time.perf_counter()
        made = ec2.run_instances(ImageId=ids["image"], MinCount=10, MaxCount=10,
                                 InstanceType="t1.micro")
        many = [i["InstanceId"] for i in made["Instances"]]
        until(lambda: set(states(ec2, many).values()) == {"running"}, timeout=300, interval=0.2)
        all_running = time.perf_counter() - many_started
        until(lambda: all(console_has_marker(ec2, i) for i in many), timeout=600, interval=0.5)
        all_booted = time.perf_counter() - many_started
        ec2.terminate_instances(InstanceIds=many)
        until(lambda: set(states(ec2, many).values()) == {"terminated"}, timeout=120)
        rows.append(("10 at once -> all running / all booted (s)",
                     f"{all_running:.2f} / {all_booted:.2f}", "", "TCG, 2 host cores"))
    finally:
        cloud.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def raw_libvirt_boot(cloud, image_id: str) -> dict:
    """The same guest the NC would make, defined and started straight through libvirt."""
    from node_controller.hypervisor import DirectKernelBoot, DomainSpec, FileDisk
    from node_controller.hypervisor.guest_files import make_guest_dir
    from node_controller.hypervisor.libvirt_driver import LibvirtDriver
    from node_controller.imagecache import make_overlay, make_sparse
    from node_controller.instances import KERNEL_CMDLINE
    ec2 = cloud.client("ec2")
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    images = cloud.nc_state / "cache" / "images"
    base = images / image_id / "base.qcow2"
    kernel = images / image["KernelId"] / "kernel"
    ramdisk = images / image["RamdiskId"] / "ramdisk"
    work = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-raw-")))
    driver = LibvirtDriver("qemu:///system")
    name = "mallee-bench-raw"
    try:
        driver.domain_type  # the probe, outside the timing (the NC did it at start)
        started = time.perf_counter()
        root = asyncio.run(make_overlay(base, work / "root.qcow2"))
        disks = (FileDisk(root, "vda", "qcow2", serial="root"),
                 FileDisk(make_sparse(work / "swap.raw", 0.5), "vdc", "raw", serial="swap"))
        console = work / "console.log"
        console.touch()
        driver.define(DomainSpec(name=name, vcpus=1, memory_mb=256, disks=disks,
                                 boot=DirectKernelBoot(kernel, ramdisk, KERNEL_CMDLINE),
                                 console_path=console))
        driver.start(name)
        running = time.perf_counter() - started
        first, booted = console_file_times(console, started)
        return {"running": running, "first": first, "booted": booted}
    finally:
        driver.destroy(name)
        driver.undefine(name)
        driver.close()
        shutil.rmtree(work, ignore_errors=True)


def raw_describe(cloud):
    """DescribeInstances signed with botocore but sent and read raw over one
    keep-alive connection: the server's rate, not boto3's XML parsing."""
    import http.client
    from urllib.parse import urlencode

    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    creds = botocore.credentials.Credentials(cloud.admin.access_key_id,
                                             cloud.admin.secret_access_key)
    conn = http.client.HTTPConnection("127.0.0.1", cloud.settings.clc.port)

    def call(params: dict) -> int:
        body = urlencode({"Action": "DescribeInstances", "Version": "2016-11-15", **params})
        request = botocore.awsrequest.AWSRequest(
            "POST", cloud.ec2_url, data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        botocore.auth.SigV4Auth(creds, "ec2", cloud.settings.cloud.region).add_auth(request)
        conn.request("POST", "/", body=body, headers=dict(request.headers))
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(payload[:300])
        return len(payload)
    return call


def fake_describe_bench(rows: list, count: int):
    tmp = Path(tempfile.mkdtemp(prefix="mallee-bench-fake-"))
    cloud = Cloud(tmp, env={"MALLEE_CLC_MAX_INSTANCES_PER_ACCOUNT": str(count * 3),
                            "MALLEE_NC_CORES": str(count * 3), "MALLEE_NC_MEMORY_MB":
                            str(count * 3 * 256), "MALLEE_NC_DISK_GB": str(count * 20)}).start()
    try:
        ec2 = cloud.client("ec2")
        ids = publish_test_image(ec2, cloud.client("s3"), Signer.from_env(cloud.cli_env()),
                                 tmp / "img")

        def launch(n):
            made = []
            while len(made) < n:
                batch = min(100, n - len(made))
                made += [i["InstanceId"] for i in ec2.run_instances(
                    ImageId=ids["image"], MinCount=batch, MaxCount=batch,
                    InstanceType="t1.micro")["Instances"]]
            return made

        describe = raw_describe(cloud)

        def rate(call, seconds=3.0):
            calls, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                call()
                calls += 1
            return calls / (time.perf_counter() - started)

        live = launch(count)
        # Measure a settled cloud: the node has finished making every overlay.
        until(lambda: all(s == "running" for start in range(0, count, 200)
                          for s in states(ec2, live[start:start + 200]).values()),
              timeout=600, interval=1.0)
        whole = rate(lambda: describe({}))
        page = rate(lambda: describe({"MaxResults": "50"}))
        history = launch(count)
        for start in range(0, len(history), 200):
            ec2.terminate_instances(InstanceIds=history[start:start + 200])
        until(lambda: all(s == "terminated" for start in range(0, count, 200)
                          for s in states(ec2, history[start:start + 200]).values()),
              timeout=600, interval=1.0)
        page_history = rate(lambda: describe({"MaxResults": "50"}))
        rows.append((f"DescribeInstances, all {count} (calls/s)", f"{whole:.1f}", "",
                     "FakeDriver"))
        rows.append(("DescribeInstances, 50 per page (calls/s)", f"{page:.1f}", "",
                     "target > 50"))
        rows.append((f"  same, +{count} terminated in history", f"{page_history:.1f}", "",
                     "flat = cost follows the page"))
        assert live
    finally:
        cloud.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake-only", action="store_true")
    parser.add_argument("--instances", type=int, default=1000)
    args = parser.parse_args()
    rows: list = []
    if not args.fake_only:
        real_cloud_bench(rows)
    fake_describe_bench(rows, args.instances)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)}  {'mallee':>14}  {'raw libvirt':>11}  note")
    for name, ours, peer, note in rows:
        print(f"{name.ljust(width)}  {ours:>14}  {peer:>11}  {note}")


if __name__ == "__main__":
    main()
