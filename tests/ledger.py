"""The concurrent writers suites' record of every call: what it answered ("ok"
or the error code) and what it was allowed to answer."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

OK = "ok"


@dataclass
class Record:
    account: object
    op: str
    subject: str  # the resource or key the call was about
    outcome: str
    expect: frozenset


@dataclass
class Ledger:
    records: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, account, op: str, fn, expect, subject: str = "", **params):
        """Run one call and record its outcome. Returns (acknowledged, response)."""
        expect = frozenset([expect] if isinstance(expect, str) else expect)
        try:
            response, outcome = fn(**params), OK
        except ClientError as err:
            response, outcome = err.response, err.response["Error"]["Code"]
        with self.lock:
            self.records.append(Record(account, op, subject, outcome, expect))
        return outcome == OK, response

    def unexpected(self) -> list[Record]:
        return [r for r in self.records if r.outcome not in r.expect]

    def counts(self) -> tuple[int, int]:
        acked = sum(r.outcome == OK for r in self.records)
        return acked, len(self.records) - acked
