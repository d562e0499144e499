"""EBS snapshots against plain Walrus S3 transfers of the same bytes, in one run.

    .venv/bin/python bench/ebs.py [--written-mib 256] [--changed-mib 10]

Walrus runs as a process of its own (as in bench/walrus.py); the SC runs in this
process with a tgtd of its own, as the tests start it. A 1 GiB volume gets
--written-mib MiB of random data in 1 MiB pieces at random places; then:

  1. create_snapshot: time until it answers (the point-in-time copy; on ext4 a
     sparse copy with the target offline) and until `completed`; its upload rate
     against one boto3 put_object of the same bytes to Walrus's S3 API;
  2. --changed-mib MiB rewritten, a second snapshot: bytes it uploaded (target:
     about the changed MiB) and its time;
  3. a volume made from the second snapshot: time until `available`, and its
     fill rate against one boto3 get_object of the same bytes (and against the
     put_object, since a fill, like a PUT, ends with the bytes fsynced on disk).

Prints one table with ratios. Not a timed test; the host is shared: compare the
ratios of one run.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from ebs.app import VOLUMES, sites as sc_sites  # noqa: E402
from ebs.client import StorageClient  # noqa: E402
from ebs.teardown import stop_tgtd  # noqa: E402
from mallee import settings as mallee_settings  # noqa: E402
from mallee.rpc import client_ssl_context  # noqa: E402
from mallee.service import start_sites, stop_sites  # noqa: E402
from tests.harness import free_port, free_tgt_control_port  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_walrus", ROOT / "bench" / "walrus.py")
bench_walrus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_walrus)

MIB = 1 << 20
VOLUME, RESTORED = "vol-0000000000000be01", "vol-0000000000000be02"
SNAP_1, SNAP_2 = "snap-0000000000000be01", "snap-0000000000000be02"


async def until(describe, busy: str) -> dict:
    while (found := await describe())["state"] == busy:
        await asyncio.sleep(0.02)
    return found


def write_pieces(path: Path, offsets: list[int], seed: int) -> bytes:
    """1 MiB of random bytes at each offset (MiB); all the bytes written, in order."""
    rng = random.Random(seed)
    written = []
    with open(path, "r+b") as f:
        for mib in offsets:
            piece = rng.randbytes(MIB)
            os.pwrite(f.fileno(), piece, mib * MIB)
            written.append(piece)
        os.fsync(f.fileno())
    return b"".join(written)


def s3_peer(url: str, body: bytes) -> tuple[float, float]:
    """Seconds for one put_object and one get_object of `body` through Walrus's S3 API."""
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id=bench_walrus.KEY,
                      aws_secret_access_key=bench_walrus.SECRET,
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="ebs-bench")
    started = time.perf_counter()
    s3.put_object(Bucket="ebs-bench", Key="peer", Body=body)
    put = time.perf_counter() - started
    started = time.perf_counter()
    got = s3.get_object(Bucket="ebs-bench", Key="peer")["Body"].read()
    get = time.perf_counter() - started
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    return put, get


async def run(work: Path, written_mib: int, changed_mib: int) -> dict:
    home = work / "home"
    rpc_port = free_port()
    # start_walrus runs its own event loop: on a thread, beside this one.
    walrus, s3_url = await asyncio.to_thread(bench_walrus.start_walrus, home, rpc_port)
    try:
        return await measure(home, rpc_port, s3_url, written_mib, changed_mib)
    finally:
        walrus.terminate()
        walrus.wait(10)


async def measure(home: Path, rpc_port: int, s3_url: str, written_mib: int,
                  changed_mib: int) -> dict:
    sc_port, tgt_control = free_port(), free_tgt_control_port()
    settings = mallee_settings.load(home=home, env={
        "MALLEE_CLOUD_HOST": "127.0.0.1", "MALLEE_SC_PORT": str(sc_port),
        "MALLEE_SC_ISCSI_PORT": str(free_port()),
        "MALLEE_SC_TGT_CONTROL_PORT": str(tgt_control),
        "MALLEE_WALRUS_RPC_PORT": str(rpc_port)})
    runners = await start_sites(sc_sites(settings))
    sc = StorageClient("127.0.0.1", sc_port, client_ssl_context(settings.pki_dir, "clc"))
    r = {}
    try:
        await sc.create_volume(VOLUME, 1)
        path = runners[0].app[VOLUMES].path_of(VOLUME)
        rng = random.Random(1)
        offsets = sorted(rng.sample(range(1024), written_mib))
        body = await asyncio.to_thread(write_pieces, path, offsets, 2)

        started = time.perf_counter()
        await sc.create_snapshot(SNAP_1, VOLUME)
        r["copy"] = time.perf_counter() - started
        first = await until(lambda: _snap(sc, SNAP_1), "pending")
        r["snap1"] = time.perf_counter() - started
        r["snap1_upload"] = r["snap1"] - r["copy"]
        r["snap1_bytes"] = first["bytes_uploaded"]

        changed = rng.sample(offsets, changed_mib)
        await asyncio.to_thread(write_pieces, path, changed, 3)
        started = time.perf_counter()
        await sc.create_snapshot(SNAP_2, VOLUME)
        second = await until(lambda: _snap(sc, SNAP_2), "pending")
        r["snap2"] = time.perf_counter() - started
        r["snap2_bytes"] = second["bytes_uploaded"]

        started = time.perf_counter()
        await sc.create_volume(RESTORED, 1, snapshot_id=SNAP_2)
        restored = await until(lambda: _volume(sc, RESTORED), "creating")
        r["restore"] = time.perf_counter() - started
        assert restored["state"] == "available", restored
        same = [await asyncio.to_thread(_digest, p) for p in
                (path, runners[0].app[VOLUMES].path_of(RESTORED))]
        assert same[0] == same[1], "the restored volume differs"

        r["s3_put"], r["s3_get"] = await asyncio.to_thread(s3_peer, s3_url, body)
    finally:
        await sc.close()
        await stop_sites(runners)
        stop_tgtd(tgt_control)
    return r


async def _snap(sc: StorageClient, snapshot_id: str) -> dict:
    return (await sc.describe_snapshots([snapshot_id]))[0]


async def _volume(sc: StorageClient, volume_id: str) -> dict:
    return next(v for v in await sc.describe_volumes() if v["volume_id"] == volume_id)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MIB):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--written-mib", type=int, default=256)
    parser.add_argument("--changed-mib", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ebs-bench-", dir=ROOT / "bench"))
    try:
        r = asyncio.run(run(work, args.written_mib, args.changed_mib))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mib = args.written_mib
    print(f"1 GiB volume, {mib} MiB random data written in 1 MiB pieces; {args.changed_mib} "
          "MiB changed before the second snapshot")
    print(f"{'measure':52} {'snapshot':>10} {'S3 peer':>10}  ratio")
    print(f"{'create_snapshot answers (point-in-time copy) s':52} {r['copy']:10.2f}")
    print(f"{'first snapshot: create -> completed s':52} {r['snap1']:10.2f}")
    print(f"{'first snapshot MiB uploaded':52} {r['snap1_bytes'] / MIB:10.1f}")
    up, put = mib / r["snap1_upload"], mib / r["s3_put"]
    print(f"{'upload MiB/s (vs one boto3 put_object)':52} {up:10.0f} {put:10.0f}  "
          f"{up / put:.2f}x")
    print(f"{'second snapshot: create -> completed s':52} {r['snap2']:10.2f}")
    print(f"{'second snapshot MiB uploaded':52} {r['snap2_bytes'] / MIB:10.1f} "
          f"{args.changed_mib:10d}  (target)")
    fill, get = mib / r["restore"], mib / r["s3_get"]
    print(f"{'restore: create_volume -> available s':52} {r['restore']:10.2f} "
          f"{r['s3_get']:10.2f}")
    print(f"{'restore MiB/s (vs one boto3 get_object)':52} {fill:10.0f} {get:10.0f}  "
          f"{fill / get:.2f}x")
    # A restore ends with the bytes durable on the SC's disk, as a PUT does on Walrus's.
    print(f"{'restore MiB/s (vs put_object: both write and fsync)':52} {fill:10.0f} "
          f"{put:10.0f}  {fill / put:.2f}x")


if __name__ == "__main__":
    main()
