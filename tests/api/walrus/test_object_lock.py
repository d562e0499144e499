"""Object Lock (issue 13 item 8) with boto3 and awscli: buckets created with lock,
the bucket configuration and its default retention, retention and legal holds per
version, the x-amz-object-lock-* headers, what a lock refuses (deleting a version,
weakening COMPLIANCE, GOVERNANCE without the owner's bypass) and allows (delete
markers), lifecycle leaving locked versions alone, and a restart keeping it all."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from mallee import pki
from tests.api.walrus.helpers import ALICE, WalrusServer, client_for, code, status, upgraded

_names = iter(range(1_000_000))
RULE = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}


def soon(seconds: float = 3600) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def error(call, *args, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return status(e), code(e), e.value.response["Error"].get("Message", "")


def release_all(s3, name: str) -> None:
    """Lift every legal hold and delete every version (GOVERNANCE with the owner's bypass,
    COMPLIANCE once its few seconds have passed), then the bucket."""
    deadline = time.time() + 30
    while True:
        left = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                key, vid = item["Key"], item["VersionId"]
                if "ETag" in item:
                    s3.put_object_legal_hold(Bucket=name, Key=key, VersionId=vid,
                                             LegalHold={"Status": "OFF"})
                try:
                    s3.delete_object(Bucket=name, Key=key, VersionId=vid,
                                     BypassGovernanceRetention=True)
                except ClientError:
                    left += 1
        if not left:
            break
        assert time.time() < deadline, "a COMPLIANCE retention outlived its test"
        time.sleep(0.5)
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def locked(s3):
    name = f"lock-{os.getpid()}-{next(_names)}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    release_all(s3, name)


# --- the bucket ----------------------------------------------------------------------

def test_bucket_created_with_lock_is_versioned_and_cannot_be_suspended(s3, locked):
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    assert error(s3.put_bucket_versioning, Bucket=locked,
                 VersioningConfiguration={"Status": "Suspended"})[:2] == \
        (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Enabled"})


def test_configuration_with_a_default_rule(s3, locked):
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": RULE})
    got = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert got == {"ObjectLockEnabled": "Enabled", "Rule": RULE}
    years = {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": years})
    assert s3.get_object_lock_configuration(Bucket=locked)[
        "ObjectLockConfiguration"]["Rule"] == years
    # the default applies to new versions (kept GOVERNANCE here, so the bucket can go)
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": RULE})
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    got = s3.get_object_retention(Bucket=locked, Key="k")["Retention"]
    assert got["Mode"] == "GOVERNANCE"
    want = datetime.now(timezone.utc) + timedelta(days=1)
    assert abs((got["RetainUntilDate"] - want).total_seconds()) < 60
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    # a legal hold alone keeps the default retention beside it
    s3.put_object(Bucket=locked, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON")
    head = s3.head_object(Bucket=locked, Key="h")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    # a delete marker is always allowed; the version itself is kept
    s3.delete_object(Bucket=locked, Key="k")
    version = [v for v in s3.list_object_versions(Bucket=locked)["Versions"]
               if v["Key"] == "k"][0]["VersionId"]
    assert error(s3.delete_object, Bucket=locked, Key="k", VersionId=version)[:2] == \
        (403, "AccessDenied")


def test_configuration_refusals(s3, bucket, locked):
    assert error(s3.get_object_lock_configuration, Bucket=bucket)[:2] == \
        (404, "ObjectLockConfigurationNotFoundError")
    conf = {"ObjectLockEnabled": "Enabled"}
    # an unversioned bucket cannot take it; a versioned one can (AWS allows it now)
    assert error(s3.put_object_lock_configuration, Bucket=bucket,
                 ObjectLockConfiguration=conf)[:2] == (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert error(s3.put_object_lock_configuration, Bucket=bucket,
                 ObjectLockConfiguration=conf)[:2] == (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=conf)
    assert error(s3.put_bucket_versioning, Bucket=bucket,
                 VersioningConfiguration={"Status": "Suspended"})[:2] == \
        (409, "InvalidBucketState")
    both = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}
    for bad in ({"ObjectLockEnabled": "Enabled", "Rule": both},
                {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Days": 1}}},
                {"ObjectLockEnabled": "Enabled",
                 "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE"}}}):
        assert error(s3.put_object_lock_configuration, Bucket=locked,
                     ObjectLockConfiguration=bad)[:2] == (400, "MalformedXML")
    zero = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}
    assert error(s3.put_object_lock_configuration, Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": zero})[:2] == (400, "InvalidArgument")


def test_lock_calls_on_a_bucket_without_lock(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    message = "Bucket is missing Object Lock Configuration"
    for call, kwargs in ((s3.put_object_retention,
                          {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": soon()}}),
                         (s3.get_object_retention, {}),
                         (s3.put_object_legal_hold, {"LegalHold": {"Status": "ON"}}),
                         (s3.get_object_legal_hold, {})):
        assert error(call, Bucket=bucket, Key="k", **kwargs) == (400, "InvalidRequest",
                                                                 message)
    assert error(s3.put_object, Bucket=bucket, Key="j", Body=b"x",
                 ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=soon()) == \
        (400, "InvalidRequest", message)
    assert error(s3.create_multipart_upload, Bucket=bucket, Key="j",
                 ObjectLockLegalHoldStatus="ON") == (400, "InvalidRequest", message)


# --- retention -----------------------------------------------------------------------

def test_governance_retention_and_the_owners_bypass(s3, s3_bob, locked):
    v1 = s3.put_object(Bucket=locked, Key="k", Body=b"one")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket=locked, Key="k")
    assert (status(e), code(e)) == (404, "NoSuchObjectLockConfiguration")
    until = soon().replace(microsecond=0)
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=v1,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    got = s3.get_object_retention(Bucket=locked, Key="k", VersionId=v1)["Retention"]
    assert got == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    head = s3.head_object(Bucket=locked, Key="k", VersionId=v1)
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    # a newer version is not locked by the old one's retention
    v2 = s3.put_object(Bucket=locked, Key="k", Body=b"two")["VersionId"]
    s3.delete_object(Bucket=locked, Key="k", VersionId=v2)
    assert error(s3.delete_object, Bucket=locked, Key="k", VersionId=v1)[:2] == \
        (403, "AccessDenied")
    # shortening and removing GOVERNANCE needs the bypass; lengthening does not
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": soon(60)}
    assert error(s3.put_object_retention, Bucket=locked, Key="k", VersionId=v1,
                 Retention=shorter)[:2] == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=v1,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon(7200)})
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=v1, Retention=shorter,
                            BypassGovernanceRetention=True)
    # the bypass is the owner's: bob's is not honoured
    s3.put_bucket_acl(Bucket=locked, GrantFullControl=f"id={ALICE.account_id}",
                      GrantWrite="id=222222222222")
    assert error(s3_bob.delete_object, Bucket=locked, Key="k", VersionId=v1,
                 BypassGovernanceRetention=True)[:2] == (403, "AccessDenied")
    s3.delete_object(Bucket=locked, Key="k", VersionId=v1, BypassGovernanceRetention=True)
    assert "Versions" not in s3.list_object_versions(Bucket=locked)


def test_compliance_cannot_be_shortened_or_bypassed(s3, locked):
    v = s3.put_object(Bucket=locked, Key="c", Body=b"x", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=soon(3))["VersionId"]
    assert s3.get_object_retention(Bucket=locked, Key="c")["Retention"]["Mode"] == "COMPLIANCE"
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": soon(1)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": soon(3600)}):
        assert error(s3.put_object_retention, Bucket=locked, Key="c", VersionId=v,
                     Retention=retention, BypassGovernanceRetention=True)[:2] == \
            (403, "AccessDenied")
    assert error(s3.delete_object, Bucket=locked, Key="c", VersionId=v,
                 BypassGovernanceRetention=True)[:2] == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="c", VersionId=v,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon(4)})
    time.sleep(4.5)  # once the date has passed, the version may go
    s3.delete_object(Bucket=locked, Key="c", VersionId=v)


def test_retention_refusals(s3, locked):
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    past = datetime.now(timezone.utc) - timedelta(days=1)
    assert error(s3.put_object_retention, Bucket=locked, Key="k",
                 Retention={"Mode": "GOVERNANCE", "RetainUntilDate": past})[:2] == \
        (400, "InvalidArgument")
    assert error(s3.put_object, Bucket=locked, Key="j", Body=b"x",
                 ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=past)[:2] == \
        (400, "InvalidArgument")
    assert error(s3.put_object_retention, Bucket=locked, Key="nope",
                 Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon()})[:2] == \
        (404, "NoSuchKey")
    assert error(s3.get_object_retention, Bucket=locked, Key="k",
                 VersionId="0" * 32)[:2] == (404, "NoSuchVersion")


# --- legal hold --------------------------------------------------------------------

def test_legal_hold_blocks_deletes_until_lifted(s3, locked):
    v = s3.put_object(Bucket=locked, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON",
                      ChecksumAlgorithm="SHA256")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"] == {"Status": "ON"}
    assert s3.get_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    assert error(s3.delete_object, Bucket=locked, Key="h", VersionId=v,
                 BypassGovernanceRetention=True)[:2] == (403, "AccessDenied")
    # DeleteObjects reports the locked version and deletes the rest
    other = s3.put_object(Bucket=locked, Key="free", Body=b"y")["VersionId"]
    done = s3.delete_objects(Bucket=locked, Delete={"Objects": [
        {"Key": "h", "VersionId": v}, {"Key": "free", "VersionId": other}]})
    assert [d["Key"] for d in done["Deleted"]] == ["free"]
    assert [(e["Key"], e["VersionId"], e["Code"]) for e in done["Errors"]] == \
        [("h", v, "AccessDenied")]
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=v, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"] == {"Status": "OFF"}
    s3.delete_object(Bucket=locked, Key="h", VersionId=v)


def test_legal_hold_refusals(s3, locked):
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    assert error(s3.get_object_legal_hold, Bucket=locked, Key="k")[:2] == \
        (404, "NoSuchObjectLockConfiguration")
    assert error(s3.put_object, Bucket=locked, Key="j", Body=b"x",
                 ObjectLockLegalHoldStatus="MAYBE")[:2] == (400, "InvalidArgument")
    assert error(s3.put_object, Bucket=locked, Key="j", Body=b"x",
                 ObjectLockMode="GOVERNANCE")[:2] == (400, "InvalidArgument")


def test_put_with_lock_needs_an_integrity_header(s3_when_required, locked):
    s3 = s3_when_required  # sends neither Content-MD5 nor a checksum unless made to
    assert error(s3.put_object, Bucket=locked, Key="k", Body=b"x",
                 ObjectLockLegalHoldStatus="ON") == (
        400, "InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for "
                               "Put Object requests with Object Lock parameters")
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON",
                  ContentMD5=md5)
    s3.put_object(Bucket=locked, Key="plain", Body=b"x")  # no lock asked, no default


def test_lock_headers_on_copy_and_multipart(s3, locked):
    until = soon().replace(microsecond=0)
    s3.put_object(Bucket=locked, Key="src", Body=b"x", ObjectLockLegalHoldStatus="ON")
    s3.copy_object(Bucket=locked, Key="dst", CopySource={"Bucket": locked, "Key": "src"},
                   ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    head = s3.head_object(Bucket=locked, Key="dst")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    assert "ObjectLockLegalHoldStatus" not in head  # the source's hold is not copied
    upload = s3.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE",
                                        ObjectLockRetainUntilDate=until,
                                        ObjectLockLegalHoldStatus="ON")
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=upload["UploadId"], PartNumber=1,
                          Body=b"p")
    s3.complete_multipart_upload(Bucket=locked, Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    got = s3.get_object(Bucket=locked, Key="mp")
    assert (got["ObjectLockMode"], got["ObjectLockRetainUntilDate"],
            got["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", until, "ON")
    assert not any(k.startswith("x-amz-object-lock") for k in got["Metadata"])


def test_awscli_retention(aws, s3, locked):
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    until = soon().strftime("%Y-%m-%dT%H:%M:%SZ")
    aws("s3api", "put-object-retention", "--bucket", locked, "--key", "k", "--retention",
        json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": until}))
    got = json.loads(aws("s3api", "get-object-retention", "--bucket", locked, "--key",
                         "k").stdout)["Retention"]
    assert got["Mode"] == "GOVERNANCE" and got["RetainUntilDate"].startswith(until[:19])
    aws("s3api", "put-object-legal-hold", "--bucket", locked, "--key", "k", "--legal-hold",
        "Status=ON")
    assert json.loads(aws("s3api", "get-object-legal-hold", "--bucket", locked, "--key",
                          "k").stdout)["LegalHold"] == {"Status": "ON"}
    conf = json.loads(aws("s3api", "get-object-lock-configuration", "--bucket",
                          locked).stdout)
    assert conf["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"


# --- lifecycle and restart -----------------------------------------------------------

def test_lifecycle_leaves_locked_versions(fast):
    s3 = client_for(fast, ALICE)
    s3.create_bucket(Bucket="life", ObjectLockEnabledForBucket=True)
    held = s3.put_object(Bucket="life", Key="k", Body=b"held",
                         ObjectLockLegalHoldStatus="ON")["VersionId"]
    free = s3.put_object(Bucket="life", Key="k", Body=b"free")["VersionId"]
    s3.put_object(Bucket="life", Key="k", Body=b"current")
    s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [
        {"ID": "old", "Filter": {}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})

    def versions():
        return {v["VersionId"] for v in s3.list_object_versions(Bucket="life")["Versions"]}
    deadline = time.time() + 20
    while free in versions():
        assert time.time() < deadline, "the unlocked noncurrent version was never expired"
        time.sleep(0.2)
    time.sleep(1)
    assert held in versions()  # a few more passes, still kept
    s3.delete_bucket_lifecycle(Bucket="life")
    release_all(s3, "life")


def test_restart_keeps_locks(tmp_path):
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path).start()
    first.push(1)
    s3 = client_for(first, ALICE)
    s3.create_bucket(Bucket="kept", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket="kept", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": RULE})
    until = soon().replace(microsecond=0)
    v = s3.put_object(Bucket="kept", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=until,
                      ObjectLockLegalHoldStatus="ON")["VersionId"]
    s3.put_object(Bucket="kept", Key="k", Body=b"newer")  # v is now noncurrent
    first.stop()
    second = WalrusServer(tmp_path).start()
    try:
        second.push(2)
        again = client_for(second, ALICE)
        assert again.get_object_lock_configuration(Bucket="kept")[
            "ObjectLockConfiguration"]["Rule"] == RULE
        assert again.get_object_retention(Bucket="kept", Key="k", VersionId=v)[
            "Retention"] == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
        assert again.get_object_legal_hold(Bucket="kept", Key="k", VersionId=v)[
            "LegalHold"] == {"Status": "ON"}
        assert error(again.delete_object, Bucket="kept", Key="k", VersionId=v,
                     BypassGovernanceRetention=True)[:2] == (403, "AccessDenied")
        assert error(again.put_bucket_versioning, Bucket="kept",
                     VersioningConfiguration={"Status": "Suspended"})[:2] == \
            (409, "InvalidBucketState")
        release_all(again, "kept")
    finally:
        second.stop()


def test_browser_upload_gets_the_lock_of_its_fields_or_the_default(s3, bucket, locked):
    """A form POST makes a version as PUT does: the bucket's default retention, or the
    x-amz-object-lock-* fields; a bucket without lock refuses those fields."""
    from tests.api.walrus.test_form_post import post, presigned
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": RULE})
    url, fields = presigned(s3, locked, "default.txt")
    assert post(url, fields).status_code == 204
    assert s3.head_object(Bucket=locked, Key="default.txt")["ObjectLockMode"] == "GOVERNANCE"
    hold = {"x-amz-object-lock-legal-hold": "ON"}
    url, fields = presigned(s3, locked, "held.txt", hold, [hold])
    assert post(url, fields).status_code == 204
    assert s3.get_object_legal_hold(Bucket=locked, Key="held.txt")["LegalHold"] == \
        {"Status": "ON"}
    url, fields = presigned(s3, bucket, "nolock.txt", hold, [hold])
    answer = post(url, fields)
    assert answer.status_code == 400 and b"<Code>InvalidRequest</Code>" in answer.content


def test_version_7_database_gains_locks_and_parts(tmp_path):
    """A database from before Object Lock (version 7) opens at the newest version: its
    objects and versions have no lock, and completed objects no parts list."""
    import sqlite3

    from mallee import migrations
    from walrus.db import MIGRATIONS

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    for m in migrations.found(MIGRATIONS)[:7]:
        conn.executescript(m.script)
    conn.execute("INSERT INTO objects (bucket, key, blob, size, etag, last_modified, owner_id, "
                 "owner_name, headers, acl, id) VALUES ('b','k','x',1,'e',0,'o','o','{}','{}',"
                 "'i')")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()

    async def examine(db):
        row = await db.one("SELECT lock_mode, lock_until, legal_hold FROM objects")
        return (await db.one("PRAGMA user_version"))[0], tuple(row), \
            (await db.one("SELECT count(*) FROM object_parts"))[0]
    assert upgraded(path, examine) == (len(migrations.found(MIGRATIONS)), ("", 0, ""), 0)
