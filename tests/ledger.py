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

    def assert_expected(self) -> None:
        wrong = [r for r in self.records if r.outcome not in r.expect]
        assert not wrong, "calls answered otherwise than they must be:\n" + "\n".join(
            f"  account {r.account} {r.op} {r.subject}: {r.outcome} (expected {sorted(r.expect)})"
            for r in wrong[:20])

    def counts(self) -> tuple[int, int]:
        acked = sum(r.outcome == OK for r in self.records)
        return acked, len(self.records) - acked


def run_all(tasks, threads: int, join_seconds: float) -> None:
    """Run the tasks on a pool of threads, bounded in time; a task that raised
    (anything but a recorded ClientError) fails the caller with its traceback."""
    from concurrent.futures import ThreadPoolExecutor, wait
    pool = ThreadPoolExecutor(threads)
    try:
        futures = [pool.submit(task) for task in tasks]
        done, pending = wait(futures, timeout=join_seconds)
        assert not pending, (f"{len(pending)} of {len(futures)} tasks still running after "
                             f"{join_seconds} s")
        for future in done:
            future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
