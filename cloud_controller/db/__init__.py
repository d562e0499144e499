"""The CLC's sqlite database: the one authority for accounts and resources.

aiosqlite in WAL mode; numbered migrations under migrations/ applied in order
and recorded in PRAGMA user_version.
"""
from __future__ import annotations

import re
from pathlib import Path

import aiosqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in MIGRATIONS.glob("*.sql"):
        m = re.match(r"^(\d{4})_", path.name)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


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
    for number, path in migrations():
        if number <= version:
            continue
        await db.executescript(f"BEGIN;\n{path.read_text()}\nPRAGMA user_version={number};\nCOMMIT;")
