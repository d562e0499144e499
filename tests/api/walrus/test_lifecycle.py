"""Lifecycle rules (issue 13 item 4): Put/Get/DeleteBucketLifecycleConfiguration with
boto3 and awscli, every refusal S3 gives, x-amz-expiration, and a Walrus whose "day"
lasts one second watched while its worker expires objects, noncurrent versions, delete
markers and uploads."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from mallee import pki
from tests.api.walrus.helpers import (ALICE, WalrusServer, awscli, client_for, code, signed,
                                      status, upgraded)

RULE = {"ID": "expire-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
        "Expiration": {"Days": 30}}
DEADLINE = 20  # seconds a fast worker gets to act


def put_rules(s3, bucket, rules):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                          LifecycleConfiguration={"Rules": rules})


def refused(s3, bucket, rules) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        put_rules(s3, bucket, rules)
    return status(e), code(e)


def test_put_get_delete(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert (status(e), code(e)) == (404, "NoSuchLifecycleConfiguration")
    rules = [
        RULE,
        {"ID": "tagged", "Filter": {"Tag": {"Key": "tmp", "Value": "yes"}},
         "Status": "Disabled", "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=timezone.utc)}},
        {"ID": "and", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}],
                                         "ObjectSizeGreaterThan": 10,
                                         "ObjectSizeLessThan": 1000}},
         "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3,
                                                              "NewerNoncurrentVersions": 2}},
        {"ID": "big", "Filter": {"ObjectSizeGreaterThan": 5}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "markers", "Filter": {}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "legacy", "Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 1}},
    ]
    put_rules(s3, bucket, rules)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got == rules
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == "NoSuchLifecycleConfiguration"
    s3.delete_bucket_lifecycle(Bucket=bucket)  # none: still 204


def test_refusals(s3, bucket):
    bad = dict(RULE)
    assert refused(s3, bucket, [{**RULE, "Expiration": {"Days": 0}}]) == (400, "InvalidArgument")
    assert refused(s3, bucket, [{**RULE, "Expiration": {"Days": -3}}]) == (400, "InvalidArgument")
    assert refused(s3, bucket, [{**RULE, "Expiration": {
        "Date": datetime(2030, 1, 1, 12, tzinfo=timezone.utc)}}]) == (400, "InvalidArgument")
    assert refused(s3, bucket, [RULE, dict(RULE)]) == (400, "InvalidArgument")
    assert refused(s3, bucket, [{"ID": "x", "Filter": {}, "Status": "Enabled"}]) == \
        (400, "MalformedXML")
    assert refused(s3, bucket, [{**bad, "ID": str(i)} for i in range(1001)]) == \
        (400, "MalformedXML")
    assert refused(s3, bucket, [{**RULE, "NoncurrentVersionExpiration": {"NoncurrentDays": 0}}]) \
        == (400, "InvalidArgument")
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)  # nothing was kept


def _raw_put(server, bucket, body: bytes, md5=True):
    import base64
    import hashlib
    headers = {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()} \
        if md5 else {}
    return signed(server, ALICE, "PUT", f"/{bucket}?lifecycle", body, headers)


def test_raw_refusals(server, bucket):
    ok = (b"<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>p/</Prefix></Filter>"
          b"<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
          b"</LifecycleConfiguration>")
    r = _raw_put(server, bucket, ok, md5=False)
    assert r.status_code == 400 and b"<Code>InvalidRequest</Code>" in r.content
    for body in (b"<LifecycleConfiguration><Rule>", b"not xml",
                 ok.replace(b"<Status>Enabled</Status>", b"<Status>On</Status>"),
                 ok.replace(b"<Filter><Prefix>p/</Prefix></Filter>", b""),
                 ok.replace(b"<Prefix>p/</Prefix>", b"<Prefix>p/</Prefix><Tag><Key>a</Key>"
                            b"<Value>b</Value></Tag>"),
                 ok.replace(b"<Days>1</Days>", b"<Days>1</Days><Date>2030-01-01T00:00:00Z</Date>"),
                 ok.replace(b"<Days>1</Days>", b"<Days>x</Days>")):
        r = _raw_put(server, bucket, body)
        assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content, body
    r = _raw_put(server, bucket, ok.replace(b"<Days>1</Days>", b"<Date>tomorrow</Date>"))
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content
    r = _raw_put(server, bucket, ok.replace(b"<Days>1</Days>",
                                            b"<Date>2030-01-01T00:00:00.000Z</Date>"))
    assert r.status_code == 200
    # indented documents parse
    r = _raw_put(server, bucket, b"<LifecycleConfiguration>\n  <Rule>\n    <ID>r</ID>\n"
                 b"    <Filter>\n      <Prefix>p/</Prefix>\n    </Filter>\n"
                 b"    <Status>Enabled</Status>\n    <Expiration>\n      <Days>2</Days>\n"
                 b"    </Expiration>\n  </Rule>\n</LifecycleConfiguration>\n")
    assert r.status_code == 200


def test_expiration_header(s3, bucket):
    put_rules(s3, bucket, [RULE, {"ID": "tmp", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}},
                                  "Status": "Enabled", "Expiration": {"Days": 2}}])
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    header = put["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    assert header.startswith('expiry-date="') and header.endswith('", rule-id="expire-logs"')
    assert "00:00:00 GMT" in header  # a real day rounds up to midnight UTC
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    assert head["Expiration"] == header
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == header
    tagged = s3.put_object(Bucket=bucket, Key="logs/b", Body=b"x", Tagging="tmp=1")
    assert 'rule-id="tmp"' in tagged["Expiration"]  # the earlier expiry wins
    assert 'rule-id="tmp"' in s3.head_object(Bucket=bucket, Key="logs/b")["Expiration"]
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")


def test_awscli(aws, bucket, tmp_path):
    config = tmp_path / "lifecycle.json"
    config.write_text(json.dumps({"Rules": [RULE]}))
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket,
        "--lifecycle-configuration", f"file://{config}")
    got = json.loads(aws("s3api", "get-bucket-lifecycle-configuration", "--bucket",
                         bucket).stdout)
    assert got["Rules"] == [RULE]
    aws("s3api", "delete-bucket-lifecycle", "--bucket", bucket)
    done = aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket, check=False)
    assert done.returncode != 0 and "NoSuchLifecycleConfiguration" in done.stderr


# --- a Walrus whose day is one second, watched -------------------------------------


@pytest.fixture
def fs3(fast):
    return client_for(fast, ALICE)


_names = iter(range(1_000_000))


@pytest.fixture
def fbucket(fs3):
    name = f"life-{os.getpid()}-{next(_names)}"
    fs3.create_bucket(Bucket=name)
    return name


def wait_for(check, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    assert check(), "the lifecycle worker did not act in time"


def keys(s3, bucket) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_rules_expire_by_prefix_tag_and_size(fs3, fbucket):
    fs3.put_object(Bucket=fbucket, Key="logs/a", Body=b"x")
    fs3.put_object(Bucket=fbucket, Key="keep/a", Body=b"x")
    fs3.put_object(Bucket=fbucket, Key="t/tagged", Body=b"x", Tagging="tmp=yes")
    fs3.put_object(Bucket=fbucket, Key="t/other-tag", Body=b"x", Tagging="tmp=no")
    fs3.put_object(Bucket=fbucket, Key="s/big", Body=b"x" * 100)
    fs3.put_object(Bucket=fbucket, Key="s/small", Body=b"x")
    fs3.put_object(Bucket=fbucket, Key="d/disabled", Body=b"x")
    put_rules(fs3, fbucket, [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 2}},
        {"ID": "tag", "Filter": {"And": {"Prefix": "t/", "Tags": [{"Key": "tmp",
                                                                   "Value": "yes"}]}},
         "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "size", "Filter": {"ObjectSizeGreaterThan": 50}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "off", "Filter": {"Prefix": "d/"}, "Status": "Disabled",
         "Expiration": {"Days": 1}},
    ])
    wait_for(lambda: keys(fs3, fbucket) == {"keep/a", "t/other-tag", "s/small", "d/disabled"})
    time.sleep(1.5)  # a few more passes change nothing else
    assert keys(fs3, fbucket) == {"keep/a", "t/other-tag", "s/small", "d/disabled"}
    # new objects under a rule carry its header and go in their turn
    put = fs3.put_object(Bucket=fbucket, Key="logs/b", Body=b"y")
    assert 'rule-id="logs"' in put["Expiration"]
    wait_for(lambda: "logs/b" not in keys(fs3, fbucket))


def test_date_in_the_past_expires_at_once(fs3, fbucket):
    fs3.put_object(Bucket=fbucket, Key="a", Body=b"x")
    put_rules(fs3, fbucket, [{"ID": "date", "Filter": {}, "Status": "Enabled",
                              "Expiration": {"Date": datetime(2020, 1, 1,
                                                              tzinfo=timezone.utc)}}])
    wait_for(lambda: not keys(fs3, fbucket))


def test_versioned_bucket(fs3, fbucket):
    fs3.put_bucket_versioning(Bucket=fbucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2", b"3"):
        fs3.put_object(Bucket=fbucket, Key="v/k", Body=body)
    put_rules(fs3, fbucket, [
        {"ID": "current", "Filter": {"Prefix": "v/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "old", "Filter": {"Prefix": "v/"}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "markers", "Filter": {"Prefix": "v/"}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ])

    def listing():
        page = fs3.list_object_versions(Bucket=fbucket)
        return page.get("Versions", []), page.get("DeleteMarkers", [])
    # the current object is expired (a delete marker), then every version goes, then the
    # marker, which has nothing left behind it
    wait_for(lambda: listing() == ([], []))
    with pytest.raises(ClientError) as e:
        fs3.head_object(Bucket=fbucket, Key="v/k")
    assert status(e) == 404


def test_noncurrent_keeps_newer_versions(fs3, fbucket):
    fs3.put_bucket_versioning(Bucket=fbucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2", b"3", b"4"):
        fs3.put_object(Bucket=fbucket, Key="k", Body=body)
    put_rules(fs3, fbucket, [{"ID": "keep-1", "Filter": {}, "Status": "Enabled",
                              "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                              "NewerNoncurrentVersions": 1}}])

    def bodies():
        try:
            return sorted(fs3.get_object(Bucket=fbucket, Key="k", VersionId=v["VersionId"])
                          ["Body"].read() for v in fs3.list_object_versions(Bucket=fbucket)
                          .get("Versions", []))
        except ClientError as e:  # the worker removed a listed version before its GET
            assert e.response["Error"]["Code"] == "NoSuchVersion"
            return None
    wait_for(lambda: bodies() == [b"3", b"4"])
    assert fs3.get_object(Bucket=fbucket, Key="k")["Body"].read() == b"4"


def test_marker_with_versions_behind_it_stays(fs3, fbucket):
    fs3.put_bucket_versioning(Bucket=fbucket, VersioningConfiguration={"Status": "Enabled"})
    fs3.put_object(Bucket=fbucket, Key="k", Body=b"1")
    fs3.delete_object(Bucket=fbucket, Key="k")
    fs3.delete_object(Bucket=fbucket, Key="lonely")  # a marker and nothing else
    put_rules(fs3, fbucket, [{"ID": "markers", "Filter": {}, "Status": "Enabled",
                              "Expiration": {"ExpiredObjectDeleteMarker": True}}])
    wait_for(lambda: [m["Key"] for m in fs3.list_object_versions(Bucket=fbucket)
                      .get("DeleteMarkers", [])] == ["k"])
    assert len(fs3.list_object_versions(Bucket=fbucket)["Versions"]) == 1


def test_abort_incomplete_uploads(fs3, fbucket):
    upload = fs3.create_multipart_upload(Bucket=fbucket, Key="up/big")["UploadId"]
    fs3.upload_part(Bucket=fbucket, Key="up/big", UploadId=upload, PartNumber=1, Body=b"p")
    kept = fs3.create_multipart_upload(Bucket=fbucket, Key="other/big")["UploadId"]
    put_rules(fs3, fbucket, [{"ID": "abort", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
                              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])
    wait_for(lambda: [u["UploadId"] for u in fs3.list_multipart_uploads(Bucket=fbucket)
                      .get("Uploads", [])] == [kept])


def test_awscli_rule_acts(fast, fs3, fbucket, tmp_path):
    aws = awscli(fast, tmp_path)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"Rules": [{"ID": "tmp", "Status": "Enabled",
                                            "Filter": {"Prefix": "tmp/"},
                                            "Expiration": {"Days": 1}}]}))
    fs3.put_object(Bucket=fbucket, Key="tmp/x", Body=b"x")
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", fbucket,
        "--lifecycle-configuration", f"file://{rules}")
    wait_for(lambda: not keys(fs3, fbucket))


def test_rules_survive_a_restart(tmp_path):
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path).start()
    first.push(1)
    s3 = client_for(first, ALICE)
    s3.create_bucket(Bucket="kept")
    put_rules(s3, "kept", [RULE])
    first.stop()
    second = WalrusServer(tmp_path).start()
    try:
        second.push(2)
        again = client_for(second, ALICE)
        assert again.get_bucket_lifecycle_configuration(Bucket="kept")["Rules"] == [RULE]
        again.delete_bucket(Bucket="kept")
    finally:
        second.stop()


def test_version_5_database_gains_the_lifecycle_table(tmp_path):
    """A database of version 5 (versioning) opens at the newest version, with no rules."""
    import sqlite3

    from mallee import migrations
    from walrus.db import MIGRATIONS

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    for m in migrations.found(MIGRATIONS)[:5]:
        conn.executescript(m.script)
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()

    async def examine(db):
        return (await db.one("PRAGMA user_version"))[0], \
            (await db.one("SELECT count(*) FROM bucket_settings"))[0]
    assert upgraded(path, examine) == (len(migrations.found(MIGRATIONS)), 0)


def test_version_6_database_moves_its_rules_into_bucket_settings(tmp_path):
    """0007 folds bucket_cors and bucket_lifecycle into bucket_settings: a version-6
    database keeps every document, under its kind."""
    import sqlite3

    from mallee import migrations
    from walrus.db import MIGRATIONS

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    for m in migrations.found(MIGRATIONS)[:6]:
        conn.executescript(m.script)
    conn.execute("INSERT INTO bucket_cors VALUES ('b1', '[\"cors-rules\"]')")
    conn.execute("INSERT INTO bucket_lifecycle VALUES ('b1', '[\"life-rules\"]')")
    conn.execute("INSERT INTO bucket_lifecycle VALUES ('b2', '[]')")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()

    async def examine(db):
        tables = {r[0] for r in await db.all("SELECT name FROM sqlite_master")}
        return tables, [tuple(r) for r in await db.all(
            "SELECT bucket, kind, document FROM bucket_settings ORDER BY bucket, kind")]
    tables, rows = upgraded(path, examine)
    assert "bucket_cors" not in tables and "bucket_lifecycle" not in tables
    assert rows == [("b1", "cors", '["cors-rules"]'), ("b1", "lifecycle", '["life-rules"]'),
                    ("b2", "lifecycle", "[]")]
