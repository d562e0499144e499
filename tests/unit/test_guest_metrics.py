"""The guest samples' path, piece by piece: libvirt counters read from a domain
object (a fake one: no guests started), the NC's sampler with its rings and acks,
the CC's relay, and the CLC's conversion into AWS/EC2 points, its storage, hourly
roll-up and retention (docs/metrics.md, "CloudWatch")."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from cloud_controller.services.metrics import (EC2_METRICS, MetricsService, dimensions_key,
                                               ec2_points)
from cluster_controller.metrics_relay import MetricsRelay
from node_controller.guest_metrics import SAMPLE_FIELDS, GuestSampler
from node_controller.hypervisor.fake import FakeDriver
from node_controller.hypervisor.guest_stats import FAKE_RATES, libvirt_counters
from node_controller.hypervisor.domain import DomainSpec

DOMAIN_XML = """<domain type='kvm'><name>i-1</name><devices>
  <disk type='file'><target dev='vda' bus='virtio'/></disk>
  <disk type='network'><target dev='vdb' bus='virtio'/></disk>
  <interface type='ethernet'><target dev='tap-i-1-0' managed='no'/></interface>
  <interface type='ethernet'><target dev='tap-i-1-1' managed='no'/></interface>
</devices></domain>"""


class FakeVirDomain:
    """The virDomain methods libvirt_counters calls, with libvirt's tuple layouts."""

    def info(self):  # state, maxMem KiB, memory KiB, vCPUs, cpuTime ns
        return [1, 262144, 262144, 2, 7_000_000_000]

    def XMLDesc(self, flags):
        return DOMAIN_XML

    def interfaceStats(self, dev):  # rx bytes, packets, errs, drop, tx bytes, packets, ...
        return {"tap-i-1-0": (1000, 10, 0, 0, 5000, 50, 0, 0),
                "tap-i-1-1": (1, 1, 0, 0, 2, 2, 0, 0)}[dev]

    def blockStats(self, dev):  # rd_req, rd_bytes, wr_req, wr_bytes, errs
        return {"vda": (3, 4096 * 3, 2, 4096 * 2, 0), "vdb": (1, 512, 1, 512, 0)}[dev]


def test_libvirt_counters_sum_nics_and_disks_from_the_guests_view():
    c = libvirt_counters(FakeVirDomain())
    assert c.cpu_ns == 7_000_000_000
    # The tap received what the guest sent: the guest's out is the taps' rx.
    assert (c.net_tx_bytes, c.net_tx_packets) == (1001, 11)
    assert (c.net_rx_bytes, c.net_rx_packets) == (5002, 52)
    assert (c.disk_read_ops, c.disk_read_bytes) == (4, 4096 * 3 + 512)
    assert (c.disk_write_ops, c.disk_write_bytes) == (3, 4096 * 2 + 512)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_sampler(ring: int = 4):
    clock = Clock()
    driver = FakeDriver(guest_load=0.5, clock=clock)
    driver.define(DomainSpec(name="i-1", uuid="00000000-0000-0000-0000-000000000001",
                             vcpus=2, memory_mb=256))
    driver.start("i-1")
    sampler = GuestSampler(driver, lambda: ["i-1"], 10, ring, clock=clock,
                           wall=lambda: clock.now + 1_700_000_000)
    return sampler, clock, driver


def test_fake_driver_counters_follow_its_load():
    sampler, clock, driver = make_sampler()
    clock.now += 10
    c = driver.guest_counters(["i-1", "i-missing"])["i-1"]
    assert c.cpu_ns == int(0.5 * 2 * 10 * 1e9)
    assert c.net_rx_bytes == FAKE_RATES["net_rx_bytes"] * 10
    driver.destroy("i-1")
    assert driver.guest_counters(["i-1"]) == {}


def test_sampler_rings_acks_and_epochs():
    sampler, clock, _ = make_sampler(ring=3)
    asyncio.run(sampler.sample())  # the first reading only starts the first sample
    assert sampler.report(None)["guests"] == {}
    for _ in range(5):
        clock.now += 10
        asyncio.run(sampler.sample())
    report = sampler.report(None)
    rows = report["guests"]["i-1"]
    assert [r[0] for r in rows] == [3, 4, 5] and report["dropped"] == 2  # the ring holds 3
    row = dict(zip(SAMPLE_FIELDS, rows[-1]))
    assert row["ms"] == 10_000 and row["cpu_us"] == int(0.5 * 2 * 10 * 1e6)
    assert row["net_in_bytes"] == FAKE_RATES["net_rx_bytes"] * 10
    # An ack with another epoch (a CC that polled an earlier NC) drops nothing.
    assert len(sampler.report({"epoch": "other", "seq": 5})["guests"]["i-1"]) == 3
    after = sampler.report({"epoch": report["epoch"], "seq": 4})
    assert [r[0] for r in after["guests"]["i-1"]] == [5]
    assert sampler.report({"epoch": report["epoch"], "seq": 5})["guests"] == {}


def test_a_restarted_guest_counts_from_zero():
    sampler, clock, driver = make_sampler()
    asyncio.run(sampler.sample())
    clock.now += 10
    asyncio.run(sampler.sample())
    driver.destroy("i-1")
    driver.start("i-1")  # its counters begin again
    clock.now += 4
    asyncio.run(sampler.sample())
    rows = sampler.report(None)["guests"]["i-1"]
    assert rows[-1][3] == int(0.5 * 2 * 4 * 1e6)  # not negative: the growth since power-on


def test_relay_keeps_acks_and_drops_oldest():
    relay = MetricsRelay(capacity=3)
    node = SimpleNamespace(metrics_ack=None)
    row = [0, 1_700_000_000, 10_000] + [1] * 9
    relay.take(node, {"epoch": "e1", "guests": {"i-1": [[1, *row[1:]], [2, *row[1:]]]}})
    assert node.metrics_ack == {"epoch": "e1", "seq": 2}
    relay.take(node, {"epoch": "e1", "guests": {"i-1": [[2, *row[1:]], [3, *row[1:]]]}})
    assert len(relay) == 3  # the resent 2 is not taken twice
    relay.take(node, {"epoch": "e2", "guests": {"i-2": [[1, *row[1:]]]}})  # the NC restarted
    assert node.metrics_ack == {"epoch": "e2", "seq": 1} and relay.dropped == 1
    report = relay.report(None)
    assert [r[1] for r in report["samples"]] == ["i-1", "i-1", "i-2"]
    last = report["samples"][-1][0]
    assert relay.report({"epoch": report["epoch"], "seq": last})["samples"] == []


def test_ec2_points_cpu_and_sums_under_three_dimensions():
    row = [7, "i-1", 1_700_000_090, 60_000, 30_000_000, 100, 200, 3, 4, 5, 6, 7, 8]
    points = ec2_points([row], {"i-1": ("acct", "emi-1", "c1.medium")}, {"c1.medium": 2})
    assert len(points) == len(EC2_METRICS) * 3 * 2  # 3 dimensions, minute and hour
    cpu = [p for p in points if p[0][2] == "CPUUtilization"]
    assert {p[5] for p in cpu} == {25.0}  # 30 s of CPU over 60 s x 2 vCPUs
    assert {p[0][3] for p in cpu} == {dimensions_key([("InstanceId", "i-1")]),
                                      dimensions_key([("ImageId", "emi-1")]),
                                      dimensions_key([("InstanceType", "c1.medium")])}
    minute = {p[2] for p in cpu if p[1] == 60}
    assert minute == {1_700_000_040}  # the minute the sample's middle (…060) falls in
    assert ec2_points([row], {}, {}) == []  # an instance the CLC does not know


@pytest.fixture
def service(tmp_path):
    from cloud_controller.db import open_database
    settings = SimpleNamespace(vmtypes=[SimpleNamespace(name="m1.small", cpu=1)])

    async def make():
        db = await open_database(tmp_path / "clc.db")
        return db, MetricsService(db, settings)
    return make


def test_hourly_rollup_and_retention(service):
    async def go():
        db, svc = await service()
        now = 1_800_000_000.0
        points = []
        from cloud_controller.services.metrics import rolled_up
        for minute in range(120):  # two hours of one point a minute, value = minute
            points += rolled_up(("a", "App", "m", "[]"), now - 7200 + minute * 60, "Count",
                                1, minute, minute, minute)
        async with db.unit():
            await svc.repo.add(points)
        hourly = await svc.repo.statistics(("a", "App", "m", "[]"), 3600, int(now - 7200),
                                           int(now), 3600, None)
        assert [(r["n"], r["low"], r["high"]) for r in hourly] == [(60, 0, 59), (60, 60, 119)]
        await svc.expire(now=now + 86400 + 1)  # minutes older than a day go; hours stay
        minutes = await svc.repo.statistics(("a", "App", "m", "[]"), 60, 0, int(now) + 10**6,
                                            60, None)
        assert minutes == []
        hours = await svc.repo.statistics(("a", "App", "m", "[]"), 3600, 0, int(now) + 10**6,
                                          3600, None)
        assert sum(r["n"] for r in hours) == 120
        await svc.expire(now=now + 31 * 86400)
        async with db.execute("SELECT count(*) FROM metric_series") as cur:
            assert (await cur.fetchone())[0] == 0
        await db.close()
    asyncio.run(go())


async def _instance(db, instance_id: str, account: str = "111122223333") -> None:
    async with db.unit():
        await db.execute("INSERT OR IGNORE INTO accounts (id, name, created_at) VALUES (?, ?, 0)",
                         (account, f"a{account}"))
        await db.execute(
            "INSERT INTO instances (id, account_id, reservation_id, launch_index, image_id,"
            " instance_type, zone, cluster, state, launched_at, updated_at) VALUES"
            " (?, ?, 'r-1', 0, 'emi-1', 'm1.small', 'z', 'cluster1', 'running', 0, 0)",
            (instance_id, account))


def test_a_resend_after_a_clc_restart_is_not_counted_twice(service):
    """The cluster's ack is stored with the points: a new MetricsService (a restarted
    CLC) reads it, and the CC's resend of what was stored adds nothing."""
    async def go():
        db, svc = await service()
        await _instance(db, "i-1")
        end = 1_800_000_030
        rows = [[seq, "i-1", end + seq, 1000, 500_000] + [1] * 8 for seq in (1, 2, 3)]
        cluster = SimpleNamespace(ref=SimpleNamespace(name="cluster1"), metrics_ack=None,
                                  metrics={"epoch": "cc1", "samples": rows})
        await svc.after_poll(cluster)
        assert cluster.metrics_ack == {"epoch": "cc1", "seq": 3}
        key = ("111122223333", "AWS/EC2", "CPUUtilization",
               dimensions_key([("InstanceId", "i-1")]))
        counted = await svc.repo.statistics(key, 60, end - 60, end + 60, 120, None)
        assert [r["n"] for r in counted] == [3] and counted[0]["total"] == 3 * 50.0
        restarted = MetricsService(db, SimpleNamespace(vmtypes=[]))
        again = SimpleNamespace(ref=cluster.ref, metrics_ack=None,
                                metrics={"epoch": "cc1", "samples": rows + [
                                    [4, "i-1", end + 4, 1000, 250_000] + [1] * 8]})
        await restarted.after_poll(again)
        counted = await svc.repo.statistics(key, 60, end - 60, end + 60, 120, None)
        assert [r["n"] for r in counted] == [4]  # only sample 4 was new
        assert again.metrics_ack == {"epoch": "cc1", "seq": 4}
        await db.close()
    asyncio.run(go())


def test_ingest_cost_at_a_thousand_nodes(service):
    """1,000 nodes x 10 guests sampled every 60 s, polled every 5 s: ~840 samples a
    poll. Printed, and bounded loosely (a loaded 2-core host)."""
    import time

    async def go():
        db, svc = await service()
        ids = [f"i-{n:08x}" for n in range(840)]
        for start in range(0, len(ids), 100):
            async with db.unit():
                await db.execute("INSERT OR IGNORE INTO accounts (id, name, created_at) "
                                 "VALUES ('111122223333', 'a', 0)")
                await db.executemany(
                    "INSERT INTO instances (id, account_id, reservation_id, launch_index,"
                    " image_id, instance_type, zone, cluster, state, launched_at, updated_at)"
                    " VALUES (?, '111122223333', 'r-1', 0, 'emi-1', 'm1.small', 'z', 'c',"
                    " 'running', 0, 0)", [(i,) for i in ids[start:start + 100]])
        cluster = SimpleNamespace(ref=SimpleNamespace(name="c"), metrics_ack=None, metrics=None)
        took = []
        for poll in range(3):
            end = int(time.time()) + poll * 60
            cluster.metrics = {"epoch": "e", "samples": [
                [poll * 1000 + n + 1, i, end, 60_000, 15_000_000] + [100] * 8
                for n, i in enumerate(ids)]}
            started = time.perf_counter()
            await svc.after_poll(cluster)
            took.append(time.perf_counter() - started)
        print(f"\ningest of 840 samples: first poll {took[0]:.2f} s (new series), "
              f"then {took[1]:.2f} s, {took[2]:.2f} s")
        assert took[2] < 5.0
        await db.close()
    asyncio.run(go())
