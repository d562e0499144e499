"""The storage controller with a real tgtd and a real iSCSI initiator (QEMU's own,
through qemu-io, as the NC's guests use it): volumes as sparse files, one target
per volume, a CHAP account and an ACL entry per export, all re-created after the
SC restarts and after tgtd is killed, and nothing left once they are undone."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess

import pytest

from mallee import errors
from tests.ebs.helpers import NODE_A, NODE_B, Sc, qemu_io, tgt_show

pytestmark = pytest.mark.skipif(shutil.which("tgtd") is None or shutil.which("qemu-io") is None,
                                reason="needs tgt and qemu-utils (scripts/host-deps.sh)")

VOL = "vol-0123456789abcdef0"


def test_volume_export_survives_sc_restart_and_tgtd_kill(tmp_path, tgt_ports):
    async def scenario():
        sc = Sc(tmp_path, tgt_ports)
        client = await sc.start()
        try:
            made = await client.create_volume(VOL, 1)
            assert made["size_gib"] == 1 and made["status"] == "available"
            path = sc.volumes.path_of(VOL)
            info = path.stat()
            assert info.st_size == 2**30 and info.st_blocks == 0  # sparse
            assert stat.S_IMODE(info.st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert await client.create_volume(VOL, 1) == made  # idempotent

            export = await client.export_volume(VOL, NODE_A)
            assert export["iqn"].endswith(":" + VOL) and export["lun"] == 1
            assert await client.export_volume(VOL, NODE_A) == export  # same account
            wrote = await asyncio.to_thread(qemu_io, export, "write -P 0x5a 1M 4M",
                                            "read -P 0x5a 1M 4M")
            assert wrote.returncode == 0 and "read 4194304/4194304" in wrote.stdout, wrote
            # Another node's initiator, or a wrong CHAP password, cannot log in.
            other = await asyncio.to_thread(qemu_io, export, "read 0 512", initiator=NODE_B)
            assert other.returncode != 0 and "not found" in other.stderr.lower(), other
            wrong = await asyncio.to_thread(qemu_io, export, "read 0 512",
                                            password="x" * 24)
            assert wrong.returncode != 0 and "authentication" in wrong.stderr.lower(), wrong
            with pytest.raises(errors.ApiError) as e:
                await client.delete_volume(VOL)
            assert e.value.code == "VolumeInUse"

            # The SC restarts: tgtd kept serving, and the new SC finds it as it is.
            await sc.stop()
            first_tgtd = sc.volumes.tgt.pid
            again = Sc(tmp_path, tgt_ports)
            client = await again.start()
            sc = again
            read = await asyncio.to_thread(qemu_io, export, "read -P 0x5a 1M 4M")
            assert read.returncode == 0, read

            # tgtd is killed: the SC's watch restarts it and re-creates the target.
            assert first_tgtd is not None
            os.kill(first_tgtd, signal.SIGKILL)
            for _ in range(100):
                read = await asyncio.to_thread(qemu_io, export, "read -P 0x5a 1M 4M")
                if read.returncode == 0:
                    break
                await asyncio.sleep(0.1)
            assert read.returncode == 0, read
            assert sc.volumes.tgt.pid not in (None, first_tgtd)

            # Undone, nothing is left: no target, no account, no file.
            await client.unexport_volume(VOL, NODE_A)
            gone = await asyncio.to_thread(qemu_io, export, "read 0 512")
            assert gone.returncode != 0
            assert VOL not in tgt_show(tgt_ports[1], "target")
            assert export["chap_user"] not in tgt_show(tgt_ports[1], "account")
            assert (await client.unexport_volume(VOL, NODE_A))["removed"] is False
            # Ending every export at once (an instance gone with its node unknown).
            await client.export_volume(VOL, NODE_A)
            await client.export_volume(VOL, NODE_B)
            assert (await client.unexport_volume(VOL))["removed"] is True
            assert (await client.describe_volumes())[0]["exported_to"] == []
            assert VOL not in tgt_show(tgt_ports[1], "target")
            assert (await client.delete_volume(VOL))["deleted"] is True
            assert not path.exists()
            assert await client.describe_volumes() == []
            assert (await client.delete_volume(VOL))["deleted"] is False
        finally:
            await sc.stop()
    asyncio.run(scenario())


def test_start_removes_files_without_a_record_and_leftover_targets(tmp_path, tgt_ports):
    """A create that died before its row left a file; an SC that died mid-export left a
    target and an account nobody records: the next start removes both."""
    async def scenario():
        sc = Sc(tmp_path, tgt_ports)
        client = await sc.start()
        await client.create_volume(VOL, 1)
        files = sc.volumes.path_of(VOL).parent
        await sc.stop()
        stray = files / "vol-00000000000000bad.raw"
        stray.write_bytes(b"")
        adm = ["tgtadm", "-C", str(tgt_ports[1]), "--lld", "iscsi"]
        subprocess.run(adm + ["--mode", "target", "--op", "new", "--tid", "9", "--targetname",
                              "iqn.2026-12.org.mallee:vol-00000000000000bad"], check=True)
        subprocess.run(adm + ["--mode", "account", "--op", "new", "--user",
                              "vol-00000000000000bad-1", "--password", "p" * 16], check=True)
        sc = Sc(tmp_path, tgt_ports)
        client = await sc.start()
        try:
            assert not stray.exists() and sc.volumes.path_of(VOL).exists()
            assert "vol-00000000000000bad" not in tgt_show(tgt_ports[1], "target")
            assert "vol-00000000000000bad" not in tgt_show(tgt_ports[1], "account")
            assert [v["volume_id"] for v in await client.describe_volumes()] == [VOL]
        finally:
            await sc.stop()
    asyncio.run(scenario())


@pytest.mark.parametrize("call, code", [
    (lambda c: c.create_volume("../../etc/passwd", 1), "InvalidParameterValue"),
    (lambda c: c.create_volume(VOL, 0), "InvalidParameterValue"),
    (lambda c: c.create_volume(VOL, 16385), "InvalidParameterValue"),
    (lambda c: c.export_volume(VOL, NODE_A), "InvalidVolume.NotFound"),
    (lambda c: c.export_volume(VOL, "node a; rm -rf /"), "InvalidParameterValue"),
    (lambda c: c.delete_volume("vol-x/../../y"), "InvalidParameterValue"),
])
def test_bad_input_is_refused_with_its_code(tmp_path, tgt_ports, call, code):
    async def scenario():
        sc = Sc(tmp_path, tgt_ports)
        client = await sc.start()
        try:
            with pytest.raises(errors.ApiError) as e:
                await call(client)
            return e.value.code
        finally:
            await sc.stop()
    assert asyncio.run(scenario()) == code
