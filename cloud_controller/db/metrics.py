"""CloudWatch series and their points (migration 0019): rows in, rows out."""
from __future__ import annotations

from typing import Iterable

from cloud_controller.db.database import Database

# One statistic set to add: (series key, period, at, unit, count, sum, min, max),
# the series key being (account_id, namespace, name, dimensions JSON).
Point = tuple[tuple[str, str, str, str], int, int, str, float, float, float, float]


class MetricsRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _series_id(self, key: tuple[str, str, str, str], at: float) -> int:
        async with self.db.execute(
                "INSERT INTO metric_series (account_id, namespace, name, dimensions, last_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, namespace, name, dimensions)"
                " DO UPDATE SET last_at = max(last_at, excluded.last_at) RETURNING id",
                (*key, at)) as cur:
            return (await cur.fetchone())[0]

    async def add(self, points: Iterable[Point]) -> int:
        """Adds each statistic set to its point (made if new); inside a unit."""
        newest: dict[tuple, float] = {}
        rows = []
        for key, period, at, unit, count, total, low, high in points:
            newest[key] = max(newest.get(key, at), at)
            rows.append((key, period, at, unit, count, total, low, high))
        ids = {key: await self._series_id(key, at) for key, at in newest.items()}
        await self.db.executemany(
            "INSERT INTO metric_points VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (series_id, period, at, unit) DO UPDATE SET"
            " sample_count = sample_count + excluded.sample_count, sum = sum + excluded.sum,"
            " minimum = min(minimum, excluded.minimum), maximum = max(maximum, excluded.maximum)",
            [(ids[key], *rest) for key, *rest in rows])
        return len(rows)

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
