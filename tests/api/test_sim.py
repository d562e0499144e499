"""`mallee sim`: the real CLC, two real CCs and Walrus with ten fake-driver nodes,
started, used through boto3 and stopped the way a user does (docs/simulation.md)."""
from __future__ import annotations

import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]


def free_port_base(span: int) -> int:
    """A base below the ephemeral range with `span` free loopback ports above it."""
    for _ in range(200):
        base = random.randrange(10000, 32768 - span)
        for port in range(base, base + span):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    break
        else:
            return base
    raise RuntimeError("no free run of loopback ports")


def sim(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLEE_", "AWS_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "mallee_cli", "sim", *args, "--home", str(home)],
                          env=env, capture_output=True, text=True, timeout=300)


def our_processes(home: Path) -> list[int]:
    """Pids whose command line names this simulation's home."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(home) in proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def ec2_of(home: Path):
    rc = {}
    for line in (home / "eucarc").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            rc[key] = shlex.split(value)[0] if value else ""
    return boto3.client("ec2", endpoint_url=rc["AWS_ENDPOINT_URL_EC2"], region_name="mallee",
                        aws_access_key_id=rc["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=rc["AWS_SECRET_ACCESS_KEY"],
                        config=Config(retries={"max_attempts": 1}))


def capacity(ec2, vm_type: str = "m1.small") -> dict[str, tuple[int, int]]:
    """{zone: (free, max)} of one VM type, from describe-availability-zones verbose."""
    out, zone = {}, None
    for entry in ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]:
        name = entry["ZoneName"]
        if not name.startswith("|-"):
            zone = name
        elif name == f"|- {vm_type}":
            free, _, most = entry["State"].split()[:3]
            out[zone] = (int(free), int(most))
    return out


@pytest.fixture
def home():
    # QEMU's user must be able to enter a node's state dir (the NC checks), so not
    # under pytest's 0700 tmp_path: a directory of /tmp's own, as tests/harness.py does.
    home = Path(tempfile.mkdtemp(prefix="mallee-sim-"))
    home.chmod(0o755)
    yield home / "sim"
    sim(home / "sim", "down")  # whatever the test left running
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_sim_up_places_instances_and_down_leaves_nothing(home):
    base = free_port_base(100 + 10)
    up = sim(home, "up", "--clusters", "2", "--nodes", "5", "--walrus", "--boot-seconds", "0.5",
             "--port-base", str(base), "--node-cores", "8")
    assert up.returncode == 0, up.stderr
    assert "10 simulated nodes in 2 zone(s) (sim-1a..sim-1b), 10 reported up" in up.stdout
    ec2 = ec2_of(home)
    # 5 nodes of 8 cores per zone: 40 one-core m1.small each, 80 in all
    assert capacity(ec2) == {"sim-1a": (40, 40), "sim-1b": (40, 40)}

    again = sim(home, "up", "--clusters", "2", "--nodes", "5", "--walrus", "--boot-seconds",
                "0.5", "--port-base", str(base), "--node-cores", "8")
    assert again.returncode == 0, again.stderr
    assert "started" not in again.stdout and "sim-clc          running" in again.stdout

    image = ec2.describe_images(Filters=[{"Name": "name", "Values": ["mallee-test"]}])[
        "Images"][0]["ImageId"]
    reply = ec2.run_instances(ImageId=image, MinCount=20, MaxCount=20, InstanceType="m1.small")
    ids = [i["InstanceId"] for i in reply["Instances"]]
    zone = reply["Instances"][0]["Placement"]["AvailabilityZone"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)[
            "Reservations"] for i in r["Instances"]]
        if states == ["running"] * 20:
            break
        time.sleep(0.5)
    assert states == ["running"] * 20
    # placed on the zone's simulated nodes: the CCs' polls report their cores taken
    other = "sim-1b" if zone == "sim-1a" else "sim-1a"
    deadline = time.monotonic() + 30
    while capacity(ec2)[zone] != (20, 40) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert capacity(ec2) == {zone: (20, 40), other: (40, 40)}

    down = sim(home, "down")
    assert down.returncode == 0, down.stderr
    assert "sim-clc          stopped" in down.stdout
    assert our_processes(home) == []
    assert (home / "mallee.toml").exists() and (home / "nodes").is_dir()  # state is kept
