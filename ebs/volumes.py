"""The SC's work: volumes as sparse raw files, exported over iSCSI by tgt, one
target per volume with a CHAP account and an ACL entry per attachment (the
`overlay` provider of Eucalyptus). The database is the record; tgtd is made to
match it after every change and whenever it or the SC restarts.

Every call is idempotent on its ids, so a caller that lost an answer asks again.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import sqlite3
import time
from pathlib import Path

from ebs.metadata import Export, Metadata, Volume
from ebs.tgt import Target, Tgt
from mallee import errors
from mallee.files import fsync_path, private_dir
from mallee.pki import SecretBox

log = logging.getLogger(__name__)

MAX_SIZE_GIB = 16384  # EC2's limit for gp2/gp3
IQN = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[A-Za-z0-9.:_-]+)?$")
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")


def check_volume_id(volume_id) -> str:
    """Volume ids name files and IQNs: nothing but EC2's own form gets that far."""
    if not isinstance(volume_id, str) or not VOLUME_ID.match(volume_id):
        raise errors.InvalidParameterValue(f"Not a volume id: {volume_id!r}.")
    return volume_id


class Volumes:
    def __init__(self, meta: Metadata, tgt: Tgt, files: Path, box: SecretBox,
                 target_prefix: str):
        self.meta = meta
        self.tgt = tgt
        self.files = files
        self.box = box
        self.prefix = target_prefix

    def path_of(self, volume_id: str) -> Path:
        return self.files / f"{volume_id}.raw"

    def iqn_of(self, volume_id: str) -> str:
        return f"{self.prefix}:{volume_id}"

    # --- start-up ------------------------------------------------------------------
    async def start(self) -> None:
        """Remove files no volume row names (a create that died before its row), start
        tgtd if it is not running, and make it export what the database says."""
        private_dir(self.files)  # tenants' data: root only
        known = {v.volume_id for v in await self.meta.volumes()}
        for path in self.files.glob("*.raw"):
            if path.stem not in known:
                log.warning("removing %s: no volume record (an interrupted create)", path)
                path.unlink()
        await self.tgt.ensure_running()
        await self.sync_targets()

    async def sync_targets(self) -> None:
        await self.tgt.reconcile(await self._wanted())

    async def _wanted(self) -> list[Target]:
        volumes = {v.volume_id: v for v in await self.meta.volumes()}
        by_volume: dict[str, list[Export]] = {}
        for export in await self.meta.exports():
            by_volume.setdefault(export.volume_id, []).append(export)
        return [Target(volumes[vid].tid, self.iqn_of(vid), str(self.path_of(vid)),
                       {e.chap_user: self.box.open(e.chap_sealed) for e in exports},
                       frozenset(e.initiator for e in exports))
                for vid, exports in by_volume.items()]

    async def watch_tgtd(self, interval: float) -> None:
        """Restart tgtd and re-create its targets whenever it is found gone (kill -9,
        a crash): guests stall meanwhile and resume, QEMU's initiator reconnects."""
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.tgt.ensure_running():
                    log.warning("tgtd was gone: restarted, re-creating its targets")
                    await self.sync_targets()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("tgtd watch failed")

    # --- volumes -------------------------------------------------------------------
    async def create(self, volume_id: str, size_gib: int, snapshot_id: str | None = None,
                     ) -> dict:
        """A sparse file and its row. With `snapshot_id` the row says `creating` until
        the caller (ebs.snapshots) has filled the file and marks it available."""
        check_volume_id(volume_id)
        _check_size(size_gib)
        have = await self.meta.volume(volume_id)
        if have is not None:
            if have.size_gib != size_gib or have.snapshot_id != snapshot_id:
                raise errors.InvalidParameterValue(
                    f"{volume_id} exists with {have.size_gib} GiB from "
                    f"{have.snapshot_id or 'no snapshot'}, not {size_gib} from "
                    f"{snapshot_id or 'no snapshot'}.")
            return self._describe(have, [])
        path = self.path_of(volume_id)
        await asyncio.to_thread(_sparse_file, path, size_gib * 2**30)

        def insert(conn: sqlite3.Connection) -> Volume:
            row = conn.execute("SELECT coalesce(max(tid), 0) + 1 FROM volumes").fetchone()
            volume = Volume(volume_id, size_gib, row[0], time.time(),
                            "creating" if snapshot_id else "available", snapshot_id)
            conn.execute("INSERT INTO volumes (volume_id, size_gib, tid, created, state, "
                         "snapshot_id) VALUES (?,?,?,?,?,?)",
                         (volume.volume_id, volume.size_gib, volume.tid, volume.created,
                          volume.state, volume.snapshot_id))
            return volume
        return self._describe(await self.meta.unit(insert), [])

    async def set_state(self, volume_id: str, state: str, message: str | None = None) -> None:
        await self.meta.unit(lambda c: c.execute(
            "UPDATE volumes SET state=?, message=? WHERE volume_id=?",
            (state, message, volume_id)))

    async def grow(self, volume_id: str, size_gib: int) -> dict:
        """Extend a volume's file to `size_gib` (sparse: the new part takes no space);
        never shrinks it, so asking again, or for its size, answers the same."""
        check_volume_id(volume_id)
        _check_size(size_gib)
        have = await self.meta.volume(volume_id)
        if have is None:
            raise errors.InvalidVolumeNotFound(f"The volume '{volume_id}' does not exist.")
        if size_gib < have.size_gib:
            raise errors.InvalidParameterValue(
                f"{volume_id} has {have.size_gib} GiB: a volume is never shrunk to {size_gib}.")
        # The file first, then the row: a crash between leaves a file larger than its
        # row says, which the next grow (asked again by the CLC) finds already done.
        await asyncio.to_thread(_extend_file, self.path_of(volume_id), size_gib * 2**30)
        await self.meta.unit(lambda c: c.execute(
            "UPDATE volumes SET size_gib=? WHERE volume_id=? AND size_gib<?",
            (size_gib, volume_id, size_gib)))
        return self._describe(await self.meta.volume(volume_id), [])

    async def delete(self, volume_id: str) -> dict:
        """Delete a volume that is exported nowhere; a volume already gone is fine."""
        check_volume_id(volume_id)
        def remove(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM exports WHERE volume_id=?", (volume_id,)).fetchone():
                raise errors.VolumeInUse(f"Volume {volume_id} is exported (attached).")
            return conn.execute("DELETE FROM volumes WHERE volume_id=?",
                                (volume_id,)).rowcount > 0
        existed = await self.meta.unit(remove)
        # The row goes first: a crash now leaves an unnamed file, which start() removes.
        path = self.path_of(volume_id)
        if path.exists():
            await asyncio.to_thread(path.unlink)
            await asyncio.to_thread(fsync_path, self.files)
        return {"volume_id": volume_id, "deleted": existed}

    async def describe(self) -> list[dict]:
        exports: dict[str, list[Export]] = {}
        for export in await self.meta.exports():
            exports.setdefault(export.volume_id, []).append(export)
        return [self._describe(v, exports.get(v.volume_id, []))
                for v in await self.meta.volumes()]

    def _describe(self, volume: Volume, exports: list[Export]) -> dict:
        described = {"volume_id": volume.volume_id, "size_gib": volume.size_gib,
                     "status": volume.state, "state": volume.state, "created": volume.created,
                     "exported_to": [e.initiator for e in exports]}
        if volume.snapshot_id:
            described["snapshot_id"] = volume.snapshot_id
        if volume.message:
            described["message"] = volume.message
        return described

    # --- exports -------------------------------------------------------------------
    async def export(self, volume_id: str, initiator: str) -> dict:
        """Export a volume to one initiator (a node): what its iSCSI client needs to log
        in. Asking again for the same pair gives the same account."""
        check_volume_id(volume_id)
        if not isinstance(initiator, str) or not IQN.match(initiator):
            raise errors.InvalidParameterValue(f"Not an initiator IQN: {initiator!r}.")

        def add(conn: sqlite3.Connection) -> Export:
            volume = conn.execute("SELECT state FROM volumes WHERE volume_id=?",
                                  (volume_id,)).fetchone()
            if volume is None:
                raise errors.InvalidVolumeNotFound(f"The volume '{volume_id}' does not exist.")
            if volume["state"] != "available":
                raise errors.IncorrectState(f"Volume {volume_id} is {volume['state']}.")
            row = conn.execute("SELECT * FROM exports WHERE volume_id=? AND initiator=?",
                               (volume_id, initiator)).fetchone()
            if row:
                return Export(**row)
            export = Export(volume_id, initiator, f"{volume_id}-{secrets.token_hex(4)}",
                            self.box.seal(secrets.token_hex(12)))
            conn.execute("INSERT INTO exports VALUES (?,?,?,?)",
                         (export.volume_id, export.initiator, export.chap_user,
                          export.chap_sealed))
            return export
        export = await self.meta.unit(add)
        await self.sync_targets()
        host, _, port = self.tgt.portal.rpartition(":")
        return {"volume_id": volume_id, "portal": self.tgt.portal, "host": host,
                "port": int(port), "iqn": self.iqn_of(volume_id), "lun": 1,
                "initiator": initiator, "chap_user": export.chap_user,
                "chap_password": self.box.open(export.chap_sealed)}

    async def unexport(self, volume_id: str, initiator: str | None) -> dict:
        """End one initiator's export (None: every one of the volume's): its CHAP
        account and ACL entry go, and the target with the last of them. Unknown
        pairs are fine (already done)."""
        check_volume_id(volume_id)
        if initiator is None:
            sql, args = "DELETE FROM exports WHERE volume_id=?", (volume_id,)
        else:
            sql, args = ("DELETE FROM exports WHERE volume_id=? AND initiator=?",
                         (volume_id, initiator))
        removed = await self.meta.unit(lambda c: c.execute(sql, args).rowcount)
        await self.sync_targets()
        return {"volume_id": volume_id, "initiator": initiator, "removed": bool(removed)}


def _check_size(size_gib) -> None:
    if not isinstance(size_gib, int) or isinstance(size_gib, bool) \
            or not 1 <= size_gib <= MAX_SIZE_GIB:
        raise errors.InvalidParameterValue(
            f"Volume size {size_gib} GiB is outside 1..{MAX_SIZE_GIB}.")


def _extend_file(path: Path, size: int) -> None:
    """The volume's file made `size` bytes long if it is shorter (ftruncate past the
    end adds zeros that take no space), its new length durable before the row says so."""
    fd = os.open(path, os.O_WRONLY)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _sparse_file(path: Path, size: int) -> None:
    """A new all-zero file of `size` bytes that takes no space yet, durable (its
    size and its directory entry) before the volume's row names it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_path(path.parent)
