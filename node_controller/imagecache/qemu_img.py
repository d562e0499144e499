"""qemu-img and sparse-file helpers for instance disks.

Every file is made at a temporary name and renamed into place, so a crash
never leaves a half-made disk at the path an instance would use.
"""
from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from mallee.files import fsync_path
from node_controller.imagecache.errors import ImageCacheError

GiB = 2**30


def _tmp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


async def run_qemu_img(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "qemu-img", *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await proc.communicate()
    if proc.returncode:
        detail = stderr.decode(errors="replace").strip().splitlines()
        raise ImageCacheError(f"qemu-img {args[0]} failed: {detail[-1] if detail else proc.returncode}")


async def convert_raw_to_qcow2(raw: Path, qcow2: Path) -> Path:
    # "-f raw" always: probing the format of a user's image would let a raw
    # image that looks like qcow2 name a host file as its backing file.
    tmp = _tmp_beside(qcow2)
    try:
        await run_qemu_img("convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(tmp))
        await asyncio.to_thread(fsync_path, tmp)
        os.replace(tmp, qcow2)
    finally:
        tmp.unlink(missing_ok=True)
    return qcow2


async def make_overlay(base: Path, overlay: Path, size_gb: int | None = None) -> Path:
    """A qcow2 overlay on `base` (grown to size_gb if given): an instance's own root disk."""
    base = Path(base).resolve()  # the overlay records this path; keep it absolute
    tmp = _tmp_beside(Path(overlay))
    args = ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(tmp)]
    if size_gb is not None:
        args.append(f"{int(size_gb)}G")
    try:
        await run_qemu_img(*args)
        os.chmod(tmp, 0o600)  # the guest's disk; libvirt chowns it to QEMU's user
        os.replace(tmp, overlay)
    finally:
        tmp.unlink(missing_ok=True)
    return Path(overlay)


def make_sparse(path: Path, size_gb: int | float) -> Path:
    """A sparse raw file of size_gb GiB (ephemeral disk, swap): no blocks are written."""
    path = Path(path)
    tmp = _tmp_beside(path)
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.truncate(int(size_gb * GiB))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
