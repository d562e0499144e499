"""The one migration runner (mallee.migrations) that the CLC and Walrus share."""
import asyncio
import sqlite3

import pytest

from mallee import migrations
from mallee.migrations import MigrationError


def _dir(tmp_path, files: dict[str, str]):
    d = tmp_path / "migrations"
    d.mkdir()
    for name, sql in files.items():
        (d / name).write_text(sql)
    return d


def _version(conn) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def test_fresh_database_then_rerun_is_a_no_op(tmp_path):
    d = _dir(tmp_path, {"0001_first.sql": "CREATE TABLE a (x INTEGER);",
                        "0002_second.sql": "ALTER TABLE a ADD COLUMN y TEXT;",
                        "README": "not a migration"})
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    assert [m.version for m in migrations.apply(conn, d)] == [1, 2]
    assert _version(conn) == 2
    conn.execute("INSERT INTO a VALUES (1, 'kept')")
    assert migrations.apply(conn, d) == []
    assert conn.execute("SELECT * FROM a").fetchall() == [(1, "kept")]
    # A later release adds one: only it runs.
    (d / "0003_third.sql").write_text("CREATE TABLE b (z INTEGER);")
    assert [m.name for m in migrations.apply(conn, d)] == ["0003_third.sql"]
    assert _version(conn) == 3


def test_a_failing_migration_keeps_the_last_whole_version(tmp_path):
    d = _dir(tmp_path, {"0001_ok.sql": "CREATE TABLE a (x INTEGER);",
                        "0002_bad.sql": "CREATE TABLE b (z INTEGER); INSERT INTO nowhere VALUES (1);"})
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrations.apply(conn, d)
    assert _version(conn) == 1 and not conn.in_transaction
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='b'").fetchone() is None


@pytest.mark.parametrize("files, message", [
    ({"0001_a.sql": "", "0003_c.sql": ""}, "0002 is missing"),
    ({"0002_b.sql": ""}, "0001 is missing"),
    ({"0001_a.sql": "", "0001_again.sql": ""}, "share the number 1"),
    ({"0001_a.sql": "", "2_b.sql": ""}, "NNNN_name.sql"),
])
def test_gaps_duplicates_and_bad_names_are_errors(tmp_path, files, message):
    d = _dir(tmp_path, files)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    with pytest.raises(MigrationError, match=message):
        migrations.apply(conn, d)
    assert _version(conn) == 0


def test_a_database_newer_than_the_code_is_refused(tmp_path):
    d = _dir(tmp_path, {"0001_a.sql": "CREATE TABLE a (x INTEGER);"})
    with pytest.raises(MigrationError, match="newer"):
        migrations.pending(d, 2)
    assert migrations.pending(d, 1) == []


def test_both_components_use_it(tmp_path):
    """The CLC (aiosqlite) and Walrus (sqlite3) reach the same versions through it."""
    from cloud_controller import db as clc_db
    from walrus import db as walrus_db

    async def clc():
        conn = await clc_db.open_database(tmp_path / "clc.db")
        try:
            async with conn.execute("PRAGMA user_version") as cur:
                (version,) = await cur.fetchone()
            await clc_db.migrate(conn)  # again: nothing to do
            return version
        finally:
            await conn.close()
    assert asyncio.run(clc()) == migrations.found(clc_db.MIGRATIONS)[-1].version

    async def walrus():
        database = walrus_db.Database(tmp_path / "walrus.db")
        await database.open()
        version = (await database.one("PRAGMA user_version"))[0]
        await database.close()
        return version
    assert asyncio.run(walrus()) == migrations.found(walrus_db.MIGRATIONS)[-1].version
