"""Numbered SQL migrations for a component's sqlite database.

A component keeps its schema as files NNNN_name.sql in one directory
(0001_initial.sql, 0002_...), numbered from 1 without gaps. The database
records the last one applied in `PRAGMA user_version`; opening it applies,
in order, every migration above that number, each in its own transaction
together with the version bump, so a crash leaves the database at a whole
version.

The finding and checking is pure (`pending`), so any driver can apply the
scripts: `apply` does it on a sqlite3 connection (Walrus, on its writer
thread); the CLC runs the same `Migration.script` through aiosqlite.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources.abc import Traversable

_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The migrations directory or the database's version is not one we can apply."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def script(self) -> str:
        """The migration and its version bump as one transaction (for executescript)."""
        return f"BEGIN;\n{self.sql}\n;\nPRAGMA user_version={self.version};\nCOMMIT;"


def found(directory: Traversable) -> list[Migration]:
    """Every migration in `directory`, in order; numbered 1..N, else MigrationError."""
    by_version: dict[int, Migration] = {}
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"{entry.name}: a migration is named NNNN_name.sql")
        version = int(match.group(1))
        if version in by_version:
            raise MigrationError(f"{entry.name} and {by_version[version].name} "
                                 f"share the number {version}")
        by_version[version] = Migration(version, entry.name, entry.read_text())
    ordered = [by_version[v] for v in sorted(by_version)]
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration {expected:04d} is missing "
                                 f"(the next one is {migration.name})")
    return ordered


def pending(directory: Traversable, version: int) -> list[Migration]:
    """The migrations a database at `version` still needs, in order."""
    known = found(directory)
    latest = known[-1].version if known else 0
    if version > latest:
        raise MigrationError(f"the database is at version {version}, newer than this code's "
                             f"migrations (up to {latest}); run a newer release")
    return [m for m in known if m.version > version]


def apply(conn: sqlite3.Connection, directory: Traversable) -> list[Migration]:
    """Bring a sqlite3 database up to date; returns the migrations applied."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    todo = pending(directory, version)
    for migration in todo:
        try:
            conn.executescript(migration.script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return todo
