"""The CLC's sqlite database: the one authority for accounts and resources.

aiosqlite in WAL mode; numbered migrations under migrations/ applied in order
and recorded in PRAGMA user_version (by the shared runner, mallee.migrations).
"""
from __future__ import annotations

from pathlib import Path

import aiosqlite

from mallee import migrations

MIGRATIONS = Path(__file__).parent / "migrations"


async def open_database(path: Path) -> aiosqlite.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path)
    db.row_factory = aiosqlite.Row
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")  # an acknowledged change survives a crash
    await db.execute("PRAGMA foreign_keys=ON")
    await db.execute("PRAGMA busy_timeout=5000")
    await migrate(db)
    return db


async def migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cur:
        (version,) = await cur.fetchone()
    for migration in migrations.pending(MIGRATIONS, version):
        try:
            await db.executescript(migration.script)
        except BaseException:
            if db.in_transaction:
                await db.rollback()
            raise
