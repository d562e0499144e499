"""mallee.files: what a crash or another user of the host may see."""
from __future__ import annotations

import os
import stat

from mallee.files import write_atomic


def test_write_atomic_makes_the_rename_durable(tmp_path, monkeypatch):
    """Issue 11 #12: the new name is in the directory only once the directory
    is synced; without it an acknowledged spec.json can vanish in a crash."""
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "spec.json", "{}")
    assert synced == [False, True]  # the file's data, then the directory's entry


def test_private_file_is_owner_only_from_its_creation_and_fixes_sqlites_siblings(tmp_path):
    """Issue 11 #18: the CLC's and Walrus's sqlite files hold tenants' data;
    sqlite gives its -wal and -shm files the database file's mode."""
    import sqlite3

    from mallee.files import private_file
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("PRAGMA journal_mode=WAL").fetchall()
    os.chmod(old, 0o644)
    (tmp_path / "old.db-wal").write_bytes(b"")
    os.chmod(tmp_path / "old.db-wal", 0o644)
    for path in (private_file(tmp_path / "new.db"), private_file(old)):
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL").fetchall()
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        files = sorted(tmp_path.glob(path.name + "*"))
        assert len(files) == 3  # the database, its -wal and -shm
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == \
            {f.name: 0o600 for f in files}
        conn.close()


def test_the_clc_and_walrus_databases_are_owner_only(tmp_path):
    import asyncio

    from cloud_controller.db import open_database
    from walrus.db import Database

    async def scenario():
        clc = await open_database(tmp_path / "clc" / "cloud.db")
        await clc.close()
        (tmp_path / "walrus").mkdir()
        walrus = Database(tmp_path / "walrus" / "walrus.db")
        await walrus.open()
        await walrus.close()
    asyncio.run(scenario())
    for path in (tmp_path / "clc" / "cloud.db", tmp_path / "walrus" / "walrus.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
