"""Every tier's Prometheus /metrics (docs/metrics.md), scraped from a whole test cloud
as Prometheus would and read with prometheus-client's own text parser."""
from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import aiohttp
import botocore.exceptions
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mallee import rpc
from mallee.pki import role_host
from tests.harness import Cloud, available_components
from tests.unit.test_rpc_identity import _calling_context, _legacy, _tenant


@pytest.fixture(scope="module")
def mcloud(tmp_path_factory):
    """A cloud of this module's own: the counters move only by what the tests here do."""
    c = Cloud(tmp_path_factory.mktemp("metrics"), available_components()).start()
    yield c
    c.stop()


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_clc(cloud: Cloud) -> dict:
    with urllib.request.urlopen(f"{cloud.ec2_url}metrics", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        return parse(reply.read().decode())


async def _get_tls(port: int, role: str, tls: ssl.SSLContext | None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"https://127.0.0.1:{port}/metrics", ssl=tls,
                               server_hostname=role_host(role)) as reply:
            return reply.status, await reply.text()


def scrape_rpc(cloud: Cloud, role: str, port: int, as_role: str = "monitor") -> dict:
    status, text = cloud.run(_get_tls(
        port, role, rpc.client_ssl_context(cloud.settings.pki_dir, as_role)))
    assert status == 200, text
    return parse(text)


def rpc_ports(cloud: Cloud) -> dict[str, int]:
    s = cloud.settings
    return {"cc": s.cc.port, "nc": s.nc.port, "sc": s.sc.port, "walrus": s.walrus.rpc_port}


def test_ec2_requests_are_counted_by_action_and_status_class(mcloud):
    ec2 = mcloud.client("ec2")
    before = scrape_clc(mcloud)
    ec2.describe_availability_zones()
    ec2.describe_availability_zones()
    ec2.describe_key_pairs()
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidKeyPair.NotFound"):
        ec2.delete_key_pair(KeyPairId="key-0123456789abcdef0")
    # A made-up action and an unsigned call: each one "unknown"/4xx, not a label of its own.
    for query in ("Action=NoSuchThing%s" % n for n in range(3)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{mcloud.ec2_url}?{query}", timeout=10)
        assert refused.value.code in (400, 401, 403)
    after = scrape_clc(mcloud)

    def moved(name, **labels):
        return value(after, name, tier="clc", **labels) - value(before, name, tier="clc",
                                                                **labels)
    assert moved("mallee_requests_total", action="DescribeAvailabilityZones", code="2xx") == 2
    assert moved("mallee_request_duration_seconds_count",
                 action="DescribeAvailabilityZones") == 2
    assert moved("mallee_requests_total", action="DescribeKeyPairs", code="2xx") == 1
    # DeleteKeyPair of a key that does not exist: EC2 answers success for a name, an
    # error for an id; whichever this cloud answers, it is counted once, under its class.
    assert moved("mallee_requests_total", action="DeleteKeyPair", code="4xx") + \
        moved("mallee_requests_total", action="DeleteKeyPair", code="2xx") == 1
    assert moved("mallee_requests_total", action="unknown", code="4xx") == 3
    assert not any(labels and dict(labels).get("action", "").startswith("NoSuchThing")
                   for _, labels in after)
    # The scrapes themselves are not counted.
    assert not any(dict(labels).get("action") == "metrics" for _, labels in after)


def test_clc_polls_and_instances_by_state(mcloud):
    mcloud.wait_for(lambda: value(scrape_clc(mcloud), "mallee_poll_round_duration_seconds_count",
                                  tier="clc") >= 2)
    after = scrape_clc(mcloud)
    assert value(after, "mallee_poll_round_duration_seconds_count", tier="clc") >= 2
    states = {dict(labels)["state"]: v for (name, labels), v in after.items()
              if name == "mallee_clc_instances"}
    assert set(states) == {"pending", "running", "stopping", "stopped", "shutting-down",
                           "terminated"}


def test_walrus_counts_s3_operations_and_its_totals_move_by_what_was_stored(mcloud):
    s3 = mcloud.client("s3")
    port = rpc_ports(mcloud)["walrus"]
    before = scrape_rpc(mcloud, "walrus", port)
    # A bucket called "metrics": on the S3 port, /metrics is its listing, never ours.
    s3.create_bucket(Bucket="metrics")
    s3.put_object(Bucket="metrics", Key="a", Body=b"x" * 1000)
    s3.put_object(Bucket="metrics", Key="b", Body=b"y" * 24)
    s3.put_object(Bucket="metrics", Key="b", Body=b"z" * 10)  # replaces: one object still
    listed = s3.list_objects_v2(Bucket="metrics")
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [("a", 1000), ("b", 10)]
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="metrics", Key="absent")
    after = scrape_rpc(mcloud, "walrus", port)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    assert moved("mallee_requests_total", tier="walrus", action="PUT bucket", code="2xx") == 1
    assert moved("mallee_requests_total", tier="walrus", action="PUT object", code="2xx") == 3
    assert moved("mallee_requests_total", tier="walrus", action="GET bucket", code="2xx") == 1
    assert moved("mallee_requests_total", tier="walrus", action="GET object", code="4xx") == 1
    assert moved("mallee_request_duration_seconds_count", tier="walrus",
                 action="PUT object") == 3
    assert moved("mallee_walrus_buckets") == 1
    assert moved("mallee_walrus_objects") == 2
    assert moved("mallee_walrus_stored_bytes") == 1010
    # No label carries a bucket's or a key's name (tenants' data, unbounded).
    assert not {v for _, labels in after for _, v in labels} & {"metrics", "a", "b", "absent"}

    # Anonymous GET /metrics on the S3 port is S3's ListObjects of that private bucket.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{mcloud.s3_url}metrics", timeout=10)
    assert refused.value.code == 403
    assert b"<Code>AccessDenied</Code>" in refused.value.read()

    s3.delete_object(Bucket="metrics", Key="a")
    s3.delete_object(Bucket="metrics", Key="b")
    s3.delete_bucket(Bucket="metrics")
    emptied = scrape_rpc(mcloud, "walrus", port)
    for name in ("mallee_walrus_objects", "mallee_walrus_stored_bytes", "mallee_walrus_buckets"):
        assert value(emptied, name) == value(before, name)


def test_the_object_count_follows_versions_markers_and_their_removal(mcloud):
    """The count is kept by triggers on `objects` (walrus migration 0011): every way a
    current version comes and goes keeps it equal to what ListObjects lists."""
    s3 = mcloud.client("s3")
    port = rpc_ports(mcloud)["walrus"]
    base = value(scrape_rpc(mcloud, "walrus", port), "mallee_walrus_objects")

    def objects():
        return value(scrape_rpc(mcloud, "walrus", port), "mallee_walrus_objects") - base
    s3.create_bucket(Bucket="counted")
    s3.put_bucket_versioning(Bucket="counted", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="counted", Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket="counted", Key="k", Body=b"22")  # the first becomes noncurrent
    assert objects() == 1
    marker = s3.delete_object(Bucket="counted", Key="k")["VersionId"]  # a delete marker
    assert objects() == 0 and "Contents" not in s3.list_objects_v2(Bucket="counted")
    s3.delete_object(Bucket="counted", Key="k", VersionId=marker)  # the newest comes back
    assert objects() == 1
    versions = s3.list_object_versions(Bucket="counted")["Versions"]
    for version in versions:
        s3.delete_object(Bucket="counted", Key="k", VersionId=version["VersionId"])
    assert first in {v["VersionId"] for v in versions} and objects() == 0
    s3.delete_bucket(Bucket="counted")


def test_the_sc_counts_its_volumes_by_state_and_size(mcloud):
    ec2 = mcloud.client("ec2")
    sc_port = mcloud.settings.sc.port
    before = scrape_rpc(mcloud, "sc", sc_port)
    volume = ec2.create_volume(AvailabilityZone="mallee-1a", Size=3)["VolumeId"]
    assert mcloud.wait_for(lambda: ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]
                           ["State"] == "available")
    made = scrape_rpc(mcloud, "sc", sc_port)

    def moved(samples, name, **labels):
        return value(samples, name, **labels) - value(before, name, **labels)
    assert moved(made, "mallee_sc_volumes", state="available") == 1
    assert moved(made, "mallee_sc_volume_bytes", state="available") == 3 * 2**30
    assert moved(made, "mallee_requests_total", tier="sc", action="create_volume",
                 code="2xx") == 1
    assert value(made, "mallee_sc_exports") == 0
    assert {dict(labels)["state"] for (name, labels) in made if name == "mallee_sc_snapshots"} \
        == {"pending", "completed", "error"}
    ec2.delete_volume(VolumeId=volume)
    assert mcloud.wait_for(lambda: moved(scrape_rpc(mcloud, "sc", sc_port), "mallee_sc_volumes",
                                         state="available") == 0)


def test_cc_polls_and_reports_each_nodes_capacity(mcloud):
    s = mcloud.settings
    node = f"127.0.0.1:{s.nc.port}"
    mcloud.wait_for(lambda: value(scrape_rpc(mcloud, "cc", s.cc.port),
                                  "mallee_poll_round_duration_seconds_count", tier="cc") >= 2)
    cc = scrape_rpc(mcloud, "cc", s.cc.port)
    assert value(cc, "mallee_poll_round_duration_seconds_count", tier="cc") >= 2
    assert value(cc, "mallee_poll_round_duration_seconds_sum", tier="cc") > 0
    assert value(cc, "mallee_cc_node_up", node=node) == 1
    assert value(cc, "mallee_cc_node_capacity_cores", node=node) == 8
    assert value(cc, "mallee_cc_node_capacity_memory_bytes", node=node) == 8192 * 2**20
    assert value(cc, "mallee_cc_node_capacity_disk_bytes", node=node) == 200 * 2**30
    assert value(cc, "mallee_cc_node_free_cores", node=node) == 8
    assert value(cc, "mallee_cc_node_instances", node=node) == 0
    # The CLC's polls of this cluster are counted by method.
    assert value(cc, "mallee_requests_total", tier="cc", action="describe_resources",
                 code="2xx") >= 1


def test_nc_reports_its_capacity_and_guests_and_counts_the_polls(mcloud):
    s = mcloud.settings
    nc = scrape_rpc(mcloud, "nc", s.nc.port)
    assert value(nc, "mallee_nc_capacity_cores") == 8
    assert value(nc, "mallee_nc_capacity_memory_bytes") == 8192 * 2**20
    assert value(nc, "mallee_nc_capacity_disk_bytes") == 200 * 2**30
    assert value(nc, "mallee_nc_free_cores") == 8
    assert value(nc, "mallee_nc_guests", state="running") == 0
    assert value(nc, "mallee_requests_total", tier="nc", action="describe_resource",
                 code="2xx") >= 2


def test_each_tier_exposes_only_its_own_metrics(mcloud):
    sc = rpc.RpcClient("127.0.0.1", mcloud.settings.sc.port,
                       rpc.client_ssl_context(mcloud.settings.pki_dir, "admin"), role="sc")

    async def health():
        try:
            return await sc.call("health")
        finally:
            await sc.close()
    mcloud.run(health())  # nothing else calls the SC here
    scraped = {"clc": scrape_clc(mcloud)}
    for role, port in rpc_ports(mcloud).items():
        scraped[role] = scrape_rpc(mcloud, role, port)
    for tier, samples in scraped.items():
        tiers = {dict(labels)["tier"] for _, labels in samples if "tier" in dict(labels)}
        assert tiers == {tier}, (tier, tiers)
        own = {"clc": "mallee_clc_", "cc": "mallee_cc_", "nc": "mallee_nc_",
               "walrus": "mallee_walrus_", "sc": "mallee_sc_"}[tier]
        assert any(name.startswith(own) for name, _ in samples), tier
        assert all(not name.startswith(("mallee_clc_", "mallee_cc_", "mallee_nc_",
                                        "mallee_walrus_", "mallee_sc_"))
                   or name.startswith(own) for name, _ in samples), tier
    assert value(scraped["sc"], "mallee_requests_total", tier="sc", action="health",
                 code="2xx") == 1


def test_rpc_tiers_serve_metrics_to_cloud_certificates_only(mcloud):
    port = mcloud.settings.nc.port
    # No client certificate: the handshake itself is refused (CERT_REQUIRED).
    bare = ssl.create_default_context(cafile=str(mcloud.settings.pki_dir / "ca.pem"))
    with pytest.raises(aiohttp.ClientError):
        mcloud.run(_get_tls(port, "nc", bare))
    # A tenant's certificate (the users' CA): refused at the handshake too.
    pki_dir = mcloud.settings.pki_dir
    with pytest.raises(aiohttp.ClientError):
        mcloud.run(_get_tls(port, "nc", _calling_context(pki_dir, *_tenant(pki_dir))))
    # The cloud's CA but no role: the handshake passes, the page does not.
    status, text = mcloud.run(_get_tls(port, "nc", _calling_context(
        pki_dir, *_legacy(pki_dir, "cc"))))
    assert status == 403 and "mallee_" not in text
    # Any component certificate reads them (admin's too, for an operator's curl).
    assert "mallee_nc_capacity_cores" in {n for n, _ in scrape_rpc(mcloud, "nc", port, "admin")}
    # The monitor certificate reads metrics and calls nothing.
    client = rpc.RpcClient("127.0.0.1", port,
                           rpc.client_ssl_context(mcloud.settings.pki_dir, "monitor"), role="nc")

    async def call():
        try:
            await client.call("describe_resource")
        finally:
            await client.close()
    from mallee import errors
    with pytest.raises(errors.UnauthorizedOperation, match="monitor may not call"):
        mcloud.run(call())


def test_a_launch_moves_instances_by_state_guests_and_free_capacity(mcloud, tmp_path_factory):
    image = mcloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
    ec2 = mcloud.client("ec2")
    s = mcloud.settings
    node = f"127.0.0.1:{s.nc.port}"
    before = scrape_clc(mcloud)
    made = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="m1.small")
    ids = [i["InstanceId"] for i in made["Instances"]]

    def running() -> dict:
        clc = scrape_clc(mcloud)
        return clc if value(clc, "mallee_clc_instances", state="running") == \
            value(before, "mallee_clc_instances", state="running") + 2 else {}
    assert mcloud.wait_for(running, timeout=60)
    nc = scrape_rpc(mcloud, "nc", s.nc.port)
    assert value(nc, "mallee_nc_guests", state="running") == 2
    assert value(nc, "mallee_nc_free_cores") == 8 - 2  # m1.small: 1 core, 256 MiB, 5 GiB
    assert value(nc, "mallee_nc_free_memory_bytes") == (8192 - 512) * 2**20
    assert value(nc, "mallee_nc_free_disk_bytes") == (200 - 10) * 2**30
    assert mcloud.wait_for(lambda: value(scrape_rpc(mcloud, "cc", s.cc.port),
                                         "mallee_cc_node_instances", node=node) == 2)
    assert value(scrape_rpc(mcloud, "cc", s.cc.port), "mallee_cc_node_free_cores",
                 node=node) == 6
    assert value(scrape_clc(mcloud), "mallee_requests_total", tier="clc",
                 action="RunInstances", code="2xx") == 1
    ec2.terminate_instances(InstanceIds=ids)
    assert mcloud.wait_for(lambda: value(scrape_clc(mcloud), "mallee_clc_instances",
                                         state="terminated") == 2, timeout=60)
    assert value(scrape_clc(mcloud), "mallee_clc_instances", state="running") == \
        value(before, "mallee_clc_instances", state="running")
