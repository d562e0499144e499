"""Snapshots with a real SC (its own tgtd) and a real Walrus, both apps in this
process: the copy is point-in-time, zero chunks are skipped, a second snapshot
sends only what changed, equal chunks are stored once, a delete keeps the chunks
another snapshot uses, a restore is byte-identical, an SC restart resumes an
upload, and only the role sc reaches Walrus's chunks, with the body's hash checked."""
from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import stat
import subprocess
import time

import aiohttp
import pytest

import ebs.snapshots
from ebs.app import SNAPSHOTS
from ebs.client import StorageClient
from mallee import errors
from mallee.rpc import client_ssl_context
from mallee.service import start_sites, stop_sites
from tests.ebs.helpers import NODE_A, Sc, qemu_io
from tests.harness import free_port
from walrus.app import sites as walrus_sites
from walrus.rpc_client import WalrusClient

pytestmark = pytest.mark.skipif(shutil.which("tgtd") is None or shutil.which("qemu-io") is None,
                                reason="needs tgt and qemu-utils (scripts/host-deps.sh)")

MiB = 1 << 20
VOL_A = "vol-000000000000000a1"
VOL_B = "vol-000000000000000b2"
VOL_R = "vol-000000000000000c3"
VOL_C = "vol-000000000000000e5"
SNAP_1 = "snap-00000000000000001"
SNAP_2 = "snap-00000000000000002"
SNAP_3 = "snap-00000000000000003"
SNAP_C = "snap-000000000000000cc"


class Stack(Sc):
    """Walrus and the SC in this process, as `mallee serve walrus` and `mallee serve
    sc` run them (the SC's tgtd outlives an SC stop, as it does a process's end)."""

    def __init__(self, home, tgt_ports: tuple[int, int]):
        super().__init__(home, tgt_ports, MALLEE_WALRUS_PORT=str(free_port()),
                         MALLEE_WALRUS_RPC_PORT=str(free_port()))
        self.walrus_runners: list = []

    @property
    def chunk_dir(self):
        return self.settings.data_dir("walrus") / "chunks"

    def stored_chunks(self) -> set[str]:
        return {p.name for p in self.chunk_dir.glob("*/*")}

    def walrus_client(self, role: str) -> WalrusClient:
        return WalrusClient("127.0.0.1", self.settings.walrus.rpc_port,
                            client_ssl_context(self.settings.pki_dir, role))

    async def start(self) -> StorageClient:
        self.walrus_runners = await start_sites(walrus_sites(self.settings))
        return await self.start_sc()

    async def stop_walrus(self) -> None:
        await stop_sites(self.walrus_runners)
        self.walrus_runners = []

    async def stop(self) -> None:
        await self.stop_sc()
        await self.stop_walrus()

    @property
    def snapshots(self):
        return self.runners[0].app[SNAPSHOTS]

    def write(self, volume_id: str, offset: int, data: bytes) -> None:
        """Bytes into a volume's file (a volume exported nowhere has no other writer)."""
        with open(self.volumes.path_of(volume_id), "r+b") as f:
            f.seek(offset)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def digest(self, volume_id: str, length: int) -> str:
        h = hashlib.sha256()
        with open(self.volumes.path_of(volume_id), "rb") as f:
            left = length
            while left:
                block = f.read(min(left, 8 * MiB))
                assert block, "the file is shorter than asked"
                h.update(block)
                left -= len(block)
        return h.hexdigest()

    async def until_done(self, snapshot_id: str) -> dict:
        async def state():
            return (await self.client.describe_snapshots([snapshot_id]))[0]
        return await _until_not(state, "pending")

    async def until_available(self, volume_id: str) -> dict:
        async def state():
            return next(v for v in await self.client.describe_volumes()
                        if v["volume_id"] == volume_id)
        return await _until_not(state, "creating")


async def _until_not(describe, state: str, timeout: float = 120) -> dict:
    """describe()'s answer once its "state" is no longer `state`."""
    deadline = time.monotonic() + timeout
    while (found := await describe())["state"] == state:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
    return found


def test_snapshot_is_point_in_time_and_restores_byte_identical(tmp_path, tgt_ports):
    """The volume is exported and written through iSCSI (so on this ext4 host the copy
    is taken with the target offline); a write made once create_snapshot has
    answered is not in the snapshot; restores, also into a larger volume, give the
    same bytes."""
    async def scenario():
        stack = Stack(tmp_path, tgt_ports)
        client = await stack.start()
        try:
            await client.create_volume(VOL_A, 1)
            export = await client.export_volume(VOL_A, NODE_A)
            wrote = await asyncio.to_thread(qemu_io, export, "write -P 0x11 0 4M",
                                            "write -P 0x33 512M 3M")
            assert wrote.returncode == 0, wrote
            before = await asyncio.to_thread(stack.digest, VOL_A, 2**30)

            snap = await client.create_snapshot(SNAP_1, VOL_A)
            assert snap["state"] == "pending" and snap["volume_id"] == VOL_A
            assert snap["size_gib"] == 1
            after = await asyncio.to_thread(qemu_io, export, "write -P 0x22 0 4M")
            assert after.returncode == 0, after  # the target is ready again

            done = await stack.until_done(SNAP_1)
            assert done["state"] == "completed" and done["progress"] == 100, done
            # 7 chunks hold data, but of two kinds (0x11, 0x33): two are sent and stored.
            assert done["chunks"] == 7 and done["bytes_uploaded"] == 2 * MiB, done
            assert len(stack.stored_chunks()) == 2
            assert not stack.snapshots.copy_of(SNAP_1).exists()
            assert await client.create_snapshot(SNAP_1, VOL_A) == {**done}  # idempotent

            made = await client.create_volume(VOL_R, 1, snapshot_id=SNAP_1)
            assert made["state"] in ("creating", "available")
            restored = await stack.until_available(VOL_R)
            assert restored["state"] == "available" and restored["snapshot_id"] == SNAP_1
            assert await asyncio.to_thread(stack.digest, VOL_R, 2**30) == before
            assert await client.create_volume(VOL_R, 1, snapshot_id=SNAP_1) == restored
            # Zero chunks stay holes in the restored file.
            assert stack.volumes.path_of(VOL_R).stat().st_blocks * 512 <= 8 * MiB

            bigger = "vol-000000000000000d4"
            await client.create_volume(bigger, 3, snapshot_id=SNAP_1)
            grown = await stack.until_available(bigger)
            assert grown["size_gib"] == 3
            assert stack.volumes.path_of(bigger).stat().st_size == 3 * 2**30
            assert await asyncio.to_thread(stack.digest, bigger, 2**30) == before
            with open(stack.volumes.path_of(bigger), "rb") as f:  # past the snapshot: holes
                with pytest.raises(OSError) as nodata:
                    os.lseek(f.fileno(), 2**30, os.SEEK_DATA)
                assert nodata.value.errno == errno.ENXIO
            # A restored volume can be exported, and holds what the snapshot did.
            export_r = await client.export_volume(VOL_R, NODE_A)
            read = await asyncio.to_thread(qemu_io, export_r, "read -P 0x11 0 4M",
                                           "read -P 0x33 512M 3M")
            assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read
        finally:
            await stack.stop()
    asyncio.run(scenario())


def test_zero_chunks_incremental_dedup_and_refcounted_delete(tmp_path, tgt_ports):
    async def scenario():
        stack = Stack(tmp_path, tgt_ports)
        client = await stack.start()
        try:
            await client.create_volume(VOL_A, 1)
            data = os.urandom(8 * MiB)
            stack.write(VOL_A, 100 * MiB, data)
            stack.write(VOL_A, 300 * MiB, bytes(2 * MiB))  # written zeros: allocated, skipped
            await client.create_snapshot(SNAP_1, VOL_A)
            first = await stack.until_done(SNAP_1)
            assert first["chunks"] == 8 and first["bytes_uploaded"] == 8 * MiB, first
            after_first = stack.stored_chunks()
            assert len(after_first) == 8
            for path in stack.chunk_dir.glob("*/*"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600
                assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
                assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
            assert stat.S_IMODE(stack.chunk_dir.stat().st_mode) == 0o700

            # 2 MiB change: the second snapshot sends only those two chunks.
            stack.write(VOL_A, 102 * MiB, os.urandom(2 * MiB))
            await client.create_snapshot(SNAP_2, VOL_A)
            second = await stack.until_done(SNAP_2)
            assert second["chunks"] == 8 and second["bytes_uploaded"] == 2 * MiB, second
            assert len(stack.stored_chunks()) == 10

            # Another volume with the same bytes: nothing new is sent or stored.
            await client.create_volume(VOL_B, 2)
            with open(stack.volumes.path_of(VOL_A), "rb") as f:
                stack.write(VOL_B, 100 * MiB, os.pread(f.fileno(), 8 * MiB, 100 * MiB))
            await client.create_snapshot(SNAP_3, VOL_B)
            third = await stack.until_done(SNAP_3)
            assert third["chunks"] == 8 and third["bytes_uploaded"] == 0, third
            assert len(stack.stored_chunks()) == 10

            copied = await client.copy_snapshot(SNAP_1, SNAP_C)
            assert copied["state"] == "completed" and copied["chunks"] == 8
            assert copied["bytes_uploaded"] == 0
            assert await client.copy_snapshot(SNAP_1, SNAP_C) == copied

            # SNAP_2 and SNAP_3 share their chunks: deleting one keeps every chunk.
            assert (await client.delete_snapshot(SNAP_3))["deleted"] is True
            assert len(stack.stored_chunks()) == 10
            # SNAP_1's two old chunks are SNAP_C's too: kept while SNAP_C is there.
            await client.delete_snapshot(SNAP_1)
            assert len(stack.stored_chunks()) == 10
            # SNAP_2 goes: its two new chunks were its own.
            await client.delete_snapshot(SNAP_2)
            assert stack.stored_chunks() == after_first
            manifests = stack.settings.data_dir("walrus") / "manifests"
            assert {p.name for p in manifests.iterdir()} == {f"{SNAP_C}.json"}
            # The copy still restores the first snapshot's bytes.
            await client.create_volume(VOL_R, 1, snapshot_id=SNAP_C)
            await stack.until_available(VOL_R)
            assert stack.digest(VOL_R, 2**30) == hashlib.sha256(
                bytes(100 * MiB) + data + bytes(2**30 - 108 * MiB)).hexdigest()
            # Walrus is down when the last snapshot goes: its chunks and manifest are
            # deleted once Walrus answers again (here: when the SC starts).
            await stack.stop_walrus()
            assert (await client.delete_snapshot(SNAP_C))["deleted"] is True
            assert stack.stored_chunks() == after_first
            await stack.stop_sc()
            stack.walrus_runners = await start_sites(walrus_sites(stack.settings))
            client = await stack.start_sc()
            for _ in range(200):
                if not stack.stored_chunks() and not any(manifests.iterdir()):
                    break
                await asyncio.sleep(0.05)
            assert stack.stored_chunks() == set() and not any(manifests.iterdir())
            assert (await client.delete_snapshot(SNAP_C))["deleted"] is False
            assert await client.describe_snapshots() == []
        finally:
            await stack.stop()
    asyncio.run(scenario())


def test_sc_restart_resumes_an_upload_and_a_lost_copy_is_an_error(tmp_path, tgt_ports,
                                                                   monkeypatch):
    monkeypatch.setattr(ebs.snapshots, "BATCH", 2)  # many small steps to stop between

    async def scenario():
        stack = Stack(tmp_path, tgt_ports)
        client = await stack.start()
        try:
            await client.create_volume(VOL_A, 1)
            stack.write(VOL_A, 0, os.urandom(64 * MiB))
            expected = stack.digest(VOL_A, 2**30)
            await client.create_snapshot(SNAP_1, VOL_A)
            for _ in range(2000):
                snap, = await client.describe_snapshots([SNAP_1])
                if snap["progress"] > 0:
                    break
                await asyncio.sleep(0.005)
            await stack.stop_sc()
            assert snap["state"] == "pending" and 0 < snap["progress"] < 100, snap
            copy = stack.settings.data_dir("sc") / "snapshots" / f"{SNAP_1}.copy"
            assert copy.exists()
            client = await stack.start_sc()
            stack.write(VOL_A, 0, os.urandom(MiB))  # after the snapshot: not in it
            done = await stack.until_done(SNAP_1)
            assert done["state"] == "completed" and done["chunks"] == 64, done
            # Each chunk is sent once; those in flight at the stop may go uncounted.
            in_flight = ebs.snapshots.IN_FLIGHT * MiB
            assert 64 * MiB - in_flight <= done["bytes_uploaded"] <= 64 * MiB, done
            assert len(stack.stored_chunks()) == 64
            assert not copy.exists()
            await client.create_volume(VOL_R, 1, snapshot_id=SNAP_1)
            await stack.until_available(VOL_R)
            assert stack.digest(VOL_R, 2**30) == expected

            # A fill under way when the SC stops starts again with the SC (Walrus is
            # down at first, so the fill is surely not done before the stop).
            await stack.stop_walrus()
            filling = await client.create_volume(VOL_C, 1, snapshot_id=SNAP_1)
            assert filling["state"] == "creating" and filling["snapshot_id"] == SNAP_1
            with pytest.raises(errors.IncorrectState):
                await client.export_volume(VOL_C, NODE_A)
            await stack.stop_sc()
            stack.walrus_runners = await start_sites(walrus_sites(stack.settings))
            client = await stack.start_sc()
            assert (await stack.until_available(VOL_C))["state"] == "available"
            assert stack.digest(VOL_C, 2**30) == expected

            # Deleting a snapshot mid-upload stops it and leaves none of its own chunks.
            kept = stack.stored_chunks()
            await client.create_volume(VOL_B, 1)
            stack.write(VOL_B, 0, os.urandom(64 * MiB))
            await client.create_snapshot(SNAP_3, VOL_B)
            while (await client.describe_snapshots([SNAP_3]))[0]["progress"] == 0:
                await asyncio.sleep(0.005)
            assert (await client.delete_snapshot(SNAP_3))["deleted"] is True
            assert stack.stored_chunks() == kept
            assert not stack.snapshots.copy_of(SNAP_3).exists()
            assert [s["snapshot_id"] for s in await client.describe_snapshots()] == [SNAP_1]

            # A pending snapshot whose copy is gone when the SC starts: error, not a
            # snapshot of something else. (Walrus is down: the upload cannot finish.)
            await stack.stop_walrus()
            await client.create_snapshot(SNAP_2, VOL_A)
            await stack.stop_sc()
            (stack.settings.data_dir("sc") / "snapshots" / f"{SNAP_2}.copy").unlink()
            client = await stack.start_sc()
            lost, = await client.describe_snapshots([SNAP_2])
            assert lost["state"] == "error" and "lost" in lost["message"], lost
        finally:
            await stack.stop()
    asyncio.run(scenario())


def test_chunk_routes_take_only_the_sc_and_check_the_hash(tmp_path, tgt_ports):
    async def scenario():
        stack = Stack(tmp_path, tgt_ports)
        await stack.start()
        body = os.urandom(MiB)
        sha = hashlib.sha256(body).hexdigest()
        sc = stack.walrus_client("sc")
        try:
            for role in ("nc", "clc", "cc"):
                other = stack.walrus_client(role)
                try:
                    for call in (other.put_chunk(sha, body), other.get_chunk(sha),
                                 other.chunks_missing([sha]), other.chunks_delete([sha]),
                                 other.put_manifest(SNAP_1, {"chunks": {}}),
                                 other.get_manifest(SNAP_1)):
                        with pytest.raises(errors.UnauthorizedOperation):
                            await call
                finally:
                    await other.close()
            assert stack.stored_chunks() == set()

            with pytest.raises(errors.ApiError) as bad:
                await sc.put_chunk(sha, body[:-1] + b"x")
            assert bad.value.code == "BadDigest" and bad.value.status == 400
            assert sha in bad.value.message and stack.stored_chunks() == set()
            with pytest.raises(errors.ApiError) as absent:
                await sc.get_chunk(sha)
            assert absent.value.code == "NoSuchKey" and absent.value.status == 404
            with pytest.raises(errors.InvalidParameterValue):
                await sc.put_chunk("..%2F..%2Fwalrus.db", body)
            with pytest.raises(errors.InvalidParameterValue):
                await sc.chunks_missing(["x" * 64])
            with pytest.raises(errors.InvalidParameterValue):
                await sc.put_manifest("snap-..%2Fx", {})

            assert (await sc.put_chunk(sha, body))["stored"] is True
            # The S3 API has no way to them: no bucket holds them.
            async with aiohttp.ClientSession() as web:
                url = f"http://127.0.0.1:{stack.settings.walrus.port}/chunks/{sha[:2]}/{sha}"
                async with web.get(url) as resp:
                    assert resp.status == 404 and b"NoSuchBucket" in await resp.read()
            assert (await sc.put_chunk(sha, body))["stored"] is False  # idempotent
            assert await sc.get_chunk(sha) == body
            assert await sc.chunks_missing([sha, "0" * 64]) == ["0" * 64]
            assert await sc.chunks_delete([sha, "0" * 64]) == 1
            assert await sc.chunks_missing([sha]) == [sha]
        finally:
            await sc.close()
            await stack.stop()
    asyncio.run(scenario())


def test_bad_ids_and_states_are_refused_with_their_codes(tmp_path, tgt_ports):
    async def scenario():
        stack = Stack(tmp_path, tgt_ports)
        client = await stack.start()
        codes = {}
        try:
            await client.create_volume(VOL_A, 2)
            cases = {
                "bad snap id": client.create_snapshot("snap-../../etc", VOL_A),
                "bad vol id": client.create_snapshot(SNAP_1, "vol-x/../y"),
                "unknown volume": client.create_snapshot(SNAP_1, VOL_B),
                "describe unknown": client.describe_snapshots([SNAP_2]),
                "describe bad": client.describe_snapshots(["snap-zz"]),
                "delete bad": client.delete_snapshot("../x"),
                "copy unknown": client.copy_snapshot(SNAP_2, SNAP_3),
                "copy bad": client.copy_snapshot(SNAP_2, "snap-"),
                "restore unknown": client.create_volume(VOL_R, 2, snapshot_id=SNAP_2),
                "restore bad": client.create_volume(VOL_R, 2, snapshot_id="snap-1/.."),
            }
            for name, call in cases.items():
                with pytest.raises(errors.ApiError) as e:
                    await call
                codes[name] = e.value.code
            await client.create_snapshot(SNAP_1, VOL_A)
            with pytest.raises(errors.ApiError) as e:  # a different volume, same id
                await client.create_snapshot(SNAP_1, VOL_B)
            codes["same id other volume"] = e.value.code
            await stack.until_done(SNAP_1)
            with pytest.raises(errors.ApiError) as e:
                await client.create_volume(VOL_R, 1, snapshot_id=SNAP_1)
            codes["restore smaller"] = e.value.code
        finally:
            await stack.stop()
        return codes
    assert asyncio.run(scenario()) == {
        "bad snap id": "InvalidParameterValue", "bad vol id": "InvalidParameterValue",
        "unknown volume": "InvalidVolume.NotFound",
        "describe unknown": "InvalidSnapshot.NotFound", "describe bad": "InvalidParameterValue",
        "delete bad": "InvalidParameterValue", "copy unknown": "InvalidSnapshot.NotFound",
        "copy bad": "InvalidParameterValue", "restore unknown": "InvalidSnapshot.NotFound",
        "restore bad": "InvalidParameterValue",
        "same id other volume": "InvalidParameterValue",
        "restore smaller": "InvalidParameterValue"}


@pytest.fixture
def xfs_home(tmp_path, tgt_ports):
    """A home on a loop-mounted XFS with reflinks (as an SC on XFS has), or a skip."""
    if shutil.which("mkfs.xfs") is None or os.geteuid() != 0:
        pytest.skip("needs xfsprogs and root for a loop mount")
    image, mount = tmp_path / "xfs.img", tmp_path / "xfs"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(3 * 2**30)
    made = subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)],
                          capture_output=True, text=True)
    mounted = made.returncode == 0 and subprocess.run(
        ["mount", "-o", "loop", str(image), str(mount)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip(f"cannot make or mount an XFS image here: {made.stderr}")
    yield mount / "home"
    from ebs.teardown import stop_tgtd
    stop_tgtd(tgt_ports[1])  # its targets hold the volumes' files open
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_on_xfs_the_copy_is_a_reflink_and_point_in_time(xfs_home, tgt_ports):
    """Where the filesystem reflinks, the copy shares the volume's extents (no target
    offline, no bytes copied) and is still point-in-time."""
    async def scenario():
        stack = Stack(xfs_home, tgt_ports)
        client = await stack.start()
        try:
            await client.create_volume(VOL_A, 1)
            export = await client.export_volume(VOL_A, NODE_A)
            wrote = await asyncio.to_thread(qemu_io, export, "write -P 0x11 0 8M")
            assert wrote.returncode == 0, wrote
            before = await asyncio.to_thread(stack.digest, VOL_A, 2**30)
            await stack.stop_walrus()  # the upload waits, so the copy stays to be looked at
            await client.create_snapshot(SNAP_1, VOL_A)
            copy = stack.snapshots.copy_of(SNAP_1)
            extents = subprocess.run(["filefrag", "-v", str(copy)], capture_output=True,
                                     text=True)
            assert "shared" in extents.stdout, extents.stdout
            after = await asyncio.to_thread(qemu_io, export, "write -P 0x22 0 8M")
            assert after.returncode == 0, after
            stack.walrus_runners = await start_sites(walrus_sites(stack.settings))
            done = await stack.until_done(SNAP_1)
            assert done["state"] == "completed" and done["chunks"] == 8, done
            await client.create_volume(VOL_R, 1, snapshot_id=SNAP_1)
            await stack.until_available(VOL_R)
            assert await asyncio.to_thread(stack.digest, VOL_R, 2**30) == before
        finally:
            await stack.stop()
    asyncio.run(scenario())
