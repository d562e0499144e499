"""The CLC's sqlite database: the one authority for accounts and resources.

aiosqlite in WAL mode behind `Database` (db/database.py: every change in a
unit of work of its own); numbered migrations under migrations/ applied in
order and recorded in PRAGMA user_version (by the shared runner,
mallee.migrations).
"""
from __future__ import annotations

from pathlib import Path

import aiosqlite

from cloud_controller.db.database import Database
from mallee import migrations
from mallee.files import private_file

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = ["Database", "MIGRATIONS", "migrate", "open_database"]


async def open_database(path: Path) -> Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    private_file(path)  # issue 11 #18: tenants' data, owner only (the NC engineer's edit)
    return await Database.open(path, _migrate)


async def migrate(db: Database) -> None:
    """Apply any migration the database lacks (each its own transaction)."""
    await db.migrate(_migrate)


async def _migrate(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA user_version") as cur:
        (version,) = await cur.fetchone()
    for migration in migrations.pending(MIGRATIONS, version):
        try:
            await conn.executescript(migration.script)
        except BaseException:
            if conn.in_transaction:
                await conn.rollback()
            raise
