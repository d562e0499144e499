"""What the real-guest tests share: a whole cloud on qemu:///system, the
published test image, a key pair on disk, and ssh from the outside world."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from node_controller.network.names import tap_name
from node_controller.network.namespace import link_exists
from tests.harness import MODULES, Cloud

libvirt = pytest.importorskip("libvirt")


def real_cloud(home: Path, nodes: int = 1, components=tuple(MODULES), **env: str) -> Cloud:
    """A started cloud whose NCs run guests with libvirt (TCG here); skips without
    libvirtd. `components` are the ones run in this process."""
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd not reachable: {exc}")
    settings = {"MALLEE_NC_DRIVER": "libvirt", "MALLEE_NC_CORES": "4",
                "MALLEE_NC_MEMORY_MB": "2048", "MALLEE_NC_DISK_GB": "40", **env}
    return Cloud(home, components, nodes=nodes, env=settings).start()


def key_pair(ec2, name: str, folder: Path) -> Path:
    """Create a key pair and keep its private key as a user would (0600)."""
    path = folder / f"{name}.pem"
    path.write_text(ec2.create_key_pair(KeyName=name)["KeyMaterial"])
    path.chmod(0o600)
    return path


def ssh(cloud: Cloud, key: Path, address: str, command: str, timeout: int = 8):
    """ssh from the outside world (the cloud's uplink namespace), as a user would.
    A session whose path goes away (an elastic IP moved under it) ends within
    seconds (ServerAlive) and answers like a failed login, so a bounded wait
    on ssh goes on to its next try instead of stopping at the first."""
    argv = ["ip", "netns", "exec", cloud.settings.network.uplink_netns, "ssh", "-i", str(key),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", f"ConnectTimeout={timeout}", "-o", "BatchMode=yes",
            "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3",
            f"root@{address}", command]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired as err:
        out = err.stdout or b""  # bytes, whatever text= said
        return subprocess.CompletedProcess(argv, 255, out.decode(errors="replace"),
                                           f"ssh timed out after {timeout + 60} s")


def domains() -> set[str]:
    conn = libvirt.open("qemu:///system")
    try:
        return {d.name() for d in conn.listAllDomains()}
    finally:
        conn.close()


def guest_taps(cloud: Cloud) -> list[str]:
    """The guest taps still in the node's namespace (`ip -o link` lines)."""
    namespace = f"mallee-{cloud.settings.nc.name}"
    links = subprocess.run(["ip", "-n", namespace, "-o", "link"], capture_output=True,
                           text=True).stdout
    return [line for line in links.splitlines() if " vn" in line]


def assert_no_taps_left(cloud: Cloud, instance_ids=(), timeout: float = 30.0) -> None:
    """Every ended guest's tap goes: at once, or by the NC's bounded background
    retry (every 2 s) when QEMU still held it at the first tries. In vpc mode the
    taps are on br-int in the host's namespace: those of `instance_ids`."""
    if cloud.settings.network.mode == "vpc":
        def left():
            return [t for t in map(tap_name, instance_ids) if link_exists(t)]
    else:
        def left():
            return guest_taps(cloud)
    assert cloud.wait_for(lambda: not left(), timeout=timeout, interval=0.5), left()


def ports_but_default_gateways(chassis, ec2, bridge: str | None = None) -> list[str]:
    """The chassis bridge's ports less the patch ports of the account's default VPC's
    internet gateway: in vpc mode that VPC is real (docs/vpc.md) and its gateway's
    localnet port is patched from br-int to br-ex from the account's first call on."""
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    igws = [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [v["VpcId"] for v in default]}])[
            "InternetGateways"]] if default else []
    ports = chassis.ports(bridge) if bridge else chassis.ports()
    return [p for p in ports if not (p.startswith("patch-") and any(g in p for g in igws))]
