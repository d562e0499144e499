"""The CLC's database handle: units of work on one writer, reads on a reader.

Every change runs inside `async with db.unit():` (a transaction of its own:
an asyncio.Lock, BEGIN IMMEDIATE, COMMIT when the block ends, ROLLBACK when
it raises), so one request's failure never undoes or commits another's
statements. Repositories call `execute`, which uses the unit's connection
when the calling task is inside a unit and the read-only reader otherwise;
WAL gives the reader the last committed state. A write outside a unit fails
("attempt to write a readonly database") instead of joining someone else's
transaction. A unit inside a unit of the same task is a SAVEPOINT: it
rolls back alone and commits with the outer one.

Keep units short: no RPC or other waiting on the world inside one, since
every other writer waits for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterable

import aiosqlite

log = logging.getLogger(__name__)


@dataclass
class _Unit:
    task: asyncio.Task | None
    depth: int = 0  # savepoints open inside it


# The unit of the running task; a task made inside a unit inherits the variable,
# so `_Unit.task` is checked too: the new task is not in the unit.
_CURRENT: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar("clc_unit",
                                                                       default=None)


async def _connect(target: str, *, uri: bool = False) -> aiosqlite.Connection:
    # isolation_level=None: no implicit BEGIN; a unit says where its transaction starts.
    conn = await aiosqlite.connect(target, uri=uri, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA busy_timeout=5000")
    return conn


class _Rows:
    """A finished read's rows, with the cursor methods the repositories use."""

    def __init__(self, rows):
        self._rows = list(rows)
        self._next = 0

    async def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest


class _Read:
    """A read on the reader connection, fetched whole before anything else runs."""

    def __init__(self, conn: aiosqlite.Connection, sql: str, args):
        self._conn, self._sql, self._args = conn, sql, args

    async def _run(self) -> _Rows:
        return _Rows(await self._conn.execute_fetchall(self._sql, self._args))

    def __await__(self):
        return self._run().__await__()

    async def __aenter__(self) -> _Rows:
        return await self._run()

    async def __aexit__(self, *exc) -> bool:
        return False


class Database:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, migrate) -> "Database":
        """Opens the writer, runs `migrate(connection)` on it, then the reader."""
        writer = await _connect(str(path))
        await writer.execute("PRAGMA journal_mode=WAL")
        await writer.execute("PRAGMA synchronous=FULL")  # an acknowledged unit survives a crash
        await writer.execute("PRAGMA foreign_keys=ON")
        try:
            await migrate(writer)
            reader = await _connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader)

    def _unit(self) -> _Unit | None:
        unit = _CURRENT.get()
        if unit is not None and unit.task is asyncio.current_task():
            return unit
        return None

    @property
    def in_unit(self) -> bool:
        return self._unit() is not None

    def _connection(self) -> aiosqlite.Connection:
        return self._writer if self._unit() is not None else self._reader

    def execute(self, sql: str, args: Iterable | dict = ()):
        """Awaitable, or an async context manager giving the cursor (as aiosqlite's).

        Outside a unit the statement's rows are fetched in the same call that
        runs it: every read shares the reader connection, and a cursor left
        open across an await holds one snapshot for all of them, so a
        request's read right after its own commit could miss the write."""
        if self._unit() is not None:
            return self._writer.execute(sql, args)
        return _Read(self._reader, sql, args)

    def executemany(self, sql: str, rows: Iterable):
        return self._connection().executemany(sql, rows)

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        outer = self._unit()
        if outer is not None:
            async with self._savepoint(outer):
                yield
            return
        async with self._lock:
            if self._writer.in_transaction:  # a ROLLBACK that was itself interrupted
                log.warning("a unit of work was left open; rolling it back")
                await self._writer.execute("ROLLBACK")
            await self._writer.execute("BEGIN IMMEDIATE")
            token = _CURRENT.set(_Unit(asyncio.current_task()))
            try:
                yield
                await self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise
            finally:
                _CURRENT.reset(token)

    @contextlib.asynccontextmanager
    async def _savepoint(self, unit: _Unit) -> AsyncIterator[None]:
        unit.depth += 1
        name = f"unit_{unit.depth}"
        await self._writer.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await self._writer.execute(f"ROLLBACK TO {name}")
            await self._writer.execute(f"RELEASE {name}")
            raise
        else:
            await self._writer.execute(f"RELEASE {name}")
        finally:
            unit.depth -= 1

    async def migrate(self, migrate) -> None:
        """Runs `migrate(connection)` on the writer, between units."""
        async with self._lock:
            await migrate(self._writer)

    async def close(self) -> None:
        async with self._lock:
            await self._reader.close()
            await self._writer.close()
