"""The lifecycle worker: a task inside Walrus that applies each bucket's lifecycle
rules (walrus/lifecycle.py) every `[walrus] lifecycle_interval_seconds`, off the
request path, at most `batch` actions per bucket rule per pass, through the store's
transactional delete paths (walrus.store.Store.lifecycle_apply)."""
from __future__ import annotations

import asyncio
import logging
import time

from walrus import lifecycle
from walrus.store import Store

log = logging.getLogger(__name__)


class LifecycleWorker:
    def __init__(self, store: Store, day_seconds: int, interval: float, batch: int = 500):
        self.store = store
        self.day = day_seconds
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="walrus-lifecycle")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the next pass tries again
                log.exception("lifecycle pass failed")

    async def run_once(self) -> int:
        """One pass over every bucket with rules; returns how many actions it took."""
        done = 0
        for bucket, stored in await self.store.buckets_with_setting("lifecycle"):
            for rule in lifecycle.from_json(stored):
                if rule.enabled:
                    done += await self._apply(bucket, rule)
        return done

    async def _apply(self, bucket: str, rule: lifecycle.Rule) -> int:
        now = time.time()
        done = 0
        if rule.days is not None or rule.date is not None:
            # The cutoff is a bound for the read; expires_at decides (midnight rounding).
            cutoff = now if rule.date is not None else now - rule.days * self.day
            if rule.date is None or lifecycle.parse_date(rule.date) <= now:
                done += await self._act(bucket, rule, "current", cutoff, lambda row:
                                        rule.expires_at(row["last_modified"], self.day) <= now)
        if rule.expired_marker:
            done += await self._act(bucket, rule, "marker", now, lambda row: True)
        if rule.noncurrent_days is not None:
            keep = rule.newer_noncurrent or 0
            done += await self._act(
                bucket, rule, "noncurrent", now - rule.noncurrent_days * self.day,
                lambda row: row["newer"] >= keep and lifecycle.after_days(
                    row["since"], rule.noncurrent_days, self.day) <= now)
        if rule.abort_days is not None and not rule.tags:
            done += await self._act(bucket, rule, "upload", now - rule.abort_days * self.day,
                                    lambda row: True)
        return done

    async def _act(self, bucket: str, rule: lifecycle.Rule, kind: str, cutoff: float,
                   due) -> int:
        """Read candidates a page at a time (at most `batch` actions in all), keep those
        the rule's filter covers and `due` accepts, and apply them."""
        actions, after, scanned = [], "", 0
        while len(actions) < self.batch and scanned < self.batch * 10:
            rows = await self.store.lifecycle_candidates(bucket, rule.prefix, kind, cutoff,
                                                         after, self.batch)
            if not rows:
                break
            scanned += len(rows)
            for row in rows:
                size = row["size"] if kind in ("current", "noncurrent") else None
                tags = row["tags"] if kind != "upload" else None
                if rule.matches(row["key"], size, tags) or (kind == "upload"
                                                            and not rule.tags):
                    if kind == "upload" or due(row):
                        ident = row["id"] if kind == "current" else row["version_id"]
                        actions.append((kind, row["key"], ident))
            after = rows[-1]["key"]
            if len(rows) < self.batch:
                break
        if not actions:
            return 0
        return await self.store.lifecycle_apply(bucket, actions[:self.batch])
