"""The SC's metadata database (sqlite, WAL, synchronous=FULL): volumes, their
exports, and snapshots with the chunks each holds. Writes are few (a create, an
attach, a snapshot's batch of chunks), so every unit of work is one function run
in a worker thread under one lock, inside its own BEGIN IMMEDIATE ... COMMIT: it
commits or rolls back whole, and no caller hears "done" first."""
from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, TypeVar

from mallee import migrations
from mallee.files import private_file

MIGRATIONS = resources.files("ebs") / "migrations"
T = TypeVar("T")


@dataclass(frozen=True)
class Volume:
    volume_id: str
    size_gib: int
    tid: int
    created: float
    state: str = "available"        # creating while filled from a snapshot; error if that failed
    snapshot_id: str | None = None  # the snapshot it was made from
    message: str | None = None      # why a fill failed


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    volume_id: str
    size_gib: int
    size_bytes: int
    state: str                      # pending (uploading) | completed | error
    progress: int
    bytes_uploaded: int
    message: str | None
    created: float


@dataclass(frozen=True)
class Export:
    volume_id: str
    initiator: str
    chap_user: str
    chap_sealed: bytes


class Metadata:
    def __init__(self, path: Path):
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        def connect():
            private_file(self.path)  # volume records and sealed CHAP secrets: owner only
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            migrations.apply(conn, MIGRATIONS)
            return conn
        self._conn = await asyncio.to_thread(connect)

    async def close(self) -> None:
        if self._conn is not None:
            await asyncio.to_thread(self._conn.close)
            self._conn = None

    async def unit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(conn)` as one transaction."""
        async with self._lock:
            job = asyncio.ensure_future(asyncio.to_thread(self._transaction, work))
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                # The thread goes on: keep the lock (and the connection) until it is done,
                # so no other unit, and no close(), runs on the connection beside it.
                await asyncio.wait([job])
                raise

    def _transaction(self, work):
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # --- reads and writes (each one unit) ------------------------------------------
    async def totals(self) -> tuple[dict[str, tuple[int, int]], dict[str, int], int]:
        """For the metrics: {volume state: (volumes, GiB)}, {snapshot state: snapshots}
        and the number of exports. The SC's tables hold its volumes, not its tenants'
        data (thousands of rows at most): grouping them is well under a millisecond."""
        def read(c):
            volumes = {state: (n, gib) for state, n, gib in c.execute(
                "SELECT state, COUNT(*), COALESCE(SUM(size_gib), 0) FROM volumes "
                "GROUP BY state")}
            snapshots = dict(c.execute("SELECT state, COUNT(*) FROM snapshots GROUP BY state")
                             .fetchall())
            exports = c.execute("SELECT COUNT(*) FROM exports").fetchone()[0]
            return volumes, snapshots, exports
        return await self.unit(read)

    async def volume(self, volume_id: str) -> Volume | None:
        row = await self.unit(lambda c: c.execute(
            "SELECT * FROM volumes WHERE volume_id=?", (volume_id,)).fetchone())
        return Volume(**row) if row else None

    async def volumes(self) -> list[Volume]:
        rows = await self.unit(lambda c: c.execute(
            "SELECT * FROM volumes ORDER BY volume_id").fetchall())
        return [Volume(**r) for r in rows]

    async def exports(self, volume_id: str | None = None) -> list[Export]:
        sql, args = "SELECT * FROM exports", ()
        if volume_id is not None:
            sql, args = sql + " WHERE volume_id=?", (volume_id,)
        rows = await self.unit(lambda c: c.execute(sql + " ORDER BY volume_id, initiator",
                                                   args).fetchall())
        return [Export(**r) for r in rows]

    async def snapshot(self, snapshot_id: str) -> Snapshot | None:
        row = await self.unit(lambda c: c.execute(
            "SELECT * FROM snapshots WHERE snapshot_id=?", (snapshot_id,)).fetchone())
        return Snapshot(**row) if row else None

    async def snapshots(self, ids: list[str] | None = None) -> list[Snapshot]:
        rows = await self.unit(lambda c: c.execute(
            "SELECT * FROM snapshots ORDER BY snapshot_id").fetchall())
        return [Snapshot(**r) for r in rows if ids is None or r["snapshot_id"] in ids]

    async def chunk_counts(self) -> dict[str, int]:
        rows = await self.unit(lambda c: c.execute(
            "SELECT snapshot_id, count(*) FROM snapshot_chunks GROUP BY snapshot_id").fetchall())
        return {r[0]: r[1] for r in rows}

    async def chunks_of(self, snapshot_id: str) -> dict[int, str]:
        rows = await self.unit(lambda c: c.execute(
            "SELECT idx, sha256 FROM snapshot_chunks WHERE snapshot_id=?",
            (snapshot_id,)).fetchall())
        return {r[0]: r[1] for r in rows}
