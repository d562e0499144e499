"""Scale benchmark on a simulated cloud (`mallee sim`, docs/simulation.md), one run.

  python bench/scale.py --home /tmp/sim --up --clusters 10 --nodes 100 --launch 500
  python bench/scale.py --home /tmp/sim          # a simulation that already runs

Measures, and prints as one table:
  - `mallee sim up`'s time (with --up) and each process's RSS
  - every CC's poll round (mean over a window, from its /metrics poll histogram) and the
    CLC's, idle and while a launch burst settles
  - one `RunInstances --count L`: its reply time and the time until all L are running
  - RunInstances of one instance, sequentially: instances/s and reply p50/p95
  - DescribeInstances: 50-instance pages per second, and the whole set in one call
Everything it launched is terminated at the end (--keep leaves it); with --up it also
runs `mallee sim down`. Traffic goes to 127.0.0.1 only; every loop is bounded.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import aiohttp  # noqa: E402
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from mallee.pki import role_host  # noqa: E402
from mallee.rpc import client_ssl_context  # noqa: E402


def mallee(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLEE_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "mallee_cli", "sim", *args, "--home", str(home)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def eucarc(home: Path) -> dict[str, str]:
    out = {}
    for line in (home / "eucarc").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            out[key] = shlex.split(value)[0] if value else ""
    return out


def ec2_client(home: Path):
    rc = eucarc(home)
    return boto3.client("ec2", endpoint_url=rc["AWS_ENDPOINT_URL_EC2"],
                        region_name=rc.get("AWS_DEFAULT_REGION", "mallee"),
                        aws_access_key_id=rc["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=rc["AWS_SECRET_ACCESS_KEY"],
                        config=Config(retries={"max_attempts": 1}, read_timeout=300))


_POLL = re.compile(r'^mallee_poll_round_duration_seconds_(sum|count)\{tier="(\w+)"\} (\S+)$',
                   re.M)


async def poll_totals(home: Path, layout: dict) -> dict[str, tuple[float, float]]:
    """{"clc" | cluster name: (sum of round seconds, rounds)} from each tier's /metrics."""
    tls = client_ssl_context(home / "pki", "admin")
    base = layout["port_base"]
    out = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def scrape(name, url, **kw):
            async with session.get(url, **kw) as resp:
                text = await resp.text()
            values = {kind: float(v) for kind, _, v in _POLL.findall(text)}
            out[name] = (values.get("sum", 0.0), values.get("count", 0.0))
        await asyncio.gather(
            scrape("clc", f"http://127.0.0.1:{base}/metrics"),
            *(scrape(f"sim{c + 1}", f"https://127.0.0.1:{base + 10 + c}/metrics", ssl=tls,
                     server_hostname=role_host("cc")) for c in range(layout["clusters"])))
    return out


def poll_rounds(home: Path, layout: dict, window: float, during=None) -> dict[str, float]:
    """Mean round seconds per tier over `window` seconds (running `during()` meanwhile)."""
    before = asyncio.run(poll_totals(home, layout))
    started = time.monotonic()
    if during is not None:
        during()
    time.sleep(max(0.0, window - (time.monotonic() - started)))
    after = asyncio.run(poll_totals(home, layout))
    means = {}
    for name, (total, count) in after.items():
        rounds = count - before[name][1]
        means[name] = (total - before[name][0]) / rounds if rounds else float("nan")
    return means


def wait_running(ec2, ids: list[str], timeout: float) -> tuple[float, int]:
    """(seconds until every instance is running or the timeout, how many are)."""
    started = time.monotonic()
    want = set(ids)
    running = 0
    while time.monotonic() - started < timeout:
        running = 0
        for page in ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
                PaginationConfig={"PageSize": 1000}):
            running += sum(i["InstanceId"] in want for r in page["Reservations"]
                           for i in r["Instances"])
        if running == len(want):
            break
        time.sleep(0.5)
    return time.monotonic() - started, running


def rss_rows(home: Path) -> list[tuple[str, str]]:
    status = json.loads(mallee(home, "status", "--output", "json").stdout)
    return [(p["process"], f"{p['rss_mb']} MiB") for p in status["processes"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--up", action="store_true", help="start the simulation (and stop it after)")
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--boot-seconds", type=float, default=2.0)
    ap.add_argument("--port-base", type=int, default=24000)
    ap.add_argument("--launch", type=int, default=500, help="instances of the burst")
    ap.add_argument("--singles", type=int, default=100, help="one-instance RunInstances calls")
    ap.add_argument("--window", type=float, default=20.0, help="seconds per poll measurement")
    ap.add_argument("--keep", action="store_true", help="leave the instances running")
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    home = args.home.resolve()
    if args.up:
        started = time.monotonic()
        proc = mallee(home, "up", "--clusters", str(args.clusters), "--nodes", str(args.nodes),
                      "--walrus", "--boot-seconds", str(args.boot_seconds),
                      "--port-base", str(args.port_base))
        if proc.returncode:
            sys.exit(f"mallee sim up failed: {proc.stderr}")
        rows.append(("mallee sim up (with the test image)", f"{time.monotonic() - started:.1f} s"))
    layout = json.loads((home / "sim.json").read_text())
    size = f"{layout['clusters']} x {layout['nodes']} nodes"
    window = max(args.window, 2 * layout["poll_seconds"] + 1)  # at least one idle round
    ec2 = ec2_client(home)
    image = ec2.describe_images(Filters=[{"Name": "name", "Values": ["mallee-test"]}])[
        "Images"][0]["ImageId"]
    launched: list[str] = []
    try:
        rows += rss_rows(home)
        idle = poll_rounds(home, layout, window)
        ccs = [v for k, v in idle.items() if k != "clc"]
        rows.append((f"CC poll round, idle ({size})",
                     f"mean {statistics.mean(ccs) * 1000:.0f} ms, worst CC "
                     f"{max(ccs) * 1000:.0f} ms"))
        rows.append(("CLC poll round, idle", f"{idle['clc'] * 1000:.0f} ms"))

        burst: dict = {}

        def launch_burst():
            t0 = time.monotonic()
            reply = ec2.run_instances(ImageId=image, MinCount=args.launch, MaxCount=args.launch,
                                      InstanceType="m1.small")
            burst["reply"] = time.monotonic() - t0
            ids = [i["InstanceId"] for i in reply["Instances"]]
            launched.extend(ids)
            burst["zone"] = reply["Instances"][0]["Placement"]["AvailabilityZone"]
            burst["running"] = wait_running(ec2, ids, 600)
            burst["total"] = time.monotonic() - t0
        busy = poll_rounds(home, layout, window, launch_burst)
        rows.append((f"run-instances --count {args.launch}: reply", f"{burst['reply']:.2f} s "
                     f"(zone {burst['zone']})"))
        rows.append((f"run-instances --count {args.launch}: all running",
                     f"{burst['total']:.1f} s ({burst['running'][1]} running, boot "
                     f"{layout['boot_seconds']} s)"))
        ccs = [v for k, v in busy.items() if k != "clc"]
        rows.append(("CC poll round, during the burst",
                     f"mean {statistics.mean(ccs) * 1000:.0f} ms, worst CC "
                     f"{max(ccs) * 1000:.0f} ms"))
        rows.append(("CLC poll round, during the burst", f"{busy['clc'] * 1000:.0f} ms"))

        latencies = []
        t0 = time.monotonic()
        for _ in range(args.singles):
            t = time.monotonic()
            reply = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                      InstanceType="m1.small")
            latencies.append(time.monotonic() - t)
            launched.append(reply["Instances"][0]["InstanceId"])
        elapsed = time.monotonic() - t0
        latencies.sort()
        p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95) - 1]
        rows.append((f"RunInstances x{args.singles} (1 each, sequential)",
                     f"{args.singles / elapsed:.0f}/s, p50 {p50 * 1000:.0f} ms, "
                     f"p95 {p95 * 1000:.0f} ms"))

        total = len(launched)
        pages, t0 = 0, time.monotonic()
        for _page in ec2.get_paginator("describe_instances").paginate(
                PaginationConfig={"PageSize": 50}):
            pages += 1
        rows.append((f"DescribeInstances, pages of 50 ({total} instances)",
                     f"{pages / (time.monotonic() - t0):.1f} pages/s"))
        t0 = time.monotonic()
        ec2.describe_instances()
        rows.append(("DescribeInstances, the whole set in one call",
                     f"{(time.monotonic() - t0) * 1000:.0f} ms"))
        rows += [(f"after: {name}", rss) for name, rss in rss_rows(home)]
    finally:
        if launched and not args.keep:
            for i in range(0, len(launched), 500):
                ec2.terminate_instances(InstanceIds=launched[i:i + 500])
        if args.up:
            mallee(home, "down")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  value\n{'-' * width}  -----")
    for name, value in rows:
        print(f"{name:{width}}  {value}")


if __name__ == "__main__":
    main()
