"""Real guests (the test image under TCG) on the node data plane, plugged the
way InstanceManager does it: fresh tap, define, start paused, plug, resume.
Two instances: DHCP, metadata v2/v1 and user data on the console, SSH with
the key pair through an elastic IP from the outside namespace, groups
(same group talks; other group only after authorize, not after revoke),
a spoofed source dropped, and a clean node after. Run with -s for timings."""
from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from mallee.images.testimage import TEST_IMAGE_CMDLINE, build_test_image
from node_controller.hypervisor import (DirectKernelBoot, DomainSpec, FileDisk, TapInterface,
                                        read_console_tail)
from node_controller.hypervisor.guest_files import make_guest_dir
from node_controller.network import DataPlane
from node_controller.network.namespace import exists, link_exists
from node_controller.network.service import NodeNetwork
from tests.integration.network.conftest import GATEWAY, SUBNET
from tests.integration.network.netutil import wait_until

libvirt = pytest.importorskip("libvirt")
from node_controller.hypervisor.libvirt_driver import LibvirtDriver  # noqa: E402

BOOT_TIMEOUT = 90
EIP = "192.0.2.60"


@pytest.fixture(scope="module")
def driver():
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd not reachable: {exc}")
    driver = LibvirtDriver("qemu:///system")
    driver.host_info()  # the KVM probe, once
    yield driver
    driver.close()


@pytest.fixture
def workdir():
    directory = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-netguest-")))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def rule(protocol, port=None, cidrs=(), groups=()):
    return {"protocol": protocol, "from_port": port, "to_port": port,
            "cidrs": list(cidrs), "source_groups": list(groups)}


class Guests:
    """Boots test-image guests through NodeNetwork as InstanceManager does."""

    def __init__(self, driver, network: NodeNetwork, workdir: Path, public_key: str):
        self.driver, self.network, self.workdir = driver, network, workdir
        self.public_key = public_key
        self.image = build_test_image(workdir / "image")
        self.specs: dict[str, dict] = {}

    async def launch(self, n: int, groups: list[str], user_data: bytes) -> dict:
        iid = f"i-{secrets_hex()}"
        spec = {"instance_id": iid, "mac": f"d0:0d:77:00:00:{n:02x}",
                "private_ip": f"10.77.0.{10 + n}", "groups": groups, "key_name": "k1",
                "public_key": self.public_key, "user_data": base64.b64encode(user_data).decode(),
                "instance_type": "m1.small", "zone": "mallee-1a", "reservation_id": "r-test"}
        directory = make_guest_dir(self.workdir / iid)
        overlay = directory / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(self.image.rootfs),
                        "-F", "raw", str(overlay)], check=True)
        console = directory / "console.log"
        console.touch()
        tap = await self.network.create_tap(iid)
        domain = DomainSpec(name=iid, vcpus=1, memory_mb=128,
                            boot=DirectKernelBoot(self.image.kernel, self.image.initramfs,
                                                  TEST_IMAGE_CMDLINE),
                            disks=(FileDisk(overlay, "vda", "qcow2"),),
                            interfaces=(TapInterface(spec["mac"], tap),), console_path=console)
        await asyncio.to_thread(self.driver.define, domain)
        await asyncio.to_thread(self.driver.start, iid, True)
        await self.network.plug(spec)
        await asyncio.to_thread(self.driver.resume, iid)
        spec["console"] = console
        spec["started"] = time.monotonic()
        self.specs[iid] = spec
        return spec

    def console(self, spec) -> str:
        return read_console_tail(spec["console"]).decode(errors="replace")

    async def remove_all(self):
        for iid in list(self.specs):
            for step in (self.driver.destroy, self.driver.undefine):
                try:
                    await asyncio.to_thread(step, iid)
                except Exception:  # noqa: BLE001 - cleanup goes on
                    pass
            await self.network.unplug(iid)


def secrets_hex() -> str:
    import secrets
    return secrets.token_hex(9)[:17]


def view(version, specs, groups, public=None):
    return {"version": version, "subnet": SUBNET, "gateway": GATEWAY,
            "instances": [{"instance_id": s["instance_id"], "mac": s["mac"],
                           "private_ip": s["private_ip"], "groups": g,
                           "public_ip": (public or {}).get(s["instance_id"])}
                          for s, g in specs],
            "groups": [{"group_id": gid, "ingress": rules} for gid, rules in groups.items()]}


def test_two_guests_metadata_ssh_groups_spoofing(driver, config, state_dir, workdir, public_ns):
    key = workdir / "k1"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)

    def ssh(command: str, timeout: int = 20) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", public_ns, "ssh", "-i", str(key), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"root@{EIP}", command],
            capture_output=True, text=True, timeout=timeout)

    async def scenario():
        network = NodeNetwork(DataPlane(config, state_dir / "network"))
        await network.start()
        guests = Guests(driver, network, workdir, (workdir / "k1.pub").read_text())
        try:
            a = await guests.launch(1, ["sg-a"], b"#!/bin/sh\necho user-data-ran-$(hostname)\n")
            b = await guests.launch(2, ["sg-b"], b"plain text user data\n")
            groups = {"sg-a": [rule("-1", groups=["sg-a"]), rule("tcp", 22, cidrs=["0.0.0.0/0"])],
                      "sg-b": [rule("icmp", cidrs=["0.0.0.0/0"])]}
            members = [(a, ["sg-a"]), (b, ["sg-b"])]
            started = time.monotonic()
            await network.apply(view(1, members, groups, {a["instance_id"]: EIP}))
            print(f"\nview applied in {time.monotonic() - started:.2f}s")

            for spec in (a, b):
                # "ssh: started" is the guest script's last line; the marker comes first, so
                # waiting for the marker alone races the lines after it.
                ready = lambda s=spec: "ssh: started" in guests.console(s)  # noqa: E731
                waited = await asyncio.to_thread(wait_until, ready, BOOT_TIMEOUT, 0.2)
                text = guests.console(spec)
                assert waited is not None, text[-2000:]
                print(f"{spec['instance_id']}: marker {time.monotonic() - spec['started']:.1f}s "
                      "after resume")
                assert f"instance-id: {spec['instance_id']}" in text, text[-2000:]
                assert "public-key: installed" in text and "ssh: started" in text, text[-2000:]
            assert "user-data: #!/bin/sh" in guests.console(a)
            assert "user-data: plain text user data" in guests.console(b)
            assert await asyncio.to_thread(
                wait_until, lambda: "user-data-ran-" in guests.console(a), 10, 0.2) is not None

            # SSH with the key pair through the elastic IP, from outside
            result = await asyncio.to_thread(ssh, "cat /sys/class/net/eth0/address; hostname")
            assert result.returncode == 0, result.stderr
            assert a["mac"] in result.stdout
            # a -> b: icmp is open on sg-b, ssh is not (other group)
            b_ip = b["private_ip"]
            probe_b = f"ping -c 1 -W 2 {b_ip} >/dev/null && echo ping-ok; " \
                      f"echo | timeout 3 nc {b_ip} 22 | head -c 7"
            out = (await asyncio.to_thread(ssh, probe_b)).stdout
            assert "ping-ok" in out and "SSH-2.0" not in out, out
            # authorize tcp 22 from sg-a on sg-b: measure apply -> a real connection through
            groups["sg-b"].append(rule("tcp", 22, groups=["sg-a"]))
            started = time.monotonic()
            await network.apply(view(2, members, groups, {a["instance_id"]: EIP}))
            applied = time.monotonic() - started
            out = (await asyncio.to_thread(ssh, f"echo | timeout 3 nc {b_ip} 22 | head -c 7")).stdout
            print(f"authorize applied in {applied * 1000:.0f} ms (then checked over ssh)")
            assert "SSH-2.0" in out, out
            # spoofing: a sends from another address; the same ping from its own passes
            spoof = (f"ip addr add 10.77.0.99/16 dev eth0; "
                     f"ping -c 1 -W 2 -I 10.77.0.99 {b_ip} >/dev/null && echo spoof-passed; "
                     f"ping -c 1 -W 2 {b_ip} >/dev/null && echo own-passed; "
                     f"ip addr del 10.77.0.99/16 dev eth0")
            out = (await asyncio.to_thread(ssh, spoof)).stdout
            assert "own-passed" in out and "spoof-passed" not in out, out
            # revoke: b's ssh closed to a again; then a's own ssh rule, and ssh from outside fails
            groups["sg-b"].pop()
            await network.apply(view(3, members, groups, {a["instance_id"]: EIP}))
            out = (await asyncio.to_thread(ssh, f"echo | timeout 3 nc {b_ip} 22 | head -c 7")).stdout
            assert "SSH-2.0" not in out, out
            groups["sg-a"].pop()
            await network.apply(view(4, members, groups, {a["instance_id"]: EIP}))
            assert (await asyncio.to_thread(ssh, "true")).returncode != 0
        finally:
            await guests.remove_all()
            await network.close()
            network.plane.teardown()
        assert not exists(config.namespace)
        for spec in guests.specs.values():
            assert not link_exists(f"vn{spec['instance_id'][-13:]}")

    asyncio.run(scenario())
