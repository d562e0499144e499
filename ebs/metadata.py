"""The SC's metadata database (sqlite, WAL, synchronous=FULL): volumes and their
exports. Writes are rare (a create, an attach), so every unit of work is one
function run in a worker thread under one lock, inside its own BEGIN IMMEDIATE
... COMMIT: it commits or rolls back whole, and no caller hears "done" first."""
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
            return await asyncio.to_thread(self._transaction, work)

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
