"""A volume from a real SC (its own tgtd) hot-plugged into a real QEMU guest through
libvirt's iSCSI network disk, as the NC attaches one: the guest sees the disk with
the volume id as its serial, QEMU logs in as the node's initiator with the CHAP
secret libvirt holds, and after the detach no disk, session or secret is left."""
from __future__ import annotations

import asyncio
import secrets

import pytest

from mallee.images.testimage import TEST_IMAGE_CMDLINE
from node_controller.hypervisor import (BOOT_MARKER, DirectKernelBoot, DomainSpec, IscsiDisk,
                                        HypervisorError, read_console_tail, volume_serial)
from tests.ebs.helpers import NODE_A, Sc, sessions, wait_until

pytestmark = pytest.mark.integration
libvirt = pytest.importorskip("libvirt")

VOL = "vol-0a1b2c3d4e5f60718"
SERIAL = volume_serial(VOL)  # vol0a1b2c3d4e5f60718


@pytest.fixture
def guest(tgt_ports, libvirt_node):
    driver, directory, image = libvirt_node
    spec = DomainSpec(name=f"mallee-test-vol-{secrets.token_hex(3)}", vcpus=1, memory_mb=192,
                      boot=DirectKernelBoot(image.kernel, image.initramfs, TEST_IMAGE_CMDLINE),
                      console_path=directory / "console.log")
    driver.define(spec)
    driver.start(spec.name)
    try:
        assert wait_until(lambda: BOOT_MARKER.encode() in read_console_tail(spec.console_path))
        yield driver, spec
    finally:
        driver.destroy(spec.name)
        driver.undefine(spec.name)  # and the secrets of the volumes it still had
        assert driver.secret_usages(f"mallee-{VOL}") == []


def console(spec) -> str:
    return read_console_tail(spec.console_path).decode(errors="replace")


def test_hot_attach_and_detach_of_an_iscsi_volume(tmp_path, tgt_ports, guest):
    driver, spec = guest

    async def scenario():
        sc = Sc(tmp_path, tgt_ports)
        client = await sc.start()
        try:
            await client.create_volume(VOL, 1)
            export = await client.export_volume(VOL, NODE_A)
            disk = IscsiDisk(export["host"], export["port"], export["iqn"], export["lun"],
                             NODE_A, export["chap_user"], f"mallee-{VOL}-test", SERIAL, "vdb")
            # A wrong password: QEMU cannot log in, the attach fails, no secret is kept.
            with pytest.raises(HypervisorError):
                await asyncio.to_thread(driver.attach_disk, spec.name, disk, "y" * 24)
            assert driver.secret_usages(disk.secret_usage) == []
            assert SERIAL not in driver.disks(spec.name)

            await asyncio.to_thread(driver.attach_disk, spec.name, disk, export["chap_password"])
            # The guest names it in PCI order (vda here: it has no root disk).
            assert await asyncio.to_thread(wait_until, lambda: f"disk: vda {SERIAL}\r" in
                                           console(spec)), console(spec)[-1500:]
            assert NODE_A in sessions(tgt_ports[1])  # logged in as the node
            # Kept in the definition too: it survives a reboot and an NC restart.
            inactive = libvirt.open("qemu:///system").lookupByName(spec.name).XMLDesc(
                libvirt.VIR_DOMAIN_XML_INACTIVE)
            assert SERIAL in inactive and export["chap_password"] not in inactive

            await asyncio.to_thread(driver.detach_disk, spec.name, SERIAL)
            assert SERIAL not in driver.disks(spec.name)
            assert await asyncio.to_thread(wait_until, lambda: "disk gone: vda" in console(spec))
            assert driver.secret_usages(disk.secret_usage) == []
            inactive = libvirt.open("qemu:///system").lookupByName(spec.name).XMLDesc(
                libvirt.VIR_DOMAIN_XML_INACTIVE)
            assert SERIAL not in inactive
            await client.unexport_volume(VOL, NODE_A)
            assert await asyncio.to_thread(wait_until, lambda: NODE_A not in sessions(tgt_ports[1]),
                                           15)
        finally:
            await sc.stop()
    asyncio.run(scenario())
