"""Listing (v1 and v2) and multipart uploads."""
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import code

KEYS = ["a", "b/1", "b/2", "b/c/3", "c d/1", "d", "e/1", "e/2", "f"]


@pytest.fixture
def filled(s3, bucket):
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_list_v2_delimiter_and_pages(s3, filled):
    out = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["a", "d", "f"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "c d/", "e/"]
    assert out["KeyCount"] == 6 and out["IsTruncated"] is False
    out = s3.list_objects_v2(Bucket=filled, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["b/1", "b/2"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/c/"]
    seen, token = [], None
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=filled, Delimiter="/", MaxKeys=2, **kwargs)
        seen += [o["Key"] for o in page.get("Contents", [])]
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == ["a", "b/", "c d/", "d", "e/", "f"] and len(seen) == 6
    out = s3.list_objects_v2(Bucket=filled, StartAfter="c", FetchOwner=True)
    assert out["Contents"][0]["Key"] == "c d/1" and "Owner" in out["Contents"][0]


def test_list_v1_marker_and_url_encoding(s3, filled):
    paginator = s3.get_paginator("list_objects")
    keys = [o["Key"] for page in paginator.paginate(Bucket=filled, PaginationConfig={"PageSize": 3})
            for o in page["Contents"]]
    assert keys == sorted(KEYS)
    out = s3.list_objects(Bucket=filled, Marker="b/2", MaxKeys=2)
    assert [o["Key"] for o in out["Contents"]] == ["b/c/3", "c d/1"] and out["IsTruncated"]
    # boto3 asks for encoding-type=url and decodes it: keys come back intact.
    out = s3.list_objects(Bucket=filled, Prefix="c d/")
    assert [o["Key"] for o in out["Contents"]] == ["c d/1"]
    assert s3.list_objects(Bucket=filled, MaxKeys=0).get("Contents") is None


def test_listing_100k_keys(server, s3):
    """A bucket of 100,000 keys, inserted through the store, lists right in pages (how fast,
    against moto on the same keys, is bench/walrus.py --listing)."""
    import json

    from walrus.acl import Acl
    from walrus.app import STATE

    s3.create_bucket(Bucket="many-keys")
    acl = Acl("111111111111", "alice").to_json()

    async def fill():
        state = server.runners[0].app[STATE]
        rows = [("many-keys", f"dir{i % 100:03d}/key{i:06d}", "missing", 1, "00", 0.0,
                 "111111111111", "alice", json.dumps({}), acl, f"id{i}") for i in range(100_000)]
        await state["db"].write(lambda c: c.executemany(
            "INSERT INTO objects (bucket, key, blob, size, etag, last_modified, owner_id,"
            " owner_name, headers, acl, id) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows))
    server.run(fill())
    out = s3.list_objects_v2(Bucket="many-keys", Delimiter="/")
    assert len(out["CommonPrefixes"]) == 100 and not out.get("Contents")
    page = s3.list_objects_v2(Bucket="many-keys", Prefix="dir050/", StartAfter="dir050/key050000")
    assert page["KeyCount"] == 500 and page["Contents"][0]["Key"] == "dir050/key050050"
    total = sum(p["KeyCount"] for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket="many-keys", Prefix="dir007/"))
    assert total == 1000

    async def empty():
        state = server.runners[0].app[STATE]
        await state["db"].write(lambda c: c.execute("DELETE FROM objects WHERE bucket='many-keys'"))
    server.run(empty())
    s3.delete_bucket(Bucket="many-keys")


MIB = 1024 * 1024


def test_multipart_upload_copy_list_complete(s3, bucket):
    parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail" * 1000]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/x-test",
                                        Metadata={"m": "1"})
    uid = upload["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    etags = []
    for n, data in enumerate(parts_data, 1):
        etags.append(s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n,
                                    Body=data)["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, 5 * MIB), (3, 4000)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}]})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"0123"'}]})
    assert code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 3, "ETag": etags[2]}, {"PartNumber": 4, "ETag": etags[2]}]})
    assert code(e) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": t} for n, t in enumerate(etags, 1)]})
    md5s = b"".join(hashlib.md5(d).digest() for d in parts_data)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts_data)
    assert got["ContentType"] == "video/x-test" and got["Metadata"] == {"m": "1"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_small_parts_are_refused_and_abort_cleans_up(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"a")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, Body=b"b")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=3, Body=b"c")
    assert code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_upload_part_copy_with_range(s3, bucket):
    source = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "source"},
                             CopySourceRange=f"bytes=0-{5 * MIB - 1}")["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "source"},
                             CopySourceRange=f"bytes={5 * MIB}-{6 * MIB - 1}")["CopyPartResult"]["ETag"]
    assert p1 == f'"{hashlib.md5(source[:5 * MIB]).hexdigest()}"'
    s3.complete_multipart_upload(Bucket=bucket, Key="joined", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]})
    assert s3.get_object(Bucket=bucket, Key="joined")["Body"].read() == source


def test_transfer_manager_multipart(s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(12 * MIB))
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(path), bucket, "tm.bin", Config=cfg)
    assert s3.head_object(Bucket=bucket, Key="tm.bin")["ETag"].endswith('-3"')
    s3.download_file(bucket, "tm.bin", str(tmp_path / "back.bin"), Config=cfg)
    assert (tmp_path / "back.bin").read_bytes() == path.read_bytes()


def test_list_object_versions_of_an_unversioned_bucket(s3, bucket):
    """Every object is its one `null` version (Ansible's s3_bucket force empties a bucket
    from this listing, then DeleteObjects)."""
    for key in ("a", "b", "dir/c", "dir/d", "e"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    out = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in out["Versions"]] == [
        ("a", "null", True, 1), ("b", "null", True, 1), ("dir/c", "null", True, 5),
        ("dir/d", "null", True, 5), ("e", "null", True, 1)]
    assert out["Versions"][0]["ETag"] == s3.head_object(Bucket=bucket, Key="a")["ETag"]
    assert out["Versions"][0]["Owner"]["ID"] == "111111111111"
    assert out["IsTruncated"] is False and "DeleteMarkers" not in out
    top = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in top["Versions"]] == ["a", "b", "e"]
    assert top["CommonPrefixes"] == [{"Prefix": "dir/"}]
    pages = list(s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}))
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == \
        ["a", "b", "dir/c", "dir/d", "e"]
    assert pages[0]["NextKeyMarker"] == "b" and pages[0]["NextVersionIdMarker"] == "null"
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket, Prefix="dir/")[
        "Versions"]] == ["dir/c", "dir/d"]
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed]})
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
