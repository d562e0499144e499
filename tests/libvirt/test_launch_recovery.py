"""Issue 11 #12: an NC killed at any step of a launch finds the instance again
on restart and finishes (or undoes) it: InstanceManager.recover over the
FakeDriver and libvirt's test:///default, which outlive the "killed" manager
as libvirtd outlives the NC."""
from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from node_controller.hypervisor import DomainNotFound, DomainSpec, DomainState, FakeDriver
from node_controller.hypervisor.guest_files import make_guest_dir
from node_controller.instances import InstanceManager
from node_controller.resources import Capacity

libvirt = pytest.importorskip("libvirt")
from node_controller.hypervisor.libvirt_driver import LibvirtDriver  # noqa: E402
from tests.unit.nc_fakes import StubCache


class Killed(BaseException):
    """kill -9 at a step: nothing after it runs, no cleanup either."""


class Network:
    """The data plane as the manager sees it; kill_at makes a step the kill point."""
    enforcing = True

    def __init__(self, driver, kill_at=None):
        self.driver, self.kill_at, self.plugged = driver, kill_at, []

    async def create_tap(self, instance_id):
        return "vn" + instance_id[-13:]

    async def plug(self, spec):
        if self.kill_at == "plug":
            raise Killed
        self.plugged.append((spec["instance_id"], self.driver.domain_state(spec["instance_id"])))

    async def unplug(self, instance_id):
        pass


class KillingDriver:
    """The driver, except that calling `step` kills the NC before it happens."""

    def __init__(self, inner, step):
        self.inner, self.step = inner, step

    def __getattr__(self, name):
        if name == self.step:
            def killed(*args, **kwargs):
                raise Killed
            return killed
        return getattr(self.inner, name)


@pytest.fixture(params=["fake", "libvirt-test"])
def driver(request):
    made = FakeDriver() if request.param == "fake" else LibvirtDriver("test:///default")
    yield made
    for status in made.list_domains():
        if status.name.startswith("i-"):
            made.destroy(status.name)
            made.undefine(status.name)


@pytest.fixture
def base():
    directory = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-recovery-")))
    path = directory / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


def spec() -> dict:
    return {"instance_id": f"i-{secrets.token_hex(8)}", "mac": "d0:0d:01:23:45:67", "cpu": 1,
            "memory_mb": 128, "disk_gb": 1, "instance_type": "m1.small",
            "private_ip": "10.64.0.5", "groups": ["sg-1"],
            "image": {"image_id": "emi-1", "kind": "machine",
                      "manifest_url": "http://127.0.0.1:1/m", "part_urls": {}},
            "kernel": None, "ramdisk": None}


def manager(driver, base, network) -> InstanceManager:
    return InstanceManager(driver, StubCache(base), base.parent / "instances",
                           Capacity(4, 4096, 100), network)


async def restart(driver, base) -> tuple[InstanceManager, Network]:
    network = Network(driver)
    nc = manager(driver, base, network)
    await nc.recover()
    getattr(nc, "finish_launches", lambda: None)()  # (absent before the fix)
    for inst in nc.instances.values():
        if inst.task is not None:
            await inst.task
    return nc, network


def state(driver, name) -> DomainState | None:
    try:
        return driver.domain_state(name)
    except DomainNotFound:
        return None


@pytest.mark.parametrize("step", ["define", "start", "plug", "resume"])
def test_a_launch_killed_at_any_step_is_finished_after_a_restart(driver, base, step):
    s = spec()

    async def scenario():
        nc = manager(KillingDriver(driver, step), base, Network(driver, kill_at=step))
        await nc.run(s)
        with pytest.raises(Killed):
            await nc.instances[s["instance_id"]].task
        return await restart(driver, base)

    nc, network = asyncio.run(scenario())
    inst = nc.instances[s["instance_id"]]
    assert (inst.state, inst.reason) == ("running", None)
    assert state(driver, s["instance_id"]) == DomainState.RUNNING
    assert network.plugged == [(s["instance_id"], DomainState.PAUSED)]  # plugged before resume
    described = asyncio.run(nc.describe())
    assert [d["state"] for d in described] == ["running"]
    assert nc.cache.pins == ["emi-1"]


def test_a_finished_launch_is_not_started_again_after_its_guest_powered_off(driver, base):
    s = spec()

    async def scenario():
        nc = manager(driver, base, Network(driver))
        await nc.run(s)
        await nc.instances[s["instance_id"]].task
        driver.destroy(s["instance_id"])  # the guest powered itself off
        return await restart(driver, base)

    nc, network = asyncio.run(scenario())
    assert state(driver, s["instance_id"]) == DomainState.SHUTOFF and network.plugged == []
    assert [d["state"] for d in asyncio.run(nc.describe())] == ["shutoff"]


def test_a_domain_whose_spec_never_landed_is_removed_but_others_domains_stay(driver, base):
    root = make_guest_dir(base.parent / "instances")
    ours, theirs = f"i-{secrets.token_hex(8)}", f"i-{secrets.token_hex(8)}"
    driver.define(DomainSpec(name=ours, vcpus=1, memory_mb=128, owner=str(root)))
    driver.define(DomainSpec(name=theirs, vcpus=1, memory_mb=128, owner="/elsewhere/instances"))
    driver.start(ours, True)
    make_guest_dir(root / ours)  # its directory, without spec.json
    nc, _ = asyncio.run(restart(driver, base))
    assert state(driver, ours) is None and not (root / ours).exists()
    assert state(driver, theirs) == DomainState.SHUTOFF and nc.instances == {}
