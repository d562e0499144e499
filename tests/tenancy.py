"""Shared pieces of the tenancy matrix (issue 11): the tally of cells checked
per service and role, the leak finder, and the summary written at the end of
each matrix module.

A cell is one request: one action (or S3 operation) on one kind of resource,
through one parameter, by one role (`other`: another account, `anonymous`:
unsigned, `owner`: the resource's own account where it is exercised).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from tests.reporting import write_summary


@dataclass
class Tally:
    service: str
    checked: Counter = field(default_factory=Counter)   # role -> cells that ran
    leaks: list[str] = field(default_factory=list)       # one line per leaking cell

    def record(self, role: str, leak: str | None = None) -> None:
        self.checked[role] += 1
        if leak:
            self.leaks.append(leak)

    def settle(self, role: str, where: str, problems: list[str]) -> None:
        """Record one cell and fail it if it leaked."""
        self.record(role, f"{where}: {'; '.join(problems)}" if problems else None)
        assert not problems, f"{where}: " + "; ".join(problems)

    def total(self) -> int:
        return sum(self.checked.values())

    def summary(self) -> str:
        roles = ", ".join(f"{role} {n}" for role, n in sorted(self.checked.items()))
        line = (f"tenancy matrix {self.service}: {self.total()} cells checked ({roles}); "
                f"{len(self.leaks)} leaks")
        return "\n".join([line, *(f"  LEAK {leak}" for leak in self.leaks)])


def leaked(values, response) -> list[str]:
    """The owner's values (ids, names, addresses, tag values) that appear in a
    response, each matched as a whole token (10.0.0.5 does not match 10.0.0.50)."""
    text = response if isinstance(response, str) else json.dumps(response, default=str)
    return sorted({v for v in values
                   if re.search(rf"(?<![\w.-]){re.escape(v)}(?![\w.-])", text)})


def report(tally: Tally) -> None:
    write_summary(tally.summary())
