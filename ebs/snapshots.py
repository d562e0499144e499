"""Snapshots (docs/ebs.md, "Snapshots"): a point-in-time copy of a volume's file,
uploaded to Walrus in 1 MiB chunks named by their SHA-256, all-zero chunks
skipped; and volumes filled back from those chunks.

- The copy is taken before create_snapshot answers: a reflink (FICLONE, `cp
  --reflink=always`) where the filesystem has them (XFS, btrfs), else a sparse
  copy while the volume's tgt target is offline (its initiators stall, then
  retry). The copy is immutable, so the upload that follows in the background
  reads one instant of the volume whatever the guest writes meanwhile.
- Walrus is asked which chunks it lacks, in batches, and only those are sent
  (at most IN_FLIGHT at a time): a second snapshot of a volume sends what
  changed, and equal chunks of any volume are stored once.
- sc.db records every snapshot's chunks and is their reference count: a chunk
  is deleted from Walrus only when no snapshot row uses it (and no fill is
  reading it). `_refs` orders "record a reference, then ask Walrus" against
  "find a chunk unused, then delete it", so a chunk found present is never
  deleted under a snapshot that is about to use it.
- A restarted SC resumes each pending snapshot from its copy (one whose copy is
  gone becomes `error`) and each fill that was under way.

Every call is idempotent on its ids.
"""
from __future__ import annotations

import asyncio
import collections
import errno
import hashlib
import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

from ebs.metadata import Metadata, Snapshot
from ebs.volumes import Volumes, check_volume_id
from mallee import errors
from mallee.files import fsync_path, private_dir
from mallee.rpc import Unreachable
from walrus.rpc_client import WalrusClient

log = logging.getLogger(__name__)

CHUNK = 1 << 20
BATCH = 64              # chunks hashed, asked about and recorded together
IN_FLIGHT = 8           # chunk uploads (or downloads, for a fill) at a time: Walrus
                        # fsyncs each chunk, and 8 overlap those (4 gave 0.67x a PUT)
RETRY_SECONDS = (1, 2, 5, 10, 30)  # waits while Walrus is unreachable
SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8,17}$")
ZERO = bytes(CHUNK)
T = TypeVar("T")


def check_snapshot_id(snapshot_id) -> str:
    """Snapshot ids name files: nothing but EC2's own form gets that far."""
    if not isinstance(snapshot_id, str) or not SNAPSHOT_ID.match(snapshot_id):
        raise errors.InvalidParameterValue(f"Not a snapshot id: {snapshot_id!r}.")
    return snapshot_id


def _not_found(snapshot_id: str) -> errors.ApiError:
    return errors.InvalidSnapshotNotFound(f"The snapshot '{snapshot_id}' does not exist.")


class Snapshots:
    def __init__(self, meta: Metadata, volumes: Volumes, walrus: WalrusClient, copies: Path):
        self.meta = meta
        self.volumes = volumes
        self.walrus = walrus
        self.copies = copies
        self._uploads: dict[str, asyncio.Task] = {}
        self._fills: dict[str, asyncio.Task] = {}
        self._pinned: collections.Counter[str] = collections.Counter()  # chunks fills read
        self._refs = asyncio.Lock()
        self._copying = asyncio.Lock()  # one point-in-time copy at a time
        self._collector: asyncio.Task | None = None

    def copy_of(self, snapshot_id: str) -> Path:
        return self.copies / f"{snapshot_id}.copy"

    # --- start and stop ------------------------------------------------------------
    async def start(self) -> None:
        """Resume what a stopped SC left: pending uploads (from their copies), fills,
        and chunks waiting to be deleted from Walrus. Copies no pending row names go."""
        private_dir(self.copies)  # tenants' data: root only
        pending = {s.snapshot_id for s in await self.meta.snapshots() if s.state == "pending"}
        for path in self.copies.iterdir():
            if path.suffix != ".copy" or path.stem not in pending:
                log.warning("removing %s: no pending snapshot uses it", path)
                path.unlink()
        for snapshot_id in sorted(pending):
            if self.copy_of(snapshot_id).exists():
                self._spawn_upload(snapshot_id)
            else:
                await self._failed(snapshot_id, "The snapshot's copy was lost before it "
                                                "was uploaded.")
        for volume in await self.meta.volumes():
            if volume.state == "creating" and volume.snapshot_id:
                self._spawn_fill(volume.volume_id, volume.snapshot_id)
        self._collector = self._background(self._collect(), "deletion of leftovers")

    async def stop(self) -> None:
        tasks = [*self._uploads.values(), *self._fills.values()]
        if self._collector is not None:
            tasks.append(self._collector)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.walrus.close()

    def _background(self, work, what: str) -> asyncio.Task:
        task = asyncio.create_task(work, name=what)
        task.add_done_callback(lambda t: t.cancelled() or not t.exception() or log.error(
            "%s failed", what, exc_info=t.exception()))
        return task

    # --- snapshots -----------------------------------------------------------------
    async def create(self, snapshot_id: str, volume_id: str) -> dict:
        check_snapshot_id(snapshot_id)
        check_volume_id(volume_id)
        async with self._copying:
            have = await self.meta.snapshot(snapshot_id)
            if have is not None:
                if have.volume_id != volume_id:
                    raise errors.InvalidParameterValue(
                        f"{snapshot_id} is a snapshot of {have.volume_id}, not {volume_id}.")
                return await self._describe_one(have)
            volume = await self.meta.volume(volume_id)
            if volume is None:
                raise errors.InvalidVolumeNotFound(f"The volume '{volume_id}' does not exist.")
            if volume.state != "available":
                raise errors.IncorrectState(f"Volume {volume_id} is {volume.state}.")
            copy = self.copy_of(snapshot_id)
            await self._point_in_time_copy(volume.tid, self.volumes.path_of(volume_id), copy)
            size = copy.stat().st_size
            snap = Snapshot(snapshot_id, volume_id, volume.size_gib, size, "pending", 0, 0,
                            None, time.time())
            await self.meta.unit(lambda c: _insert(c, snap))
        self._spawn_upload(snapshot_id)
        return await self._describe_one(snap)

    async def _point_in_time_copy(self, tid: int, source: Path, copy: Path) -> None:
        """`copy` holds the volume as it was at one instant, durably. The copy is made
        under a temporary name and renamed once whole, so a crash leaves no half copy
        with a name start() would resume from."""
        tmp = copy.with_name(f".{copy.name}.tmp")
        try:
            if not await _cp("--reflink=always", source, tmp):
                # No reflinks here (ext4): no writes may land while the bytes are read.
                async with self.volumes.tgt.quiesced(tid):
                    if not await _cp("--sparse=always", source, tmp):
                        raise errors.InternalError(f"Could not copy {source} for a snapshot.")
            await asyncio.to_thread(_durable_rename, tmp, copy)
        finally:
            tmp.unlink(missing_ok=True)

    def _spawn_upload(self, snapshot_id: str) -> None:
        if snapshot_id not in self._uploads:
            task = self._background(self._upload(snapshot_id), f"upload of {snapshot_id}")
            self._uploads[snapshot_id] = task
            task.add_done_callback(lambda _: self._uploads.pop(snapshot_id, None))

    async def _upload(self, snapshot_id: str) -> None:
        await self._patiently(f"upload of {snapshot_id}", lambda: self._upload_once(snapshot_id),
                              lambda message: self._failed(snapshot_id, message))

    async def _patiently(self, what: str, work: Callable[[], Awaitable[None]],
                         failed: Callable[[str], Awaitable[None]]) -> None:
        """Run work() to its end, again after each wait of RETRY_SECONDS while Walrus
        is unreachable; a lasting outage or any other error goes to failed(message)."""
        for wait in (*RETRY_SECONDS, None):
            try:
                await work()
                return
            except Unreachable as exc:
                if wait is None:
                    await failed(f"Walrus is unreachable: {exc.message}")
                    return
                log.warning("%s: %s; again in %d s", what, exc.message, wait)
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded in the row, and logged
                log.exception("%s failed", what)
                await failed(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
                return

    async def _upload_once(self, snapshot_id: str) -> None:
        """Send the copy's chunks Walrus lacks, then the manifest; then `completed`.
        Run again after a failure or a restart it records and sends only what is left
        (the chunks rows are idempotent, and chunks Walrus has are not sent)."""
        snap = await self.meta.snapshot(snapshot_id)
        copy = self.copy_of(snapshot_id)
        indexes = await asyncio.to_thread(_data_chunks, copy, snap.size_bytes)
        batches = [indexes[i:i + BATCH] for i in range(0, len(indexes), BATCH)]
        sent = [snap.bytes_uploaded]  # bytes sent so far, counted as each chunk is
        hashing = asyncio.ensure_future(asyncio.to_thread(_hash_chunks, copy, batches[0])) \
            if batches else None
        try:
            for n, _ in enumerate(batches):
                hashed = await hashing
                # The next batch is read and hashed on a thread while this one is sent.
                hashing = asyncio.ensure_future(asyncio.to_thread(
                    _hash_chunks, copy, batches[n + 1])) if n + 1 < len(batches) else None
                async with self._refs:
                    await self.meta.unit(lambda c: _record_chunks(c, snapshot_id, hashed))
                    missing = await self.walrus.chunks_missing(sorted(set(hashed.values())))
                await self._send(copy, hashed, missing, sent)
                await self._progress(snapshot_id, min(99, (n + 1) * 100 // len(batches)),
                                     sent[0])
        except asyncio.CancelledError:
            # Stopped (an SC stop, a delete): what was sent stays counted for the resume.
            await asyncio.shield(self._progress(snapshot_id, None, sent[0]))
            raise
        finally:
            if hashing is not None:
                hashing.cancel()
        await self.walrus.put_manifest(snapshot_id, await self._manifest(snap))
        await self.meta.unit(lambda c: c.execute(
            "UPDATE snapshots SET state='completed', progress=100 WHERE snapshot_id=?",
            (snapshot_id,)))
        await asyncio.to_thread(copy.unlink, missing_ok=True)
        log.info("snapshot %s completed: %d bytes sent", snapshot_id, sent[0])

    async def _progress(self, snapshot_id: str, progress: int | None, uploaded: int) -> None:
        await self.meta.unit(lambda c: c.execute(
            "UPDATE snapshots SET progress=coalesce(?, progress), bytes_uploaded=? "
            "WHERE snapshot_id=?", (progress, uploaded, snapshot_id)))

    async def _send(self, copy: Path, hashed: dict[int, str], missing: list[str],
                    sent: list[int]) -> None:
        """Upload the `missing` chunks, IN_FLIGHT at a time; sent[0] counts their bytes."""
        first: dict[str, int] = {}
        for idx, sha in hashed.items():
            first.setdefault(sha, idx)

        async def put(sha: str) -> None:
            body = await asyncio.to_thread(_read_chunk, copy, first[sha])
            await self.walrus.put_chunk(sha, body)
            sent[0] += len(body)
        await _in_flight([sha for sha in missing if sha in first], put)

    async def _manifest(self, snap: Snapshot) -> dict:
        chunks = await self.meta.chunks_of(snap.snapshot_id)
        return {"snapshot_id": snap.snapshot_id, "volume_id": snap.volume_id,
                "size": snap.size_bytes, "size_gib": snap.size_gib, "chunk_size": CHUNK,
                "chunks": {str(i): chunks[i] for i in sorted(chunks)}}

    async def _failed(self, snapshot_id: str, message: str) -> None:
        await self.meta.unit(lambda c: c.execute(
            "UPDATE snapshots SET state='error', message=? WHERE snapshot_id=?",
            (message, snapshot_id)))
        await asyncio.to_thread(self.copy_of(snapshot_id).unlink, missing_ok=True)

    async def delete(self, snapshot_id: str) -> dict:
        """Cancel its upload, remove its rows, then delete from Walrus the chunks no
        other snapshot uses and its manifest. A snapshot already gone is fine."""
        check_snapshot_id(snapshot_id)
        async with self._copying:  # not while its own copy is being taken
            upload = self._uploads.get(snapshot_id)
        if upload is not None:
            upload.cancel()
            await asyncio.gather(upload, return_exceptions=True)

        def remove(conn: sqlite3.Connection) -> bool:
            held = [r[0] for r in conn.execute(
                "SELECT DISTINCT sha256 FROM snapshot_chunks WHERE snapshot_id=?",
                (snapshot_id,))]
            existed = conn.execute("DELETE FROM snapshots WHERE snapshot_id=?",
                                   (snapshot_id,)).rowcount > 0
            conn.executemany("INSERT OR IGNORE INTO chunk_garbage VALUES (?)",
                             [(sha,) for sha in held])
            conn.execute("INSERT OR IGNORE INTO manifest_garbage VALUES (?)", (snapshot_id,))
            return existed
        async with self._refs:
            existed = await self.meta.unit(remove)
        await asyncio.to_thread(self.copy_of(snapshot_id).unlink, missing_ok=True)
        await self._collect()
        return {"snapshot_id": snapshot_id, "deleted": existed}

    async def _collect(self) -> None:
        """Delete from Walrus what deleted snapshots left: their manifests, and the
        chunks in chunk_garbage that no snapshot uses (nor a fill reads); chunks some
        snapshot took up again just leave the list. Walrus unreachable: all of it
        waits for the next delete or SC start."""
        async with self._refs:
            def leftovers(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
                conn.execute("DELETE FROM chunk_garbage WHERE sha256 IN "
                             "(SELECT sha256 FROM snapshot_chunks)")
                return ([r[0] for r in conn.execute("SELECT snapshot_id FROM manifest_garbage")],
                        [r[0] for r in conn.execute("SELECT sha256 FROM chunk_garbage")])
            manifests, chunks = await self.meta.unit(leftovers)
            chunks = [sha for sha in chunks if not self._pinned[sha]]
            try:
                for snapshot_id in manifests:
                    await self.walrus.delete_manifest(snapshot_id)
                    await self.meta.unit(lambda c: c.execute(
                        "DELETE FROM manifest_garbage WHERE snapshot_id=?", (snapshot_id,)))
                for i in range(0, len(chunks), 1024):
                    batch = chunks[i:i + 1024]
                    await self.walrus.chunks_delete(batch)
                    await self.meta.unit(lambda c: c.executemany(
                        "DELETE FROM chunk_garbage WHERE sha256=?", [(s,) for s in batch]))
            except Unreachable as exc:
                log.warning("deleting snapshots' data from Walrus: %s (later)", exc.message)

    async def copy(self, source_id: str, snapshot_id: str) -> dict:
        """A new completed snapshot holding the source's chunks (nothing is uploaded:
        the rows are copied, and a manifest of its own goes to Walrus)."""
        check_snapshot_id(source_id)
        check_snapshot_id(snapshot_id)
        have = await self.meta.snapshot(snapshot_id)
        if have is not None:
            return await self._describe_one(have)
        source = await self.meta.snapshot(source_id)
        if source is None:
            raise _not_found(source_id)
        if source.state != "completed":
            raise errors.IncorrectState(f"Snapshot {source_id} is {source.state}.")
        snap = Snapshot(snapshot_id, source.volume_id, source.size_gib, source.size_bytes,
                        "completed", 100, 0, None, time.time())
        manifest = await self._manifest(source)
        await self.walrus.put_manifest(snapshot_id, {**manifest, "snapshot_id": snapshot_id})

        def insert(conn: sqlite3.Connection) -> None:
            if not conn.execute("SELECT 1 FROM snapshots WHERE snapshot_id=?",
                                (source_id,)).fetchone():
                raise _not_found(source_id)  # deleted while the manifest was sent
            if conn.execute("SELECT 1 FROM snapshots WHERE snapshot_id=?",
                            (snapshot_id,)).fetchone():
                return  # a copy asked twice at once
            _insert(conn, snap)
            conn.execute("INSERT OR IGNORE INTO snapshot_chunks SELECT ?, idx, sha256 "
                         "FROM snapshot_chunks WHERE snapshot_id=?", (snapshot_id, source_id))
        async with self._refs:
            await self.meta.unit(insert)
        return await self._describe_one(await self.meta.snapshot(snapshot_id))

    async def describe(self, snapshot_ids: list[str] | None = None) -> list[dict]:
        if snapshot_ids is not None:
            if not isinstance(snapshot_ids, list):
                raise errors.InvalidParameterValue("snapshot_ids must be a list.")
            for snapshot_id in snapshot_ids:
                check_snapshot_id(snapshot_id)
        snaps = await self.meta.snapshots(snapshot_ids)
        if snapshot_ids is not None:
            found = {s.snapshot_id for s in snaps}
            for snapshot_id in snapshot_ids:
                if snapshot_id not in found:
                    raise _not_found(snapshot_id)
        counts = await self.meta.chunk_counts()
        return [_describe(s, counts.get(s.snapshot_id, 0)) for s in snaps]

    async def _describe_one(self, snap: Snapshot) -> dict:
        return _describe(snap, len(await self.meta.chunks_of(snap.snapshot_id)))

    # --- volumes made from snapshots -----------------------------------------------
    async def create_volume(self, volume_id: str, size_gib: int,
                            snapshot_id: str | None = None) -> dict:
        """A volume; from a snapshot it is `creating` until its file is filled from
        Walrus (chunks written where they were, zeros left as holes) and fsynced."""
        if snapshot_id is None:
            return await self.volumes.create(volume_id, size_gib)
        check_volume_id(volume_id)
        check_snapshot_id(snapshot_id)
        if await self.meta.volume(volume_id) is None:  # asked again: the volume answers,
            snap = await self.meta.snapshot(snapshot_id)  # even once its snapshot is gone
            if snap is None:
                raise _not_found(snapshot_id)
            if snap.state != "completed":
                raise errors.IncorrectState(f"Snapshot {snapshot_id} is {snap.state}.")
            if isinstance(size_gib, int) and size_gib < snap.size_gib:
                raise errors.InvalidParameterValue(
                    f"A volume from {snapshot_id} needs at least {snap.size_gib} GiB.")
        made = await self.volumes.create(volume_id, size_gib, snapshot_id)
        if made["state"] == "creating":
            self._spawn_fill(volume_id, snapshot_id)
        return made

    async def delete_volume(self, volume_id: str) -> dict:
        check_volume_id(volume_id)
        fill = self._fills.get(volume_id)
        if fill is not None:
            fill.cancel()
            await asyncio.gather(fill, return_exceptions=True)
        return await self.volumes.delete(volume_id)

    def _spawn_fill(self, volume_id: str, snapshot_id: str) -> None:
        if volume_id not in self._fills:
            task = self._background(self._fill(volume_id, snapshot_id), f"fill of {volume_id}")
            self._fills[volume_id] = task
            task.add_done_callback(lambda _: self._fills.pop(volume_id, None))

    async def _fill(self, volume_id: str, snapshot_id: str) -> None:
        chunks = await self.meta.chunks_of(snapshot_id)
        self._pinned.update(chunks.values())
        try:
            await self._patiently(f"fill of {volume_id}",
                                  lambda: self._fill_once(volume_id, chunks),
                                  lambda message: self.volumes.set_state(volume_id, "error",
                                                                         message))
        finally:
            self._pinned.subtract(chunks.values())

    async def _fill_once(self, volume_id: str, chunks: dict[int, str]) -> None:
        path = self.volumes.path_of(volume_id)

        async def get(item: tuple[int, str]) -> None:
            idx, sha = item
            await asyncio.to_thread(_write_chunk, path, idx, sha,
                                    await self.walrus.get_chunk(sha))
        await _in_flight(sorted(chunks.items()), get)
        await asyncio.to_thread(fsync_path, path)
        await self.volumes.set_state(volume_id, "available")
        log.info("volume %s filled (%d chunks)", volume_id, len(chunks))


async def _in_flight(items: list[T], work: Callable[[T], Awaitable[None]]) -> None:
    """work(item) for each item in order, IN_FLIGHT at a time; the first failure is
    raised as itself (Unreachable stays Unreachable), the others are stopped."""
    todo = items[::-1]

    async def worker():
        while todo:
            await work(todo.pop())
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(IN_FLIGHT, len(todo))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


def _describe(snap: Snapshot, chunks: int) -> dict:
    return {"snapshot_id": snap.snapshot_id, "volume_id": snap.volume_id,
            "size_gib": snap.size_gib, "state": snap.state, "progress": snap.progress,
            "bytes_uploaded": snap.bytes_uploaded, "chunks": chunks, "message": snap.message,
            "created": snap.created}


def _insert(conn: sqlite3.Connection, snap: Snapshot) -> None:
    conn.execute("INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?,?)",
                 (snap.snapshot_id, snap.volume_id, snap.size_gib, snap.size_bytes, snap.state,
                  snap.progress, snap.bytes_uploaded, snap.message, snap.created))
    # An id deleted and made again: its new manifest is not the old one's leftover.
    conn.execute("DELETE FROM manifest_garbage WHERE snapshot_id=?", (snap.snapshot_id,))


def _record_chunks(conn: sqlite3.Connection, snapshot_id: str, hashed: dict[int, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO snapshot_chunks VALUES (?,?,?)",
                     [(snapshot_id, idx, sha) for idx, sha in hashed.items()])
    conn.executemany("DELETE FROM chunk_garbage WHERE sha256=?",
                     [(sha,) for sha in set(hashed.values())])


async def _cp(*args) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "cp", *map(str, args), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        log.debug("cp %s: %s", " ".join(map(str, args)), err.decode(errors="replace").strip())
    return proc.returncode == 0


def _durable_rename(tmp: Path, path: Path) -> None:
    os.chmod(tmp, 0o600)
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def _data_chunks(path: Path, size: int) -> list[int]:
    """Indexes of the chunks that hold any data extent (SEEK_DATA / SEEK_HOLE): the
    holes of a sparse file are zeros and are never read."""
    indexes: list[int] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data past pos
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            first = start // CHUNK
            if indexes and indexes[-1] >= first:
                first = indexes[-1] + 1
            indexes.extend(range(first, (end - 1) // CHUNK + 1))
            pos = end
    finally:
        os.close(fd)
    return indexes


def _read_chunk(path: Path, idx: int) -> bytes:
    with open(path, "rb", buffering=0) as f:
        return os.pread(f.fileno(), CHUNK, idx * CHUNK)


def _hash_chunks(path: Path, indexes: list[int]) -> dict[int, str]:
    """SHA-256 of each chunk in `indexes` that is not all zeros."""
    hashed = {}
    with open(path, "rb", buffering=0) as f:
        for idx in indexes:
            body = os.pread(f.fileno(), CHUNK, idx * CHUNK)
            if body != ZERO[:len(body)]:
                hashed[idx] = hashlib.sha256(body).hexdigest()
    return hashed


def _write_chunk(path: Path, idx: int, sha: str, body: bytes) -> None:
    """A chunk written at its place (a file descriptor of its own: a cancelled fill
    never closes one under a thread still writing)."""
    actual = hashlib.sha256(body).hexdigest()
    if actual != sha:  # Walrus checked it when it was stored; a disk can still rot
        raise errors.InternalError(f"Chunk {sha} read back from Walrus as {actual}.")
    fd = os.open(path, os.O_WRONLY)
    try:
        view, offset = memoryview(body), idx * CHUNK
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
    finally:
        os.close(fd)
