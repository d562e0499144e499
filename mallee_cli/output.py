"""Listings as a table (the default) or JSON (--output json)."""
from __future__ import annotations

import json


def print_table(rows: list[dict], columns: list[str], output: str) -> None:
    if output == "json":
        print(json.dumps(rows, indent=2, default=str))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
