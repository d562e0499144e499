"""The SC's snapshot chunks and manifests (docs/ebs.md, "Snapshots"): files under
Walrus's data directory, reached only through Walrus's RPC port by the role `sc`,
never through the S3 API (no bucket, no key, no tenant's credential names them).

A chunk's name is the SHA-256 of its bytes, checked here before it is kept, so a
chunk is written once however many snapshots hold it, and writing it again is a
no-op. Walrus keeps no count of who uses a chunk: the SC's database is the
reference count, and the SC asks for a chunk's deletion only when no snapshot it
records uses it. A chunk is written to a temporary file, fsynced, renamed into
place and its directory fsynced, so a crash leaves a whole chunk or none
(temporary files left behind are removed at start).

    chunks/ab/abcdef...     one file per chunk (0600; directories 0700)
    manifests/snap-....json the snapshot's manifest, as the SC wrote it
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from mallee import errors
from mallee.files import fsync_path, private_dir, write_atomic
from walrus import errors as s3_errors
from walrus.ids import unique_hex

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8,17}$")
MAX_CHUNK = 4 << 20        # the SC sends 1 MiB; room for a larger chunk size later
MAX_MANIFEST = 64 << 20    # 16 TiB of 1 MiB chunks is ~1.5 GiB of JSON; 64 MiB covers 600 GiB
MAX_BATCH = 4096           # hashes per chunks_missing / chunks_delete call


def check_hash(name) -> str:
    if not isinstance(name, str) or not SHA256_HEX.match(name):
        raise errors.InvalidParameterValue(f"Not a SHA-256 in hex: {name!r}.")
    return name


def check_hashes(names) -> list[str]:
    if not isinstance(names, list) or len(names) > MAX_BATCH:
        raise errors.InvalidParameterValue(f"chunks must be a list of at most {MAX_BATCH} "
                                           "SHA-256 hashes.")
    return [check_hash(n) for n in names]


def check_snapshot_id(snapshot_id) -> str:
    if not isinstance(snapshot_id, str) or not SNAPSHOT_ID.match(snapshot_id):
        raise errors.InvalidParameterValue(f"Not a snapshot id: {snapshot_id!r}.")
    return snapshot_id


class ChunkStore:
    """Blocking calls: the RPC handlers run them with asyncio.to_thread."""

    def __init__(self, data: Path):
        self.chunks = data / "chunks"
        self.manifests = data / "manifests"

    def setup(self) -> None:
        """Root-only directories (tenants' data); half-written chunks left by a crash go."""
        for top in (self.chunks, self.manifests):
            private_dir(top)
        for sub in self.chunks.iterdir():
            for entry in os.scandir(sub):
                if entry.name.startswith("."):
                    os.unlink(entry.path)

    def path(self, sha: str) -> Path:
        return self.chunks / sha[:2] / sha

    # --- chunks --------------------------------------------------------------------
    def put(self, sha: str, body: bytes) -> bool:
        """Keep `body` as chunk `sha` once its hash is checked; False if already kept."""
        check_hash(sha)
        if len(body) > MAX_CHUNK:
            raise errors.InvalidParameterValue(f"A chunk is at most {MAX_CHUNK} bytes.")
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha:
            raise s3_errors.BadDigest(f"The body's SHA-256 is {actual}, not {sha}.")
        path = self.path(sha)
        if path.exists():
            return False
        private_dir(path.parent)
        tmp = path.with_name(f".{sha}.{unique_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, path)  # two writers of one chunk: the same bytes, either wins
        fsync_path(path.parent)
        return True

    def get(self, sha: str) -> bytes:
        check_hash(sha)
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise s3_errors.NoSuchKey(f"No chunk {sha}.") from None

    def missing(self, shas: list[str]) -> list[str]:
        return [s for s in dict.fromkeys(check_hashes(shas)) if not self.path(s).exists()]

    def delete(self, shas: list[str]) -> int:
        deleted, dirs = 0, set()
        for sha in dict.fromkeys(check_hashes(shas)):
            try:
                self.path(sha).unlink()
            except FileNotFoundError:
                continue
            deleted += 1
            dirs.add(self.path(sha).parent)
        for directory in dirs:
            fsync_path(directory)
        return deleted

    # --- manifests -----------------------------------------------------------------
    def put_manifest(self, snapshot_id: str, body: bytes) -> None:
        check_snapshot_id(snapshot_id)
        if len(body) > MAX_MANIFEST:
            raise errors.InvalidParameterValue(f"A manifest is at most {MAX_MANIFEST} bytes.")
        try:
            if not isinstance(json.loads(body), dict):
                raise ValueError
        except ValueError:
            raise errors.InvalidParameterValue("A manifest is a JSON object.") from None
        write_atomic(self.manifests / f"{snapshot_id}.json", body, mode=0o600)

    def get_manifest(self, snapshot_id: str) -> bytes:
        check_snapshot_id(snapshot_id)
        try:
            return (self.manifests / f"{snapshot_id}.json").read_bytes()
        except FileNotFoundError:
            raise errors.InvalidSnapshotNotFound(
                f"No manifest for snapshot {snapshot_id}.") from None

    def delete_manifest(self, snapshot_id: str) -> bool:
        check_snapshot_id(snapshot_id)
        path = self.manifests / f"{snapshot_id}.json"
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_path(self.manifests)
        return True
