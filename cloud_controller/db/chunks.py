"""Queries the repositories share: those with a long `IN (...)` list, run in
chunks, and the compare-and-set of a row's state.

SQLite limits the host parameters of one statement (999 in older builds), so
a list of ids is bound 500 at a time and the rows of every chunk are joined.
"""
from __future__ import annotations

import json
import time
from typing import Sequence

from cloud_controller.db.database import Database

CHUNK = 500


async def rows_in(db: Database, sql: str, values: Sequence) -> list:
    """All rows of `sql`, whose `{marks}` is the IN list, for every chunk of `values`."""
    found: list = []
    for start in range(0, len(values), CHUNK):
        chunk = list(values[start:start + CHUNK])
        async with db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk) as cur:
            found += await cur.fetchall()
    return found


async def compare_and_set(db: Database, table: str, row_id: str, expected: str,
                          **columns) -> bool:
    """Set `columns` (and updated_at) of row `row_id` only if its state is still
    `expected`: True if it was, so two racing changes cannot both win."""
    columns["updated_at"] = time.time()
    assignments = ", ".join(f"{k} = :{k}" for k in columns)
    cur = await db.execute(
        f"UPDATE {table} SET {assignments} WHERE id = :id AND state = :expected",
        {**columns, "id": row_id, "expected": expected})
    return cur.rowcount == 1


def in_values(column: str, name: str, args: dict, values: Sequence) -> str:
    """`column IN (...)` over a whole list as one bound JSON parameter `name`
    (json_each): linear in its length, where binding thousands of named
    parameters costs quadratic time (36,000 ids took 9 s)."""
    args[name] = json.dumps(list(values))
    return f"{column} IN (SELECT value FROM json_each(:{name}))"
