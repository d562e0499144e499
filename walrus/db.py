"""Walrus's sqlite metadata database.

Every write is one Python function run as one transaction on a single writer
thread, so concurrent requests never interleave statements; reads use a
second connection on its own thread (WAL lets them proceed during writes).
synchronous=FULL: a transaction is on disk before the request is answered.
"""
from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files("walrus").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, sql in _migrations():
        if number > version:
            conn.executescript(f"BEGIN; {sql}; PRAGMA user_version={number}; COMMIT;")


class Database:
    def __init__(self, path: Path):
        self.path = path
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="walrus-db-w")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="walrus-db-r")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None

    async def open(self) -> None:
        def setup():
            self._wconn = _connect(self.path)
            migrate(self._wconn)
        await self._on(self._writer, setup)
        self._rconn = await self._on(self._reader, lambda: _connect(self.path))

    async def close(self) -> None:
        for pool, conn in ((self._writer, self._wconn), (self._reader, self._rconn)):
            if conn is not None:
                await self._on(pool, conn.close)
            pool.shutdown(wait=True)

    @staticmethod
    async def _on(pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) as one transaction; an exception rolls it back."""
        def run():
            conn = self._wconn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        return await self._on(self._writer, run)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run():
            conn = self._rconn
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        return await self._on(self._reader, run)

    async def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return await self.read(lambda c: c.execute(sql, args).fetchone())

    async def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return await self.read(lambda c: c.execute(sql, args).fetchall())
