"""CloudWatch through boto3 and awscli on a test cloud (FakeDriver): the guests'
samples come up from the NC with the CC's and the CLC's polls and become AWS/EC2
metrics (CPUUtilization at the FakeDriver's load), ListMetrics shows them,
PutMetricData and GetMetricStatistics round trip, GetMetricData, each account
sees only its own, and AWS's errors (docs/metrics.md, "CloudWatch")."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.harness import Cloud, available_components

LOAD = 0.4  # the FakeDriver guests' CPU load: CPUUtilization 40 %
FAKE = {"MALLEE_NC_METRICS_SECONDS": "0.3", "MALLEE_NC_FAKE_GUEST_LOAD": str(LOAD)}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = Cloud(tmp_path_factory.mktemp("cw"), available_components(), env=FAKE).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def ec2(cloud):
    return cloud.client("ec2")


@pytest.fixture(scope="module")
def cw(cloud):
    return cloud.client("cloudwatch")


@pytest.fixture(scope="module")
def bob(cloud):
    return cloud.new_account("bob")


@pytest.fixture(scope="module")
def bob_cw(cloud, bob):
    return cloud.client("cloudwatch", bob)


@pytest.fixture(scope="module")
def published(cloud, ec2, tmp_path_factory):
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))


def window(minutes: int = 10) -> dict:
    now = datetime.now(timezone.utc)
    return {"StartTime": now - timedelta(minutes=minutes), "EndTime": now + timedelta(minutes=1)}


def code_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def instance(cloud, ec2, cw, published):
    """A running c1.medium (2 vCPUs) with samples stored at the CLC."""
    answer = ec2.run_instances(ImageId=published["image"], MinCount=1, MaxCount=1,
                               InstanceType="c1.medium")
    instance_id = answer["Instances"][0]["InstanceId"]

    def sampled():
        points = cw.get_metric_statistics(
            Namespace="AWS/EC2", MetricName="CPUUtilization", Period=60,
            Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            Statistics=["SampleCount"], **window())["Datapoints"]
        return sum(p["SampleCount"] for p in points) >= 3
    cloud.wait_for(sampled, timeout=30, interval=0.3)
    yield {"id": instance_id, "image": published["image"]}
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_cpu_utilization_is_the_guests_load(cw, instance):
    points = cw.get_metric_statistics(
        Namespace="AWS/EC2", MetricName="CPUUtilization", Period=60,
        Dimensions=[{"Name": "InstanceId", "Value": instance["id"]}],
        Statistics=["Average", "Minimum", "Maximum", "SampleCount"], **window())["Datapoints"]
    assert points and all(p["Unit"] == "Percent" for p in points)
    for p in points:  # time.monotonic deltas against the driver's: a hair apart
        assert p["Average"] == pytest.approx(LOAD * 100, abs=2.0)
        assert p["Minimum"] <= p["Average"] <= p["Maximum"] <= 100


def test_network_and_disk_are_the_counters_growth(cw, instance):
    """FakeDriver's counters grow at guest_stats.FAKE_RATES x load x vCPUs per second:
    the sums per period over the time sampled, per second of samples, are that."""
    from node_controller.hypervisor.guest_stats import FAKE_RATES
    rates = {"NetworkIn": "net_rx_bytes", "NetworkOut": "net_tx_bytes",
             "DiskReadBytes": "disk_read_bytes", "DiskWriteOps": "disk_write_ops"}
    dims = [{"Name": "InstanceId", "Value": instance["id"]}]
    for metric, counter in rates.items():
        points = cw.get_metric_statistics(Namespace="AWS/EC2", MetricName=metric, Period=60,
                                          Dimensions=dims, Statistics=["Sum", "SampleCount"],
                                          **window())["Datapoints"]
        assert points, metric
        per_sample = sum(p["Sum"] for p in points) / sum(p["SampleCount"] for p in points)
        expected = FAKE_RATES[counter] * LOAD * 2 * 0.3  # 2 vCPUs, samples every 0.3 s
        assert per_sample == pytest.approx(expected, rel=0.5), metric


def test_list_metrics_shows_the_instances_metrics(cw, instance):
    found = cw.list_metrics(Namespace="AWS/EC2",
                            Dimensions=[{"Name": "InstanceId", "Value": instance["id"]}])
    names = {m["MetricName"] for m in found["Metrics"]}
    assert names == {"CPUUtilization", "NetworkIn", "NetworkOut", "NetworkPacketsIn",
                     "NetworkPacketsOut", "DiskReadBytes", "DiskWriteBytes", "DiskReadOps",
                     "DiskWriteOps"}
    by_type = cw.list_metrics(Namespace="AWS/EC2", MetricName="CPUUtilization",
                              Dimensions=[{"Name": "InstanceType"}])["Metrics"]
    assert {"Name": "InstanceType", "Value": "c1.medium"} in \
        [d for m in by_type for d in m["Dimensions"]]
    image = cw.get_metric_statistics(
        Namespace="AWS/EC2", MetricName="CPUUtilization", Period=600,
        Dimensions=[{"Name": "ImageId", "Value": instance["image"]}],
        Statistics=["Average"], **window())["Datapoints"]
    assert image and image[0]["Average"] == pytest.approx(LOAD * 100, abs=2.0)


def test_list_metrics_pages(cw):
    cw.put_metric_data(Namespace="Paging", MetricData=[
        {"MetricName": f"m{i}", "Value": i} for i in range(600)])
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace="Paging"))
    assert len(pages) == 2 and "NextToken" in {k for k in pages[0]}
    assert len({m["MetricName"] for p in pages for m in p["Metrics"]}) == 600


def test_put_metric_data_round_trip(cw):
    now = datetime.now(timezone.utc).replace(second=30, microsecond=0)
    dims = [{"Name": "Server", "Value": "web-1"}, {"Name": "Env", "Value": "test"}]
    cw.put_metric_data(Namespace="MyApp", MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": now, "Value": 10,
         "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": now, "Unit": "Milliseconds",
         "StatisticValues": {"SampleCount": 4, "Sum": 100, "Minimum": 5, "Maximum": 50}},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": now, "Unit": "Milliseconds",
         "Values": [1, 2], "Counts": [3, 1]},
    ])
    stats = cw.get_metric_statistics(
        Namespace="MyApp", MetricName="Latency", Dimensions=list(reversed(dims)),
        StartTime=now - timedelta(minutes=1), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Average", "Sum", "Minimum", "Maximum", "SampleCount"],
        Unit="Milliseconds")["Datapoints"]
    assert len(stats) == 1
    point = stats[0]
    assert point["SampleCount"] == 9 and point["Sum"] == 10 + 100 + 5
    assert point["Minimum"] == 1 and point["Maximum"] == 50
    assert point["Average"] == pytest.approx(115 / 9) and point["Unit"] == "Milliseconds"
    assert point["Timestamp"] == now.replace(second=0)
    other_unit = cw.get_metric_statistics(
        Namespace="MyApp", MetricName="Latency", Dimensions=dims,
        StartTime=now - timedelta(minutes=1), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Sum"], Unit="Seconds")["Datapoints"]
    assert other_unit == []
    fewer_dims = cw.get_metric_statistics(
        Namespace="MyApp", MetricName="Latency", Dimensions=dims[:1],
        StartTime=now - timedelta(minutes=1), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Sum"])["Datapoints"]
    assert fewer_dims == []  # a series is its exact dimensions, as AWS's


def test_get_metric_data(cw, instance):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    cw.put_metric_data(Namespace="MyApp", MetricData=[
        {"MetricName": "Jobs", "Timestamp": now - timedelta(minutes=m), "Value": m}
        for m in range(1, 4)])
    answer = cw.get_metric_data(
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1),
        MetricDataQueries=[
            {"Id": "jobs", "MetricStat": {"Metric": {"Namespace": "MyApp", "MetricName": "Jobs"},
                                          "Period": 60, "Stat": "Sum"}},
            {"Id": "cpu", "Label": "cpu", "MetricStat": {
                "Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                           "Dimensions": [{"Name": "InstanceId", "Value": instance["id"]}]},
                "Period": 300, "Stat": "Average"}}])
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert results["jobs"]["Values"] == [1.0, 2.0, 3.0]  # newest first
    assert results["jobs"]["Timestamps"][0] == now - timedelta(minutes=1)
    assert results["cpu"]["Values"] and \
        results["cpu"]["Values"][0] == pytest.approx(LOAD * 100, abs=2.0)
    assert results["jobs"]["StatusCode"] == "Complete"
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(StartTime=now - timedelta(minutes=5), EndTime=now,
                           MetricDataQueries=[{"Id": "e", "Expression": "SUM(METRICS())"}])
    assert code_of(err) == "InvalidParameterValue"
    assert "not supported" in err.value.response["Error"]["Message"]


def test_accounts_see_only_their_own(cw, bob_cw, instance):
    bob_cw.put_metric_data(Namespace="MyApp", MetricData=[
        {"MetricName": "BobOnly", "Value": 1}])
    dims = [{"Name": "InstanceId", "Value": instance["id"]}]
    assert bob_cw.list_metrics(Namespace="AWS/EC2")["Metrics"] == []
    assert bob_cw.get_metric_statistics(
        Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=dims, Period=60,
        Statistics=["Average"], **window())["Datapoints"] == []
    assert [m["MetricName"] for m in bob_cw.list_metrics(Namespace="MyApp")["Metrics"]] \
        == ["BobOnly"]
    assert "BobOnly" not in {m["MetricName"] for m in
                             cw.list_metrics(Namespace="MyApp")["Metrics"]}
    assert cw.get_metric_statistics(Namespace="MyApp", MetricName="BobOnly", Period=60,
                                    Statistics=["Sum"], **window())["Datapoints"] == []


@pytest.mark.parametrize("call, code", [
    (lambda cw: cw.put_metric_data(Namespace="AWS/EC2", MetricData=[
        {"MetricName": "CPUUtilization", "Value": 1}]), "InvalidParameterValue"),
    (lambda cw: cw.put_metric_data(Namespace="N", MetricData=[
        {"MetricName": "m", "Value": 1, "StatisticValues": {
            "SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]),
     "InvalidParameterCombination"),
    (lambda cw: cw.put_metric_data(Namespace="N", MetricData=[{"MetricName": "m"}]),
     "MissingParameter"),
    (lambda cw: cw.put_metric_data(Namespace="N", MetricData=[
        {"MetricName": "m", "Value": 1,
         "Timestamp": datetime.now(timezone.utc) - timedelta(days=20)}]),
     "InvalidParameterValue"),
    (lambda cw: cw.put_metric_data(Namespace="N", MetricData=[
        {"MetricName": "m", "Values": [1, 2], "Counts": [1]}]), "InvalidParameterValue"),
    (lambda cw: cw.get_metric_statistics(Namespace="N", MetricName="m", Period=90,
                                         Statistics=["Sum"], **window()),
     "InvalidParameterValue"),
    (lambda cw: cw.get_metric_statistics(Namespace="N", MetricName="m", Period=60,
                                         Statistics=["Sum"], ExtendedStatistics=["p99"],
                                         **window()), "InvalidParameterCombination"),
    (lambda cw: cw.get_metric_statistics(Namespace="N", MetricName="m", Period=60,
                                         ExtendedStatistics=["p99"], **window()),
     "InvalidParameterValue"),
    (lambda cw: cw.get_metric_statistics(Namespace="N", MetricName="m", Period=60,
                                         **window()), "MissingParameter"),
    (lambda cw: cw.get_metric_statistics(Namespace="N", MetricName="m", Period=60,
                                         Statistics=["Sum"], **window(60 * 24 * 2)),
     "InvalidParameterCombination"),
    (lambda cw: cw.get_metric_statistics(
        Namespace="N", MetricName="m", Period=60, Statistics=["Sum"],
        StartTime=datetime.now(timezone.utc), EndTime=datetime.now(timezone.utc)
        - timedelta(minutes=5)), "InvalidParameterValue"),
    (lambda cw: cw.list_metrics(NextToken="not-a-token!"), "InvalidParameterValue"),
])
def test_errors_as_aws(cw, call, code):
    with pytest.raises(ClientError) as err:
        call(cw)
    assert code_of(err) == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_modeled_exceptions(cw):
    """boto3's modeled exception classes catch ours (the query-compatible error code)."""
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/Mine", MetricData=[{"MetricName": "m", "Value": 1}])


def test_awscli_get_metric_statistics(cloud, instance):
    now = datetime.now(timezone.utc)
    out = cloud.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/EC2",
                    "--metric-name", "CPUUtilization",
                    "--dimensions", f"Name=InstanceId,Value={instance['id']}",
                    "--statistics", "Average", "--period", "60",
                    "--start-time", (now - timedelta(minutes=10)).isoformat(),
                    "--end-time", (now + timedelta(minutes=1)).isoformat())
    assert out["Label"] == "CPUUtilization" and out["Datapoints"]
    assert out["Datapoints"][0]["Average"] == pytest.approx(LOAD * 100, abs=2.0)
    listed = cloud.aws("cloudwatch", "list-metrics", "--namespace", "AWS/EC2")
    assert any(m["MetricName"] == "NetworkIn" for m in listed["Metrics"])


def test_samples_are_not_lost_or_doubled_through_the_tiers(cloud, cw, instance):
    """Over a while, the SampleCount the CLC has grows by about one per sampling
    interval: none doubled by the acks, none lost."""
    dims = [{"Name": "InstanceId", "Value": instance["id"]}]

    def count():
        return sum(p["SampleCount"] for p in cw.get_metric_statistics(
            Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=dims, Period=60,
            Statistics=["SampleCount"], StartTime=datetime.now(timezone.utc) - timedelta(hours=1),
            EndTime=datetime.now(timezone.utc) + timedelta(minutes=1))["Datapoints"])
    before, started = count(), time.monotonic()
    time.sleep(3)
    grown, elapsed = count() - before, time.monotonic() - started
    assert elapsed / 0.3 * 0.6 <= grown <= elapsed / 0.3 + 3


@pytest.fixture(scope="module")
def query_cw(cloud, tmp_path_factory):
    """A boto3 client speaking CloudWatch's Query protocol, as SDKs before the JSON
    one did: the same botocore, its model told that query is the protocol."""
    import json as json_mod
    import boto3
    import botocore.session
    from botocore.config import Config
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"] = {**model["metadata"], "protocol": "query", "protocols": ["query"]}
    root = tmp_path_factory.mktemp("models")
    folder = root / "cloudwatch" / "2010-08-01"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json_mod.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(root))  # found first
    client = boto3.Session(botocore_session=session).client(
        "cloudwatch", endpoint_url=cloud.ec2_url, region_name=cloud.settings.cloud.region,
        aws_access_key_id=cloud.admin.access_key_id,
        aws_secret_access_key=cloud.admin.secret_access_key,
        config=Config(retries={"max_attempts": 1}))
    assert client.meta.service_model.protocol == "query"
    return client


def test_the_query_protocol_of_older_sdks(query_cw, cw, instance):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    sent = []
    query_cw.meta.events.register("before-send.cloudwatch.*",
                                  lambda request, **_: sent.append(request.body))
    query_cw.put_metric_data(Namespace="Legacy", MetricData=[
        {"MetricName": "Queue", "Dimensions": [{"Name": "Q", "Value": "jobs"}],
         "Timestamp": now, "Value": 7, "Unit": "Count"}])
    assert b"Action=PutMetricData" in sent[0]  # the form, not JSON
    points = query_cw.get_metric_statistics(
        Namespace="Legacy", MetricName="Queue", Dimensions=[{"Name": "Q", "Value": "jobs"}],
        StartTime=now - timedelta(minutes=1), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Sum", "SampleCount"])["Datapoints"]
    assert points == [{"Timestamp": now, "Sum": 7.0, "SampleCount": 1.0, "Unit": "Count"}]
    assert cw.get_metric_statistics(  # the same series through the JSON protocol
        Namespace="Legacy", MetricName="Queue", Dimensions=[{"Name": "Q", "Value": "jobs"}],
        StartTime=now - timedelta(minutes=1), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Sum"])["Datapoints"][0]["Sum"] == 7.0
    listed = query_cw.list_metrics(Namespace="AWS/EC2", MetricName="CPUUtilization",
                                   Dimensions=[{"Name": "InstanceId",
                                                "Value": instance["id"]}])["Metrics"]
    assert listed == [{"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                       "Dimensions": [{"Name": "InstanceId", "Value": instance["id"]}]}]
    data = query_cw.get_metric_data(
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
        MetricDataQueries=[{"Id": "cpu", "MetricStat": {
            "Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                       "Dimensions": [{"Name": "InstanceId", "Value": instance["id"]}]},
            "Period": 600, "Stat": "Average"}}])["MetricDataResults"]
    assert data[0]["Values"][0] == pytest.approx(LOAD * 100, abs=2.0)
    with pytest.raises(query_cw.exceptions.InvalidParameterValueException):
        query_cw.put_metric_data(Namespace="AWS/EC2", MetricData=[
            {"MetricName": "m", "Value": 1}])
    with pytest.raises(ClientError) as err:
        query_cw.get_metric_statistics(Namespace="N", MetricName="m", Period=60,
                                       Statistics=["Sum"], ExtendedStatistics=["p9"],
                                       **window())
    assert code_of(err) == "InvalidParameterCombination"
