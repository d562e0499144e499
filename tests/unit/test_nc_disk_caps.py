"""Issue 11 #7: a guest cannot take more of its node's disk than its VM type
gives it: the root overlay is bounded by the type's disk, and the console
log keeps only its newest bytes."""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from node_controller.hypervisor import FakeDriver
from node_controller.hypervisor.guest_files import make_guest_dir
from node_controller.instances import InstanceManager
from node_controller.resources import Capacity
from tests.unit.nc_fakes import StubCache

GiB = 2**30


def spec(disk_gb: int) -> dict:
    return {"instance_id": "i-0123456789abcdef0", "mac": "d0:0d:01:23:45:67", "cpu": 1,
            "memory_mb": 128, "disk_gb": disk_gb, "instance_type": "m1.small",
            "image": {"image_id": "emi-1", "kind": "machine",
                      "manifest_url": "http://127.0.0.1:1/m", "part_urls": {}},
            "kernel": None, "ramdisk": None}


@pytest.fixture
def tmp_path():
    """tmp_path's parents are 0700; QEMU's user must enter instance dirs."""
    directory = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-unit-")))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def launch(tmp_path, base_size: str, disk_gb: int):
    root = make_guest_dir(tmp_path / "nc")
    base = root / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), base_size], check=True)

    async def scenario():
        nc = InstanceManager(FakeDriver(), StubCache(base), root / "instances", Capacity(4, 4096, 100))
        await nc.run(spec(disk_gb))
        inst = nc.instances["i-0123456789abcdef0"]
        await inst.task
        return inst
    return asyncio.run(scenario())


def virtual_size(path) -> int:
    out = subprocess.run(["qemu-img", "info", "--output=json", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["virtual-size"]


def test_an_image_larger_than_the_vm_types_disk_fails_the_launch(tmp_path):
    # A sparse image may claim any virtual size; its overlay would grow to it.
    inst = launch(tmp_path, "4G", disk_gb=2)
    assert inst.state == "failed"
    assert inst.reason == ("the image's root disk is 4.0 GiB, more than the 1.5 GiB that "
                           "m1.small gives it (2 GiB less 0.5 GiB of swap)")


@pytest.mark.parametrize("base_size, disk_gb", [("64M", 1), ("1G", 3)])
def test_all_disks_together_fit_the_vm_types_disk(tmp_path, base_size, disk_gb):
    inst = launch(tmp_path, base_size, disk_gb)
    assert inst.state == "running"
    disks = [p for p in inst.directory.iterdir() if p.suffix in (".qcow2", ".raw")]
    assert sum(virtual_size(p) for p in disks) <= disk_gb * GiB


def test_the_console_log_keeps_only_its_newest_bytes(tmp_path):
    from node_controller.hypervisor.console import CONSOLE_LIMIT_BYTES, CONSOLE_TAIL_BYTES
    inst = launch(tmp_path, "64M", disk_gb=1)
    written = bytearray()
    log = inst.directory / "console.log"

    async def chatty_guest(nc):
        for n in range(6 * CONSOLE_LIMIT_BYTES // 4096):
            line = f"{n:08d}".encode() * 512
            with open(log, "ab") as f:  # as QEMU and virtlogd write it: O_APPEND
                f.write(line)
            written.extend(line)
            if n % 64 == 0:
                await nc.trim_consoles()
        return nc.console(inst.id)

    async def scenario():
        nc = InstanceManager(FakeDriver(), StubCache(None), inst.directory.parent,
                             Capacity(4, 4096, 100))
        await nc.recover()
        return await chatty_guest(nc)

    output = asyncio.run(scenario())
    on_disk = sum(p.stat().st_size for p in inst.directory.glob("console.log*"))
    assert on_disk <= 2 * CONSOLE_LIMIT_BYTES
    assert base64.b64decode(output["output"]) == bytes(written[-CONSOLE_TAIL_BYTES:])


def test_trimming_while_the_guest_writes_leaves_no_hole(tmp_path):
    import threading

    from node_controller.hypervisor.console import read_console_tail, trim_console
    log, done = tmp_path / "console.log", threading.Event()

    def guest():
        with open(log, "ab", buffering=0) as f:  # one open file, as QEMU keeps it
            for n in range(40_000):
                f.write(f"line {n:08d}\n".encode())
        done.set()

    writer = threading.Thread(target=guest)
    writer.start()
    while not done.is_set():
        trim_console(log, keep=8192, limit=65536)
    writer.join()
    tail = read_console_tail(log, 4096)
    assert b"\0" not in log.read_bytes() and log.stat().st_size <= 40_000 * 14
    assert tail.endswith(b"line 00039999\n") and b"\0" not in tail


def test_instance_files_are_owner_only_and_its_directory_cannot_be_listed(tmp_path):
    """Issue 11 #18: spec.json holds user data, keys and presigned URLs.
    QEMU's user gets through (o+x) to the files libvirt chowns for it."""
    import stat
    inst = launch(tmp_path, "64M", disk_gb=2)
    assert inst.state == "running"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in inst.directory.iterdir()}
    assert {"spec.json", "root.qcow2", "swap.raw", "console.log", "launched"} <= set(modes)
    assert modes == {name: 0o600 for name in modes}
    for directory in (inst.directory, inst.directory.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o711
