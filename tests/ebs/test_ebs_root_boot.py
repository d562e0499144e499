"""An EBS-backed guest on a real node: the NC's InstanceManager boots a QEMU guest
(libvirt) whose first disk (vda, root=/dev/vda) is a volume of a real SC exported
over iSCSI, with no qcow2 overlay; the guest comes up from that disk and says so on
its console. A stop keeps the volume and leaves no domain, secret, directory or
iSCSI session on the node; the same volume boots again; after the terminate nothing
of the instance is left."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

import pytest

from node_controller.hypervisor import BOOT_MARKER, read_console_tail
from node_controller.imagecache import ImageCache
from node_controller.instances import InstanceManager
from node_controller.resources import Capacity
from tests.ebs.helpers import NODE_A, Sc, sessions, wait_until

pytestmark = pytest.mark.integration
libvirt = pytest.importorskip("libvirt")

VOL = "vol-0e0b5b007a1b2c3d4"
KERNEL, RAMDISK = "aki-0e0b5b00", "ari-0e0b5b00"


def cached(cache_root: Path, image_id: str, name: str, source: Path) -> dict:
    """Put a file where the NC's image cache keeps a fetched kernel or ramdisk, and
    the launch's source for it (its URLs are never fetched: it is cached)."""
    entry = cache_root / "images" / image_id
    entry.mkdir(parents=True, mode=0o711)
    shutil.copyfile(source, entry / name)
    os.chmod(entry / name, 0o644)
    kind = "kernel" if name == "kernel" else "ramdisk"
    return {"image_id": image_id, "kind": kind, "manifest_url": "http://127.0.0.1:9/m",
            "part_urls": {}}


def test_a_guest_boots_from_its_ebs_root_volume(tmp_path, tgt_ports, libvirt_node):
    driver, directory, image = libvirt_node
    instance_id = f"i-0e0b{secrets.token_hex(6)}"

    async def scenario():
        sc = Sc(tmp_path, tgt_ports)
        client = await sc.start()
        cache = ImageCache(directory / "cache", 2**30, directory / "no-key.pem")
        kernel = cached(cache.root, KERNEL, "kernel", image.kernel)
        ramdisk = cached(cache.root, RAMDISK, "ramdisk", image.initramfs)
        cache = ImageCache(directory / "cache", 2**30, directory / "no-key.pem")  # finds them
        manager = InstanceManager(driver, cache, directory / "instances", Capacity(2, 2048, 10),
                                  None, NODE_A)
        try:
            await client.create_volume(VOL, 1)
            # The volume holds the image's root filesystem, as one made from its snapshot would.
            with open(sc.volumes.path_of(VOL), "r+b") as volume:
                volume.write(image.rootfs.read_bytes())
            export = await client.export_volume(VOL, NODE_A)
            spec = {"instance_id": instance_id, "instance_type": "t1.test", "cpu": 1,
                    "memory_mb": 192, "disk_gb": 2, "mac": "d0:0d:0e:0b:5b:00",
                    "private_ip": None, "image": None, "kernel": kernel, "ramdisk": ramdisk,
                    "volumes": [{"volume_id": VOL, "device": "/dev/sda1", "root": True,
                                 "connection": export}]}

            async def boot(marker: str) -> Path:
                await manager.run(spec)
                console = manager.instances[instance_id].directory / "console.log"
                ok = await asyncio.to_thread(
                    wait_until, lambda: marker.encode() in read_console_tail(console), 120)
                assert ok, read_console_tail(console)[-2000:].decode(errors="replace")
                return console

            console = await boot(BOOT_MARKER)
            text = read_console_tail(console).decode(errors="replace")
            assert "root: disk" in text  # from the volume, not from the initramfs
            assert not (manager.instances[instance_id].directory / "root.qcow2").exists()
            xml = libvirt.open("qemu:///system").lookupByName(instance_id).XMLDesc(0)
            assert f"{export['iqn']}/1" in xml and export["chap_password"] not in xml
            assert "chap_password" not in (manager.instances[instance_id].directory
                                           / "spec.json").read_text()
            assert NODE_A in sessions(tgt_ports[1])  # QEMU logged in as the node

            # Stop: the guest powers off on the ACPI button; the node keeps nothing.
            await manager.stop(instance_id)
            assert (await manager.describe())[0]["state"] == "stopping"
            assert await asyncio.to_thread(wait_until, lambda: instance_id not in
                                           manager.instances, 90)
            assert instance_id not in [d.name for d in driver.list_domains()]
            assert driver.secret_usages(f"mallee-{VOL}") == []
            assert not console.parent.exists()  # the instance's directory went too
            await client.unexport_volume(VOL, NODE_A)  # the CLC ends it once stopped
            assert await asyncio.to_thread(wait_until, lambda: NODE_A not in
                                           sessions(tgt_ports[1]), 15)

            # Start again from the same volume, exported again.
            export = await client.export_volume(VOL, NODE_A)
            spec["volumes"][0]["connection"] = export
            await boot(BOOT_MARKER)

            await manager.terminate(instance_id)
            assert instance_id not in [d.name for d in driver.list_domains()]
            assert driver.secret_usages(f"mallee-{VOL}") == []
            await client.unexport_volume(VOL, NODE_A)
            assert await asyncio.to_thread(wait_until, lambda: NODE_A not in
                                           sessions(tgt_ports[1]), 15)
            await client.delete_volume(VOL)
        finally:
            await manager.terminate(instance_id)
            await cache.close()
            await sc.stop()
    asyncio.run(scenario())
