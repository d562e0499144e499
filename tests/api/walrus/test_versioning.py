"""S3 versioning (issue 13, items 1 and 2) with boto3 and awscli: bucket status,
versions made by every write, delete markers, reads, deletes, ACLs and tags of a
given version, copies from a version, DeleteObjects with VersionId,
ListObjectVersions with its markers and delimiters, suspended buckets' `null`
version, emptying a versioned bucket, quotas over every version, restart and the
migration of today's objects as `null` versions. AWS's status and error codes."""
from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.api.walrus.conftest import empty_bucket
from tests.api.walrus.helpers import (ALICE, WalrusServer, client_for, code, signed, status,
                                     upgraded)


def _enable(s3, bucket, state="Enabled"):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})


def _headers(exc_info) -> dict:
    return exc_info.value.response["ResponseMetadata"]["HTTPHeaders"]


def _versions(s3, bucket, **kw):
    out = s3.list_object_versions(Bucket=bucket, **kw)
    return ([(v["Key"], v["VersionId"], v["IsLatest"]) for v in out.get("Versions", [])],
            [(m["Key"], m["VersionId"], m["IsLatest"]) for m in out.get("DeleteMarkers", [])])


def _body(s3, bucket, key, **kw) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


# --- the bucket's status ------------------------------------------------------

def test_versioning_status(s3, bucket):
    out = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in out and "MFADelete" not in out  # never versioned
    _enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    _enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    _enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


@pytest.mark.parametrize("body, expected", [
    (b"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
     "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
     "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration></VersioningConfiguration>",
     "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Maybe</MfaDelete>"
     b"</VersioningConfiguration>", "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration><Status>Enabled", "MalformedXML"),
    (b"<Versioning><Status>Enabled</Status></Versioning>", "MalformedXML"),
    (b"", "MalformedXML"),
])
def test_put_versioning_refuses_bad_configurations(server, s3, bucket, body, expected):
    r = signed(server, ALICE, "PUT", f"/{bucket}?versioning", body)
    assert (r.status_code, f"<Code>{expected}</Code>" in r.text) == (400, True), r.text
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_only_the_owner_sets_versioning(s3_bob, bucket):
    with pytest.raises(ClientError) as e:
        s3_bob.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": "Enabled"})
    assert (code(e), status(e)) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3_bob.put_bucket_versioning(Bucket="no-such-bucket-v",
                                     VersioningConfiguration={"Status": "Enabled"})
    assert (code(e), status(e)) == ("NoSuchBucket", 404)


# --- an unversioned bucket is as before -----------------------------------------

def test_unversioned_bucket_has_no_version_headers_and_null_versions(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    assert "VersionId" not in put
    assert "x-amz-version-id" not in put["ResponseMetadata"]["HTTPHeaders"]
    got = s3.get_object(Bucket=bucket, Key="k")
    assert "VersionId" not in got and got["Body"].read() == b"one"
    assert _versions(s3, bucket) == ([("k", "null", True)], [])
    assert _body(s3, bucket, "k", VersionId="null") == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    assert (code(e), status(e)) == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert (code(e), status(e)) == ("InvalidArgument", 400)
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert "DeleteMarker" not in deleted and "VersionId" not in deleted
    assert _versions(s3, bucket) == ([], [])


# --- an Enabled bucket ----------------------------------------------------------

def test_every_write_makes_a_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the null version
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"first")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"second")["VersionId"]
    assert len({v1, v2, "null"}) == 3
    assert _body(s3, bucket, "k") == b"second"
    got = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert got["VersionId"] == v1 and got["Body"].read() == b"first"
    assert _body(s3, bucket, "k", VersionId="null") == b"before"
    head = s3.head_object(Bucket=bucket, Key="k", VersionId=v1)
    assert head["VersionId"] == v1 and head["ContentLength"] == 5
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == v2
    assert _versions(s3, bucket) == ([("k", v2, True), ("k", v1, False),
                                      ("k", "null", False)], [])
    # ListObjectsV2 lists the current version only.
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", 6)]


def test_copy_and_multipart_make_versions(s3, bucket):
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"version one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"version two")
    copied = s3.copy_object(Bucket=bucket, Key="dst",
                            CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"] not in (v1, "null")
    assert _body(s3, bucket, "dst") == b"version one"
    # Restoring an old version: copy it onto its own key (a new version, with its bytes).
    restored = s3.copy_object(Bucket=bucket, Key="src",
                              CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert _body(s3, bucket, "src") == b"version one"
    assert len(_versions(s3, bucket, Prefix="src")[0]) == 3
    assert restored["VersionId"] == s3.head_object(Bucket=bucket, Key="src")["VersionId"]
    # Copying a key onto itself with new metadata makes a new version too.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   Metadata={"m": "1"}, MetadataDirective="REPLACE")
    assert len(_versions(s3, bucket, Prefix="src")[0]) == 4
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["VersionId"] == s3.head_object(Bucket=bucket, Key="mp")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket, "Key": "src", "VersionId": "f" * 32})
    assert (code(e), status(e)) == ("NoSuchVersion", 404)


def test_delete_markers(s3, bucket):
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    marker = deleted["VersionId"]
    assert deleted["DeleteMarker"] is True and marker != v1
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k")
        assert status(e) == 404 and _headers(e)["x-amz-delete-marker"] == "true"
        assert _headers(e)["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert (code(e), status(e)) == ("MethodNotAllowed", 405)
    assert _headers(e)["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId=marker)
    assert status(e) == 405
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x",
                       CopySource={"Bucket": bucket, "Key": "k", "VersionId": marker})
    assert (code(e), status(e)) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "k"})
    assert (code(e), status(e)) == ("NoSuchKey", 404)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert _versions(s3, bucket) == ([("k", v1, False)], [("k", marker, True)])
    assert _body(s3, bucket, "k", VersionId=v1) == b"kept"
    # A second delete stacks a second marker; deleting markers brings the object back.
    marker2 = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker2)
    assert gone["DeleteMarker"] is True and gone["VersionId"] == marker2
    assert _versions(s3, bucket)[1] == [("k", marker, True)]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert _body(s3, bucket, "k") == b"kept"
    assert _versions(s3, bucket) == ([("k", v1, True)], [])
    # A delete of a key that never existed still leaves a marker, as S3.
    assert s3.delete_object(Bucket=bucket, Key="never")["DeleteMarker"] is True


def test_delete_a_given_version(s3, bucket):
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    v3 = s3.put_object(Bucket=bucket, Key="k", Body=b"three")["VersionId"]
    out = s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert out["VersionId"] == v2 and "DeleteMarker" not in out
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert (code(e), status(e)) == ("NoSuchVersion", 404)
    # Deleting the current version makes the previous one current.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v3)
    assert _body(s3, bucket, "k") == b"one"
    assert _versions(s3, bucket) == ([("k", v1, True)], [])
    # A version that is not there: 204, as S3 (deletes are idempotent).
    again = s3.delete_object(Bucket=bucket, Key="k", VersionId=v3)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", VersionId="bogus")
    assert (code(e), status(e)) == ("InvalidArgument", 400)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert _versions(s3, bucket) == ([], [])


def test_delete_objects_with_version_ids(s3, bucket):
    _enable(s3, bucket)
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"a1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"a2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": a1}, {"Key": "b"}, {"Key": "c", "VersionId": "bad id"}]})
    deleted = {d["Key"]: d for d in out["Deleted"]}
    assert deleted["a"]["VersionId"] == a1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True
    marker = deleted["b"]["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("c", "NoSuchVersion")]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "b", "VersionId": marker}, {"Key": "a", "VersionId": a2}]})
    deleted = {d["Key"]: d for d in out["Deleted"]}
    assert deleted["b"] == {"Key": "b", "VersionId": marker, "DeleteMarker": True,
                            "DeleteMarkerVersionId": marker}
    assert _versions(s3, bucket)[0][0][0] == "b" and _body(s3, bucket, "b") == b"b"


# --- a Suspended bucket writes the null version --------------------------------

def test_suspended_bucket_overwrites_the_null_version(s3, bucket):
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"enabled")["VersionId"]
    _enable(s3, bucket, "Suspended")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"null one")
    assert put["VersionId"] == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"null two")
    assert _versions(s3, bucket) == ([("k", "null", True), ("k", v1, False)], [])
    assert _body(s3, bucket, "k") == b"null two"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    # The null object is gone, replaced by a null marker; the Enabled version stays.
    assert _versions(s3, bucket) == ([("k", v1, False)], [("k", "null", True)])
    s3.put_object(Bucket=bucket, Key="k", Body=b"null three")  # replaces the null marker
    assert _versions(s3, bucket) == ([("k", "null", True), ("k", v1, False)], [])
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"


# --- tags and ACLs per version --------------------------------------------------

def test_tags_follow_versions(s3, bucket):
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="gen=two")["VersionId"]

    def tags(**kw):
        out = s3.get_object_tagging(Bucket=bucket, Key="k", **kw)
        return out["VersionId"], {t["Key"]: t["Value"] for t in out["TagSet"]}
    assert tags() == (v2, {"gen": "two"})
    assert tags(VersionId=v1) == (v1, {"gen": "one"})
    put = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    assert put["VersionId"] == v1
    assert tags(VersionId=v1) == (v1, {"old": "yes"}) and tags() == (v2, {"gen": "two"})
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 1
    # CopyObject's COPY directive takes the given version's tags.
    s3.copy_object(Bucket=bucket, Key="copy",
                   CopySource={"Bucket": bucket, "Key": "k", "VersionId": v1})
    assert s3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"] == [
        {"Key": "old", "Value": "yes"}]
    s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert tags(VersionId=v1) == (v1, {}) and tags() == (v2, {"gen": "two"})
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=marker)
    assert (code(e), status(e)) == ("MethodNotAllowed", 405)
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="k")
    assert (code(e), status(e)) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId="0" * 32,
                              Tagging={"TagSet": []})
    assert (code(e), status(e)) == ("NoSuchVersion", 404)
    assert tags(VersionId=v2) == (v2, {"gen": "two"})
    # Deleting a version drops its tags with it.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v2)
    assert (code(e), status(e)) == ("NoSuchVersion", 404)


def test_acl_per_version(s3, s3_bob, bucket):
    _enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v1, ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=v1)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    assert len(s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]) == 1
    assert _body(s3_bob, bucket, "k", VersionId=v1) == b"old"
    with pytest.raises(ClientError) as e:
        s3_bob.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert (code(e), status(e)) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3_bob.get_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    assert (code(e), status(e)) == ("AccessDenied", 403)  # which versions exist stays hidden


# --- ListObjectVersions ---------------------------------------------------------

def test_list_object_versions_pages_prefixes_and_markers(s3, bucket):
    _enable(s3, bucket)
    made = []
    for key in ("a", "dir/x", "dir/y", "b", "c+d e"):
        for i in range(3):
            made.append((key, s3.put_object(Bucket=bucket, Key=key, Body=b"%d" % i)
                         ["VersionId"]))
    marker = s3.delete_object(Bucket=bucket, Key="b")["VersionId"]
    full = s3.list_object_versions(Bucket=bucket)
    order = [(v["Key"], v["VersionId"]) for v in full["Versions"]]
    # By key (byte order), newest first within a key.
    assert [k for k, _ in order] == sorted(k for k, _ in made)
    assert order[:3] == [("a", v) for _, v in reversed([m for m in made if m[0] == "a"])]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in full["DeleteMarkers"]] == [
        ("b", marker, True)]
    assert all(not v["IsLatest"] for v in full["Versions"] if v["Key"] == "b")
    assert sum(v["IsLatest"] for v in full["Versions"]) == 4
    # Pages of 2 (markers included) cover everything once, in order.
    seen, kw = [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kw)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(entries) <= 2
        seen += [(e["Key"], e["VersionId"]) for e in entries]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"],
              "VersionIdMarker": page["NextVersionIdMarker"]}
    assert sorted(seen) == sorted(order + [("b", marker)]) and len(seen) == 16
    # A key marker alone starts after every version of that key.
    after = s3.list_object_versions(Bucket=bucket, KeyMarker="b")
    assert {v["Key"] for v in after["Versions"]} == {"c+d e", "dir/x", "dir/y"}
    # Delimiter and prefix.
    out = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir/"]
    assert "dir/x" not in {v["Key"] for v in out["Versions"]}
    out = s3.list_object_versions(Bucket=bucket, Prefix="dir/", MaxKeys=4)
    assert [v["Key"] for v in out["Versions"]] == ["dir/x"] * 3 + ["dir/y"]
    assert out["IsTruncated"] and out["NextKeyMarker"] == "dir/y"
    rest = s3.list_object_versions(Bucket=bucket, Prefix="dir/", KeyMarker="dir/y",
                                   VersionIdMarker=out["NextVersionIdMarker"])
    assert [v["Key"] for v in rest["Versions"]] == ["dir/y"] * 2 and not rest["IsTruncated"]
    # encoding-type=url percent-encodes the keys (boto3 leaves them so when asked for).
    raw = s3.list_object_versions(Bucket=bucket, Prefix="c", EncodingType="url")
    assert raw["EncodingType"] == "url" and raw["Versions"][0]["Key"] == "c%2Bd+e"


def test_versions_and_markers_interleave_in_key_order(server, s3, bucket):
    """S3 writes Version and DeleteMarker elements in listing order (minio-go reads
    them back in document order), not all versions first."""
    _enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.delete_object(Bucket=bucket, Key="a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    r = signed(server, ALICE, "GET", f"/{bucket}?versions")
    assert re.findall(r"<(Version|DeleteMarker)>", r.text) == ["DeleteMarker", "Version",
                                                                "Version"]


def test_list_object_versions_bad_markers(server, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert (code(e), status(e)) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker="x y")
    assert (code(e), status(e)) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, EncodingType="base64")
    assert (code(e), status(e)) == ("InvalidArgument", 400)
    r = signed(server, ALICE, "GET", f"/{bucket}?versions&max-keys=-1")
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text


def test_listing_goes_on_when_the_marker_version_was_deleted(s3, bucket):
    """AWS's "delete every version" loop deletes each page before asking for the next,
    so the next page's version-id-marker names a version that is gone."""
    _enable(s3, bucket)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key="k", Body=b"%d" % i)
    s3.put_object(Bucket=bucket, Key="z", Body=b"z")
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    for v in page["Versions"]:
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker=page["NextKeyMarker"],
                                   VersionIdMarker=page["NextVersionIdMarker"])
    assert [v["Key"] for v in rest["Versions"]] == ["k", "k", "k", "z"]


# --- emptying and deleting a versioned bucket -------------------------------------

def test_bucket_with_only_versions_or_markers_is_not_empty(s3):
    name = "versioned-not-empty"
    s3.create_bucket(Bucket=name)
    _enable(s3, name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")  # only a noncurrent version and a marker left
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert (code(e), status(e)) == ("BucketNotEmpty", 409)
    assert e.value.response["Error"]["Message"].endswith(
        "You must delete all versions in the bucket.")  # S3's words for a versioned bucket
    for v in s3.list_object_versions(Bucket=name)["Versions"]:
        s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    with pytest.raises(ClientError) as e:  # the marker alone still counts
        s3.delete_bucket(Bucket=name)
    assert (code(e), status(e)) == ("BucketNotEmpty", 409)
    empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)


def test_boto3_delete_every_version_then_the_bucket(s3):
    """The loop of AWS's docs (and of Ansible's s3_bucket force): list versions and
    markers in pages, DeleteObjects each page, then DeleteBucket."""
    name = "versioned-emptied"
    s3.create_bucket(Bucket=name)
    _enable(s3, name)
    for i in range(30):
        s3.put_object(Bucket=name, Key=f"k{i % 7}", Body=b"%d" % i)
        if i % 4 == 0:
            s3.delete_object(Bucket=name, Key=f"k{i % 7}")
    pages = 0
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=name, PaginationConfig={"PageSize": 10}):
        pages += 1
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            out = s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
            assert not out.get("Errors")
    assert pages >= 3
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert status(e) == 404


def test_awscli_versioning(aws, s3):
    name = "cli-versioned"
    aws("s3", "mb", f"s3://{name}")
    aws("s3api", "put-bucket-versioning", "--bucket", name,
        "--versioning-configuration", "Status=Enabled")
    got = json.loads(aws("s3api", "get-bucket-versioning", "--bucket", name).stdout)
    assert got["Status"] == "Enabled"
    bad = aws("s3api", "put-bucket-versioning", "--bucket", name,
              "--versioning-configuration", "Status=Off", check=False)
    assert bad.returncode != 0 and "IllegalVersioningConfigurationException" in bad.stderr
    first = json.loads(aws("s3api", "put-object", "--bucket", name, "--key", "f",
                           "--body", "/etc/hostname").stdout)["VersionId"]
    aws("s3", "cp", "-", f"s3://{name}/f", check=False)  # stdin empty: a second version
    aws("s3", "rm", f"s3://{name}/f")
    listed = json.loads(aws("s3api", "list-object-versions", "--bucket", name).stdout)
    assert len(listed["Versions"]) == 2 and len(listed["DeleteMarkers"]) == 1
    assert listed["DeleteMarkers"][0]["IsLatest"] is True
    out = aws("s3api", "get-object", "--bucket", name, "--key", "f", "--version-id", first,
              "/dev/stdout")
    with open("/etc/hostname") as f:
        assert f.read() in out.stdout
    # `aws s3 rb --force` deletes the current objects only; the versions and markers stay,
    # and the bucket is BucketNotEmpty, as on AWS.
    aws("s3api", "put-object", "--bucket", name, "--key", "g", "--body", "/etc/hostname")
    rb = aws("s3", "rb", "--force", f"s3://{name}", check=False)
    assert rb.returncode != 0 and "BucketNotEmpty" in rb.stderr
    empty_bucket(s3, name)
    aws("s3", "rb", f"s3://{name}")


# --- quotas, restart, migration ---------------------------------------------------

def test_quota_counts_every_version_and_restart_keeps_them(tmp_path):
    from mallee import pki
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path, max_bytes_per_account=1000).start()
    try:
        first.push(1)
        s3 = client_for(first, ALICE)
        s3.create_bucket(Bucket="q")
        _enable(s3, "q")
        v1 = s3.put_object(Bucket="q", Key="k", Body=b"a" * 400)["VersionId"]
        s3.put_object(Bucket="q", Key="k", Body=b"b" * 400)
        with pytest.raises(ClientError) as e:  # 800 kept: the old version counts
            s3.put_object(Bucket="q", Key="k", Body=b"c" * 400)
        assert (code(e), status(e)) == ("QuotaExceeded", 403)
        marker = s3.delete_object(Bucket="q", Key="k")["VersionId"]
        with pytest.raises(ClientError) as e:  # a marker frees nothing
            s3.put_object(Bucket="q", Key="j", Body=b"c" * 400)
        assert code(e) == "QuotaExceeded"
        s3.delete_object(Bucket="q", Key="k", VersionId=v1)  # this frees 400
        s3.put_object(Bucket="q", Key="j", Body=b"c" * 400)
    finally:
        first.stop()
    second = WalrusServer(tmp_path, max_bytes_per_account=1000).start()
    try:
        s3 = client_for(second, ALICE)
        assert s3.get_bucket_versioning(Bucket="q")["Status"] == "Enabled"
        versions, markers = _versions(s3, "q")
        assert [k for k, _, _ in versions] == ["j", "k"] and markers == [("k", marker, True)]
        assert _body(s3, "q", "k", VersionId=versions[1][1]) == b"b" * 400
    finally:
        second.stop()


def test_migration_makes_todays_objects_null_versions(tmp_path):
    """A database of version 2 (objects, tags) opens at the newest version (CORS and part
    checksums come first, 0005 is versioning): every object is its key's `null` version,
    current, with its tags; buckets are unversioned."""
    import sqlite3

    from mallee import migrations
    from walrus.blobs import BlobStore
    from walrus.db import MIGRATIONS
    from walrus.store import Store

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    for m in migrations.found(MIGRATIONS)[:2]:
        conn.executescript(m.script)
    conn.execute("INSERT INTO buckets VALUES ('b1', '1', 'x', 'r', 0, ?)",
                 (json.dumps({"owner_id": "1", "owner_name": "x", "grants": []}),))
    conn.execute("INSERT INTO objects VALUES ('b1', 'a', 'blob-a', 1, 'e', 0, '1', 'x', '{}',"
                 " ?, 'id-a')", (json.dumps({"owner_id": "1", "owner_name": "x",
                                             "grants": []}),))
    conn.execute("INSERT INTO object_tags VALUES ('id-a', 't', 'v')")
    conn.commit()
    conn.close()

    async def examine(db):
        store = Store(db, BlobStore(tmp_path / "blobs"), 0, 0)
        bucket = await store.bucket("b1")
        obj = await store.get("b1", "a", with_tags=True, version_id="null")
        page = await store.version_page("b1", "", True, None, 10)
        return (await db.one("PRAGMA user_version"))[0], bucket.versioning, obj, page
    version, versioning, obj, page = upgraded(path, examine)
    assert version == len(migrations.found(MIGRATIONS)) >= 5 and versioning == ""
    assert (obj.version_id, obj.is_latest, obj.tags) == ("null", True, (("t", "v"),))
    assert [(o.key, o.version_id, o.is_latest) for o in page] == [("a", "null", True)]


def test_versioned_get_streams_the_asked_version(s3, bucket):
    _enable(s3, bucket)
    big = bytes(range(256)) * 8192  # 2 MiB, past the buffered-body size
    v1 = s3.put_object(Bucket=bucket, Key="big", Body=big)["VersionId"]
    s3.upload_fileobj(io.BytesIO(b"small"), bucket, "big")
    got = s3.get_object(Bucket=bucket, Key="big", VersionId=v1, Range="bytes=1000-1999")
    assert got["Body"].read() == big[1000:2000] and got["VersionId"] == v1
    assert hashlib.md5(_body(s3, bucket, "big", VersionId=v1)).hexdigest() == \
        hashlib.md5(big).hexdigest()
