"""Walrus's sqlite metadata database.

Every write is one Python function run on a single writer thread, so
concurrent requests never interleave statements; reads use a second
connection on its own thread (WAL lets them proceed during writes).

Group commit: writes that arrive while a commit is in progress wait, then go
together as one transaction with one WAL fsync. Each function runs inside
its own SAVEPOINT, so one that raises is rolled back alone and its caller
gets the exception, while the others in the group commit. No caller hears
"done" before the COMMIT that holds its change is on disk (synchronous=FULL);
if that COMMIT fails, every caller in the group gets the error.

A write may name directories that must be durable before its transaction
(the directory of a blob its row will point at): the group fsyncs each one
once, before BEGIN.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Callable, TypeVar

from mallee import migrations
from mallee.files import private_file

MIGRATIONS = resources.files("walrus") / "migrations"
MAX_GROUP = 256  # writes per transaction; bounds a group's latency

T = TypeVar("T")


def _connect(path: Path) -> sqlite3.Connection:
    private_file(path)  # issue 11 #18: tenants' data, owner only (the NC engineer's edit)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Database:
    def __init__(self, path: Path):
        self.path = path
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="walrus-db-w")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="walrus-db-r")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable, tuple, asyncio.Future]] = []
        self._committer: asyncio.Task | None = None

    async def open(self) -> None:
        def setup():
            self._wconn = _connect(self.path)
            migrations.apply(self._wconn, MIGRATIONS)
        await self._on(self._writer, setup)
        self._rconn = await self._on(self._reader, lambda: _connect(self.path))

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.wait([self._committer])
        for pool, conn in ((self._writer, self._wconn), (self._reader, self._rconn)):
            if conn is not None:
                await self._on(pool, conn.close)
            pool.shutdown(wait=True)

    @staticmethod
    async def _on(pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T],
                    sync_dirs: tuple[Path | str, ...] = ()) -> T:
        """Run fn(conn) atomically; its result once committed, its exception if it raised
        (then nothing it did is kept). `sync_dirs` are fsynced before the transaction.
        Cancelling the caller does not withdraw fn: once queued it commits or fails
        with its group."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((fn, sync_dirs, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_groups())
        return await future

    async def _commit_groups(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                try:
                    outcomes = await self._on(self._writer, lambda: self._run_group(group))
                except BaseException as exc:  # COMMIT failed (or we were torn down)
                    outcomes = [(False, exc)] * len(group)
                for (_, _, future), (ok, value) in zip(group, outcomes):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._committer = None

    def _run_group(self, group) -> list[tuple[bool, Any]]:
        for directory in dict.fromkeys(d for _, dirs, _ in group for d in dirs):
            fsync_dir(directory)
        conn = self._wconn
        outcomes = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _, _ in group:
                conn.execute("SAVEPOINT w")
                try:
                    result = fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE w")
                    outcomes.append((True, result))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

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
