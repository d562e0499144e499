"""Walrus's group commit: concurrent writes share a transaction, yet each one
succeeds or fails on its own, and none is answered before its COMMIT."""
import asyncio

import pytest

from walrus.db import Database


def run(coro):
    return asyncio.run(coro)


async def _open(tmp_path) -> Database:
    db = Database(tmp_path / "walrus.db")
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    return db


def test_concurrent_writes_group_and_fail_alone(tmp_path):
    async def main():
        db = await _open(tmp_path)
        groups = []
        original = db._run_group

        def counting(group):
            groups.append(len(group))
            return original(group)
        db._run_group = counting

        def insert(k):
            def fn(conn):
                conn.execute("INSERT INTO t VALUES (?, 1)", (k,))
                if k == "bad":
                    raise ValueError("refused")
                return k
            return fn
        keys = [f"k{i}" for i in range(50)] + ["bad"]
        results = await asyncio.gather(*(db.write(insert(k)) for k in keys),
                                       return_exceptions=True)
        assert results[:50] == keys[:50]
        assert isinstance(results[50], ValueError)
        rows = await db.all("SELECT k FROM t ORDER BY k")
        assert sorted(r["k"] for r in rows) == sorted(keys[:50])   # "bad" rolled back alone
        assert len(groups) < 51 and sum(groups) == 51               # batched
        await db.close()
    run(main())


def test_cancelled_caller_still_commits(tmp_path):
    async def main():
        db = await _open(tmp_path)
        first = asyncio.ensure_future(db.write(lambda c: c.execute("INSERT INTO t VALUES ('a', 1)")))
        second = asyncio.ensure_future(db.write(lambda c: c.execute("INSERT INTO t VALUES ('b', 2)")))
        await asyncio.sleep(0)
        second.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await second
        await asyncio.sleep(0.2)
        assert [r["k"] for r in await db.all("SELECT k FROM t ORDER BY k")] == ["a", "b"]
        await db.close()
    run(main())


def test_sync_dirs_are_fsynced_before_the_transaction(tmp_path, monkeypatch):
    async def main():
        db = await _open(tmp_path)
        synced = []
        import walrus.db as walrus_db
        monkeypatch.setattr(walrus_db, "fsync_dir", synced.append)
        await asyncio.gather(*(db.write(lambda c: None, sync_dirs=(str(tmp_path),))
                               for _ in range(10)))
        assert synced and len(synced) <= 2 and set(synced) == {str(tmp_path)}
        await db.close()
    run(main())
