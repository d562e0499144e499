"""CloudWatch: the nodes' guest samples as AWS/EC2 metrics, users' own metrics
(PutMetricData), and the statistics over both (docs/metrics.md, "CloudWatch").

Samples come up with the polls (cluster_controller/metrics_relay.py); after
each poll of a cluster, its new samples become 60-second points of the
instance's account and the 3600-second points they roll up into, stored with
the cluster's ack in one transaction. Every series belongs to one account:
its instances' metrics, its own namespaces.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass

from cloud_controller.db.database import Database
from cloud_controller.db.metrics import MetricsRepository, Point
from mallee import errors
from mallee.settings import Settings

log = logging.getLogger(__name__)

MINUTE, HOUR = 60, 3600
RETENTION = {MINUTE: 86400, HOUR: 30 * 86400}  # seconds each resolution's points are kept
LISTED_SECONDS = 14 * 86400  # ListMetrics shows series with a point this recent (AWS: 2 weeks)
EXPIRE_EVERY = 600.0
OFF_LOOP_SAMPLES = 200  # converting a bigger batch runs on a worker thread
MAX_DATAPOINTS = 1440

# AWS/EC2's metrics from a CC sample row [seq, instance_id, time, ms, cpu_us, net in
# bytes, net out bytes, in packets, out packets, disk read bytes, write bytes, read
# ops, write ops]: name, unit, the row's index of its counter (CPU: computed).
EC2_METRICS = (
    ("CPUUtilization", "Percent", 4), ("NetworkIn", "Bytes", 5), ("NetworkOut", "Bytes", 6),
    ("NetworkPacketsIn", "Count", 7), ("NetworkPacketsOut", "Count", 8),
    ("DiskReadBytes", "Bytes", 9), ("DiskWriteBytes", "Bytes", 10),
    ("DiskReadOps", "Count", 11), ("DiskWriteOps", "Count", 12),
)
EC2_NAMESPACE = "AWS/EC2"

UNITS = frozenset((
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None"))
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def dimensions_key(dimensions: list[tuple[str, str]]) -> str:
    """The canonical form a series is stored under: sorted by name, JSON."""
    return json.dumps(sorted(dimensions), separators=(",", ":"))


def rolled_up(key, at: float, unit: str, count: float, total: float, low: float,
              high: float) -> list[Point]:
    """One statistic set as its 60-second point and the 3600-second one it rolls into."""
    at = int(at)
    return [(key, MINUTE, at - at % MINUTE, unit, count, total, low, high),
            (key, HOUR, at - at % HOUR, unit, count, total, low, high)]


def ec2_points(rows: list[list], facts: dict[str, tuple[str, str, str]],
               vcpus: dict[str, int]) -> list[Point]:
    """Guest samples as AWS/EC2 points under the InstanceId, ImageId and InstanceType
    dimensions. A sample counts in the minute its middle falls in; CPUUtilization is
    the CPU time it used over the time it covers times the vCPUs, in percent; the
    others are the counters' growth (Sum per period). Samples of instances the CLC
    does not know (gone from the database) are dropped."""
    points: list[Point] = []
    for row in rows:
        instance_id, end, ms = row[1], row[2], row[3]
        fact = facts.get(instance_id)
        if fact is None or ms <= 0:
            continue
        account, image_id, instance_type = fact
        at = end - ms / 2000
        cpus = vcpus.get(instance_type, 1)
        keys = [("InstanceId", instance_id), ("ImageId", image_id),
                ("InstanceType", instance_type)]
        for name, unit, index in EC2_METRICS:
            value = float(row[index])
            if name == "CPUUtilization":
                value = min(100.0, value / (ms * 1000 * cpus) * 100)
            for dim in keys:
                points += rolled_up((account, EC2_NAMESPACE, name, dimensions_key([dim])),
                                    at, unit, 1, value, value, value)
    return points


@dataclass(frozen=True)
class Datum:
    """One PutMetricData entry, checked: its statistic set (count, sum, min, max)."""
    name: str
    dimensions: list[tuple[str, str]]
    at: float
    unit: str
    count: float
    total: float
    low: float
    high: float


class MetricsService:
    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.repo = MetricsRepository(db)
        self.vcpus = {v.name: v.cpu for v in settings.vmtypes}
        self._expired_at = 0.0

    # -- from the polls -----------------------------------------------------------
    async def after_poll(self, cluster) -> None:
        """Stores the samples the cluster's last poll brought, and acks them."""
        batch, cluster.metrics = cluster.metrics, None
        name = cluster.ref.name
        if cluster.metrics_ack is None:
            cluster.metrics_ack = await self.repo.ack_of(name) or {}
        if batch:
            acked = cluster.metrics_ack
            upto = acked.get("seq", 0) if acked.get("epoch") == batch["epoch"] else 0
            rows = [r for r in batch.get("samples", ()) if r[0] > upto]
            if rows:
                cluster.metrics_ack = await self._store(name, batch["epoch"], rows)
            elif acked.get("epoch") != batch["epoch"]:
                cluster.metrics_ack = {"epoch": batch["epoch"], "seq": 0}
        if time.time() - self._expired_at > EXPIRE_EVERY:
            await self.expire()

    async def _store(self, cluster_name: str, epoch: str, rows: list[list]) -> dict:
        facts = await self.repo.instance_facts(sorted({r[1] for r in rows}))
        if len(rows) > OFF_LOOP_SAMPLES:
            points = await asyncio.to_thread(ec2_points, rows, facts, self.vcpus)
        else:
            points = ec2_points(rows, facts, self.vcpus)
        seq = max(r[0] for r in rows)
        async with self.db.unit():
            touched = await self.repo.add(points)
            await self.repo.set_ack(cluster_name, epoch, seq)
        self.repo.keep(touched)
        return {"epoch": epoch, "seq": seq}

    async def expire(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._expired_at = now
        async with self.db.unit():
            await self.repo.expire({p: int(now - keep) for p, keep in RETENTION.items()},
                                   now - RETENTION[HOUR])

    # -- users' own ---------------------------------------------------------------
    async def put(self, account_id: str, namespace: str, data: list[Datum]) -> None:
        """PutMetricData: every datum of the request, or none (one transaction)."""
        if namespace.startswith("AWS/"):
            raise errors.InvalidParameterValue(
                f"The value {namespace} for parameter Namespace is invalid.")
        points: list[Point] = []
        for d in data:
            points += rolled_up((account_id, namespace, d.name, dimensions_key(d.dimensions)),
                                d.at, d.unit, d.count, d.total, d.low, d.high)
        async with self.db.unit():
            touched = await self.repo.add(points)
        self.repo.keep(touched)

    # -- reading ------------------------------------------------------------------
    async def list_metrics(self, account_id: str, namespace: str | None, name: str | None,
                           dimensions: list[tuple[str, str | None]], recent: float | None,
                           after_id: int, limit: int = 500) -> tuple[list[dict], int | None]:
        """An account's metrics matching the filters (each filter dimension present,
        with that value if one is given), and the id to go on after (None: done)."""
        since = time.time() - (recent if recent is not None else LISTED_SECONDS)
        found: list[dict] = []
        while len(found) < limit:
            rows = await self.repo.series(account_id, namespace, name, since, after_id, 1000)
            if not rows:
                return found, None
            for row in rows:
                after_id = row["id"]
                dims = dict(json.loads(row["dimensions"]))
                if all(n in dims and (v is None or dims[n] == v) for n, v in dimensions):
                    found.append({"Namespace": row["namespace"], "MetricName": row["name"],
                                  "Dimensions": [{"Name": n, "Value": v}
                                                 for n, v in sorted(dims.items())]})
                    if len(found) == limit:
                        return found, after_id
        return found, after_id

    async def statistics(self, account_id: str, namespace: str, name: str,
                         dimensions: list[tuple[str, str]], start: float, end: float,
                         period: int, unit: str | None) -> list[dict]:
        """Per period from `start`: {"at", "unit", "SampleCount", "Sum", "Minimum",
        "Maximum", "Average"}, from the 60-second points when `start` is within their
        day and `period` allows, else the hourly ones."""
        check_period(period, start, end)
        if start >= time.time() - RETENTION[MINUTE] or period % HOUR:
            resolution = MINUTE
        else:
            resolution = HOUR
        first = int(start) - int(start) % MINUTE if resolution == MINUTE else int(start)
        rows = await self.repo.statistics(
            (account_id, namespace, name, dimensions_key(dimensions)), resolution,
            first, int(math.ceil(end)), period, unit)
        return [{"at": first + row["bucket"] * period, "unit": row["unit"],
                 "SampleCount": row["n"], "Sum": row["total"], "Minimum": row["low"],
                 "Maximum": row["high"], "Average": row["total"] / row["n"] if row["n"] else 0.0}
                for row in rows]


def check_period(period: int, start: float, end: float) -> None:
    """AWS's rules for a statistics query's period and time range."""
    if period <= 0 or period % MINUTE:
        raise errors.InvalidParameterValue(
            "The parameter Period must be a multiple of 60 (high-resolution periods of "
            "1, 5, 10 and 30 seconds are not kept by this cloud).")
    if start >= end:
        raise errors.InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime.")
    wanted = math.ceil((end - start) / period)
    if wanted > MAX_DATAPOINTS:
        raise errors.InvalidParameterCombination(
            f"You have requested up to {wanted:,} datapoints, which exceeds the limit of "
            f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing "
            "Period, or decreasing the time range.")
