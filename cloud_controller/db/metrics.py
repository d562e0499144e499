"""CloudWatch series and their points (migration 0020): rows in, rows out."""
from __future__ import annotations

from typing import Iterable

from cloud_controller.db.database import Database

# One statistic set to add: (series key, period, at, unit, count, sum, min, max),
# the series key being (account_id, namespace, name, dimensions JSON).
Point = tuple[tuple[str, str, str, str], int, int, str, float, float, float, float]


# A series' last_at is rewritten only when it moved on by this much (ListMetrics'
# windows are hours and weeks): most polls then write points only.
LAST_AT_STEP = 300.0

SeriesKey = tuple[str, str, str, str]


class MetricsRepository:
    def __init__(self, db: Database):
        self.db = db
        # Committed series: key -> [id, last_at written]; filled by keep() after the
        # unit that made them commits, emptied when expire() may have removed some.
        self._known: dict[SeriesKey, list] = {}

    async def add(self, points: Iterable[Point]) -> dict[SeriesKey, list]:
        """Adds each statistic set to its point (made if new); inside a unit. Returns
        the series it made or moved on, for keep() once the unit has committed."""
        newest: dict[SeriesKey, float] = {}
        merged: dict[tuple, list] = {}  # sets of one point first added up here
        for key, period, at, unit, count, total, low, high in points:
            if at > newest.get(key, -1.0):
                newest[key] = at
            same = merged.get((key, period, at, unit))
            if same is None:
                merged[(key, period, at, unit)] = [count, total, low, high]
            else:
                same[0] += count
                same[1] += total
                same[2] = min(same[2], low)
                same[3] = max(same[3], high)
        touched: dict[SeriesKey, list] = {}
        moved, new = [], []
        for key, at in newest.items():
            known = self._known.get(key)
            if known is None:
                new.append((*key, at))
            elif at > known[1] + LAST_AT_STEP:
                moved.append((at, known[0]))
                touched[key] = [known[0], at]
        if new:  # made (or moved on, if another process made them), then their ids
            await self.db.executemany(
                "INSERT INTO metric_series (account_id, namespace, name, dimensions, last_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, namespace, name, dimensions)"
                " DO UPDATE SET last_at = max(last_at, excluded.last_at)", new)
            wanted = {row[:4]: row[4] for row in new}
            for account, namespace in {(a, n) for a, n, *_ in new}:
                async with self.db.execute(
                        "SELECT id, name, dimensions FROM metric_series"
                        " WHERE account_id=? AND namespace=?", (account, namespace)) as cur:
                    for row in await cur.fetchall():
                        key = (account, namespace, row["name"], row["dimensions"])
                        if key in wanted:
                            touched[key] = [row["id"], wanted[key]]
        if moved:
            await self.db.executemany(
                "UPDATE metric_series SET last_at = max(last_at, ?) WHERE id = ?", moved)
        ids = {key: (touched.get(key) or self._known[key])[0] for key in newest}
        await self.db.executemany(
            "INSERT INTO metric_points VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (series_id, period, at, unit) DO UPDATE SET"
            " sample_count = sample_count + excluded.sample_count, sum = sum + excluded.sum,"
            " minimum = min(minimum, excluded.minimum), maximum = max(maximum, excluded.maximum)",
            [(ids[key], period, at, unit, *stats)
             for (key, period, at, unit), stats in merged.items()])
        return touched

    def keep(self, touched: dict[SeriesKey, list]) -> None:
        """The series add() made or moved on, now committed."""
        self._known.update(touched)

    async def ack_of(self, cluster: str) -> dict | None:
        async with self.db.execute("SELECT epoch, seq FROM metric_acks WHERE cluster=?",
                                   (cluster,)) as cur:
            row = await cur.fetchone()
        return {"epoch": row["epoch"], "seq": row["seq"]} if row else None

    async def set_ack(self, cluster: str, epoch: str, seq: int) -> None:
        await self.db.execute(
            "INSERT INTO metric_acks VALUES (?, ?, ?) ON CONFLICT (cluster) DO UPDATE SET"
            " epoch = excluded.epoch, seq = excluded.seq", (cluster, epoch, seq))

    async def instance_facts(self, instance_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """id -> (account_id, image_id, instance_type) of the instances that exist."""
        found = {}
        for start in range(0, len(instance_ids), 500):
            chunk = instance_ids[start:start + 500]
            async with self.db.execute(
                    "SELECT id, account_id, image_id, instance_type FROM instances WHERE id IN "
                    f"({', '.join('?' * len(chunk))})", chunk) as cur:
                for row in await cur.fetchall():
                    found[row["id"]] = (row["account_id"], row["image_id"], row["instance_type"])
        return found

    async def series(self, account_id: str, namespace: str | None, name: str | None,
                     since: float, after_id: int, limit: int) -> list:
        """An account's series with points since `since`, by id after `after_id`."""
        sql = "SELECT * FROM metric_series WHERE account_id=? AND last_at>=? AND id>?"
        args: list = [account_id, since, after_id]
        if namespace is not None:
            sql += " AND namespace=?"
            args.append(namespace)
        if name is not None:
            sql += " AND name=?"
            args.append(name)
        async with self.db.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)) as cur:
            return await cur.fetchall()

    async def statistics(self, key: tuple[str, str, str, str], resolution: int, start: int,
                         end: int, period: int, unit: str | None) -> list:
        """Per `period` from `start` (bucket: its index) and unit: count, sum, min, max
        of the series' `resolution`-second points in [start, end)."""
        sql = ("SELECT (p.at - ?) / ? AS bucket, p.unit AS unit, sum(p.sample_count) AS n,"
               " sum(p.sum) AS total, min(p.minimum) AS low, max(p.maximum) AS high"
               " FROM metric_points p JOIN metric_series s ON s.id = p.series_id"
               " WHERE s.account_id=? AND s.namespace=? AND s.name=? AND s.dimensions=?"
               " AND p.period=? AND p.at>=? AND p.at<?")
        args: list = [start, period, *key, resolution, start, end]
        if unit is not None:
            sql += " AND p.unit=?"
            args.append(unit)
        async with self.db.execute(sql + " GROUP BY bucket, p.unit ORDER BY bucket",
                                   args) as cur:
            return await cur.fetchall()

    async def expire(self, before: dict[int, int], series_before: float) -> None:
        """Drops points older than before[period], then series with no point since."""
        for period, at in before.items():
            await self.db.execute("DELETE FROM metric_points WHERE period=? AND at<?",
                                  (period, at))
        await self.db.execute("DELETE FROM metric_series WHERE last_at<?", (series_before,))
        # Those gone are among the ones last written before then (the rest: asked again).
        for key in [k for k, (_, at) in self._known.items() if at < series_before]:
            del self._known[key]
