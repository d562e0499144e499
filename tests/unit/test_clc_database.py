"""The CLC's units of work (cloud_controller/db/database.py)."""
import asyncio
import sqlite3

import pytest

from cloud_controller.db.database import Database


async def _no_migrations(conn):
    pass


async def _db(tmp_path):
    db = await Database.open(tmp_path / "cloud.db", _no_migrations)
    async with db.unit():
        await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    return db


async def _keys(db):
    async with db.execute("SELECT k FROM t ORDER BY k") as cur:
        return [r[0] for r in await cur.fetchall()]


def test_one_units_rollback_keeps_another_units_commit(tmp_path):
    async def scenario():
        db = await _db(tmp_path)
        started = asyncio.Event()

        async def fails():
            with pytest.raises(RuntimeError):
                async with db.unit():
                    await db.execute("INSERT INTO t VALUES ('b')")
                    started.set()
                    await asyncio.sleep(0.05)  # others are waiting meanwhile
                    raise RuntimeError("over the limit")

        async def succeeds():
            await started.wait()
            async with db.unit():
                await db.execute("INSERT INTO t VALUES ('a')")
            return await _keys(db)  # acknowledged: committed before the block ends

        _, seen = await asyncio.gather(fails(), succeeds())
        assert seen == ["a"] and await _keys(db) == ["a"]
        await db.close()
    asyncio.run(scenario())


def test_a_write_outside_a_unit_fails_loudly(tmp_path):
    async def scenario():
        db = await _db(tmp_path)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.execute("INSERT INTO t VALUES ('x')")
        assert await _keys(db) == []
        await db.close()
    asyncio.run(scenario())


def test_an_inner_unit_rolls_back_alone_and_a_spawned_task_is_not_in_the_unit(tmp_path):
    async def scenario():
        db = await _db(tmp_path)
        async with db.unit():
            await db.execute("INSERT INTO t VALUES ('outer')")
            with pytest.raises(KeyError):
                async with db.unit():
                    await db.execute("INSERT INTO t VALUES ('inner')")
                    raise KeyError("inner fails")
            assert db.in_unit

            async def probe():
                return db.in_unit
            assert await asyncio.create_task(probe()) is False
            assert await _keys(db) == ["outer"]  # inside the unit: its own writes
        assert await _keys(db) == ["outer"]
        await db.close()
    asyncio.run(scenario())


def test_a_read_after_a_commit_sees_it_while_another_request_is_mid_read(tmp_path):
    """Reads share one connection: a cursor left open across an await kept its
    snapshot for every read on it, so a request's own read just after its
    commit could miss the write (AllocateAddress then 500'd, DeleteKeyPair
    answered true and deleted nothing)."""
    async def scenario():
        db = await _db(tmp_path)
        try:
            async with db.unit():
                await db.execute("INSERT INTO t VALUES ('a')")
            async with db.execute("SELECT k FROM t") as slow:  # another request, mid-read
                async with db.unit():
                    await db.execute("INSERT INTO t VALUES ('b')")
                assert await _keys(db) == ["a", "b"]
                assert [r[0] for r in await slow.fetchall()] == ["a"]
        finally:
            await db.close()
    asyncio.run(scenario())
