"""Small objects kept inline in walrus.db (walrus/blobs.py, `[walrus] inline_max_bytes`):
every call that reads, copies or removes object bytes works on them as on blob files,
checked with boto3 and against walrus.db and the data directory themselves."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from mallee import pki
from tests.api.walrus.helpers import ALICE, WalrusServer, client_for, code
from walrus import sse
from walrus.blobs import INLINE

MiB = 1 << 20
KEY = bytes(range(32))


def ssec(key: bytes = KEY) -> dict:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def marked(size: int) -> tuple[bytes, bytes]:
    """A body of `size` bytes made of a marker no other test writes, and the marker."""
    mark = b"INLINE-PLAINTEXT-" + os.urandom(6).hex().encode() + b":"
    out = bytearray()
    n = 0
    while len(out) < size:
        out += mark + str(n).encode() + b"|"
        n += 1
    return bytes(out[:size]), mark


def data_dir(server) -> Path:
    return Path(server.settings.data_dir("walrus"))


def query(server, sql: str, *args):
    conn = sqlite3.connect(f"file:{data_dir(server) / 'walrus.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def blob_name(server, bucket: str, key: str, version_id: str | None = None) -> str:
    if version_id is None:
        [(name,)] = query(server, "SELECT blob FROM objects WHERE bucket=? AND key=?",
                          bucket, key)
        return name
    [(name,)] = query(server, "SELECT blob FROM objects WHERE bucket=? AND key=? AND "
                      "version_id=? UNION ALL SELECT blob FROM versions WHERE bucket=? AND "
                      "key=? AND version_id=?", bucket, key, version_id, bucket, key,
                      version_id)
    return name


def inline_data(server, name: str) -> bytes | None:
    rows = query(server, "SELECT data FROM inline_blobs WHERE name=?", name)
    return bytes(rows[0][0]) if rows else None


def blob_file(server, name: str) -> Path:
    return data_dir(server) / "blobs" / name[:2] / name


def assert_inline(server, name: str, stored: bytes | None = None) -> None:
    assert name.startswith(INLINE), name
    data = inline_data(server, name)
    assert data is not None, "no inline_blobs row for an inline name"
    assert not blob_file(server, name).exists()
    if stored is not None:
        assert data == stored


def assert_file(server, name: str) -> None:
    assert not name.startswith(INLINE) and inline_data(server, name) is None
    assert blob_file(server, name).is_file()


def everything_stored(server) -> bytes:
    """Every byte under Walrus's data directory (walrus.db, its WAL, blob files...)."""
    return b"".join(p.read_bytes() for p in sorted(data_dir(server).rglob("*")) if p.is_file())


def test_small_put_get_range_head_are_inline(s3, server, bucket):
    body = os.urandom(4096)
    put = s3.put_object(Bucket=bucket, Key="small", Body=body, ContentType="text/x-small")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert_inline(server, blob_name(server, bucket, "small"), body)
    got = s3.get_object(Bucket=bucket, Key="small")
    assert got["Body"].read() == body and got["ContentType"] == "text/x-small"
    for spec, want in (("bytes=0-0", body[:1]), ("bytes=100-1099", body[100:1100]),
                       ("bytes=4000-", body[4000:]), ("bytes=-10", body[-10:]),
                       ("bytes=4095-9999", body[4095:])):
        part = s3.get_object(Bucket=bucket, Key="small", Range=spec)
        assert part["Body"].read() == want, spec
        assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="small", Range="bytes=5000-6000")
    assert code(e) == "InvalidRange"
    head = s3.head_object(Bucket=bucket, Key="small")
    assert head["ContentLength"] == 4096 and head["ETag"] == put["ETag"]
    assert s3.get_object(Bucket=bucket, Key="small", PartNumber=1)["Body"].read() == body
    empty = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert_inline(server, blob_name(server, bucket, "empty"), b"")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    assert empty["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_the_boundary_is_inline_max_bytes(s3, server, bucket):
    limit = server.settings.walrus.inline_max_bytes
    assert limit == 65536  # conf/defaults.toml
    at, over = os.urandom(limit), os.urandom(limit + 1)
    s3.put_object(Bucket=bucket, Key="at", Body=at)
    s3.put_object(Bucket=bucket, Key="over", Body=over)
    assert_inline(server, blob_name(server, bucket, "at"), at)
    assert_file(server, blob_name(server, bucket, "over"))
    assert s3.get_object(Bucket=bucket, Key="at")["Body"].read() == at
    assert s3.get_object(Bucket=bucket, Key="over")["Body"].read() == over


def test_overwrite_and_delete_free_the_row(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    first = blob_name(server, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    second = blob_name(server, bucket, "k")
    assert first != second and inline_data(server, first) is None
    assert_inline(server, second, b"second")
    # an inline object replaced by a file, then a file by an inline object
    big = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key="k", Body=big)
    assert inline_data(server, second) is None
    as_file = blob_name(server, bucket, "k")
    assert_file(server, as_file)
    s3.put_object(Bucket=bucket, Key="k", Body=b"third")
    third = blob_name(server, bucket, "k")
    assert_inline(server, third, b"third")
    s3.delete_object(Bucket=bucket, Key="k")
    assert inline_data(server, third) is None
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    names = [blob_name(server, bucket, k) for k in ("a", "b")]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert all(inline_data(server, n) is None for n in names)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="a")


def test_copy_between_inline_and_file(s3, server, bucket):
    small = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.copy_object(Bucket=bucket, Key="small-copy", CopySource={"Bucket": bucket, "Key": "small"})
    copied = blob_name(server, bucket, "small-copy")
    assert copied != blob_name(server, bucket, "small")
    assert_inline(server, copied, small)
    # file -> inline: a small range of a large object copied into a part, completed
    large = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="large", Body=large)
    assert_file(server, blob_name(server, bucket, "large"))
    up = s3.create_multipart_upload(Bucket=bucket, Key="from-file")["UploadId"]
    part = s3.upload_part_copy(Bucket=bucket, Key="from-file", UploadId=up, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "large"},
                               CopySourceRange="bytes=1000-5999")
    assert part["CopyPartResult"]["ETag"] == f'"{hashlib.md5(large[1000:6000]).hexdigest()}"'
    [(part_blob,)] = query(server, "SELECT blob FROM parts WHERE upload_id=?", up)
    assert_inline(server, part_blob, large[1000:6000])
    s3.complete_multipart_upload(Bucket=bucket, Key="from-file", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert inline_data(server, part_blob) is None  # the upload's part went with it
    assert_inline(server, blob_name(server, bucket, "from-file"), large[1000:6000])
    assert s3.get_object(Bucket=bucket, Key="from-file")["Body"].read() == large[1000:6000]
    # inline -> file: an inline part (by UploadPartCopy of an inline object) after a
    # 5 MiB one, joined into one blob file
    up = s3.create_multipart_upload(Bucket=bucket, Key="to-file")["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="to-file", UploadId=up, PartNumber=1,
                           Body=large[:5 * MiB])["ETag"]
    second = s3.upload_part_copy(Bucket=bucket, Key="to-file", UploadId=up, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "small"}
                                 )["CopyPartResult"]["ETag"]
    parts = dict(query(server, "SELECT part_number, blob FROM parts WHERE upload_id=?", up))
    assert_file(server, parts[1])
    assert_inline(server, parts[2], small)
    s3.complete_multipart_upload(Bucket=bucket, Key="to-file", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    assert inline_data(server, parts[2]) is None
    assert_file(server, blob_name(server, bucket, "to-file"))
    whole = large[:5 * MiB] + small
    assert s3.get_object(Bucket=bucket, Key="to-file")["Body"].read() == whole
    span = s3.get_object(Bucket=bucket, Key="to-file", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert span["Body"].read() == whole[5 * MiB - 10:5 * MiB + 10]
    assert s3.get_object(Bucket=bucket, Key="to-file", PartNumber=2)["Body"].read() == small


def test_small_parts_and_abort(s3, server, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"p1")["ETag"]
    [(old,)] = query(server, "SELECT blob FROM parts WHERE upload_id=?", up)
    assert_inline(server, old, b"p1")
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"p1 again")
    [(new,)] = query(server, "SELECT blob FROM parts WHERE upload_id=?", up)
    assert inline_data(server, old) is None and inline_data(server, new) == b"p1 again"
    with pytest.raises(s3.exceptions.ClientError) as e:  # the replaced part's ETag
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert code(e) == "InvalidPart"
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
    assert inline_data(server, new) is None


def test_versions_of_inline_objects(s3, server, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    bodies = [b"v1", os.urandom(100_000), b"v3"]
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=b)["VersionId"] for b in bodies]
    names = [blob_name(server, bucket, "k", v) for v in ids]
    assert_inline(server, names[0], b"v1")
    assert_file(server, names[1])
    assert_inline(server, names[2], b"v3")
    for version, body in zip(ids, bodies):
        assert s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read() == body
        assert s3.get_object(Bucket=bucket, Key="k", VersionId=version,
                             Range="bytes=1-1")["Body"].read() == body[1:2]
    s3.copy_object(Bucket=bucket, Key="old", CopySource={"Bucket": bucket, "Key": "k",
                                                         "VersionId": ids[0]})
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"v1"
    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"]
    assert inline_data(server, names[2]) == b"v3"  # a marker removes no bytes
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[0])
    assert inline_data(server, names[0]) is None
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v3"  # current again
    listed = s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]
    assert [v["VersionId"] for v in listed] == [ids[2], ids[1]]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 1")
    null_1 = blob_name(server, bucket, "k", "null")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 2")  # replaces the null version
    assert inline_data(server, null_1) is None
    assert inline_data(server, blob_name(server, bucket, "k", "null")) == b"null 2"
    assert inline_data(server, names[2]) == b"v3"


def test_sse_s3_and_sse_c_inline_objects_are_sealed_in_walrus_db(s3, server, bucket):
    plain, plain_mark = marked(5000)
    s3_body, s3_mark = marked(5000)
    c_body, c_mark = marked(sse.CHUNK)  # sealed, its tag takes it over 64 KiB: a file
    c_small, c_small_mark = marked(20_000)
    s3.put_object(Bucket=bucket, Key="plain", Body=plain)
    s3.put_object(Bucket=bucket, Key="sse-s3", Body=s3_body, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="sse-c", Body=c_small, **ssec())
    s3.put_object(Bucket=bucket, Key="sse-c-chunk", Body=c_body, **ssec())
    for key, body in (("sse-s3", s3_body), ("sse-c", c_small)):
        name = blob_name(server, bucket, key)
        assert_inline(server, name)
        sealed = inline_data(server, name)
        assert len(sealed) == sse.sealed_size(len(body)) and body[:64] not in sealed
    assert_file(server, blob_name(server, bucket, "sse-c-chunk"))
    stored = everything_stored(server)
    assert plain_mark in stored  # the plain one is there as sent: the search can fail
    for mark in (s3_mark, c_small_mark, c_mark):
        assert mark not in stored
    got = s3.get_object(Bucket=bucket, Key="sse-s3")
    assert got["Body"].read() == s3_body and got["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="sse-s3", Range="bytes=10-19")["Body"].read() == \
        s3_body[10:20]
    assert s3.get_object(Bucket=bucket, Key="sse-c", **ssec())["Body"].read() == c_small
    assert s3.get_object(Bucket=bucket, Key="sse-c", Range="bytes=-100",
                         **ssec())["Body"].read() == c_small[-100:]
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="sse-c")
    assert code(e) == "InvalidRequest"
    assert s3.head_object(Bucket=bucket, Key="sse-c", **ssec())["ContentLength"] == 20_000
    # copies: decrypted and sealed again, inline, still not in the clear
    s3.copy_object(Bucket=bucket, Key="copy-s3", CopySource={"Bucket": bucket, "Key": "sse-c"},
                   CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY,
                   ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="copy-plain",
                   CopySource={"Bucket": bucket, "Key": "sse-s3"})
    assert_inline(server, blob_name(server, bucket, "copy-s3"))
    assert s3.get_object(Bucket=bucket, Key="copy-s3")["Body"].read() == c_small
    assert s3.get_object(Bucket=bucket, Key="copy-plain")["Body"].read() == s3_body
    assert_inline(server, blob_name(server, bucket, "copy-plain"), s3_body)
    s3.delete_object(Bucket=bucket, Key="copy-plain")
    assert c_small_mark not in everything_stored(server)


def test_lifecycle_expiry_frees_inline_rows(fast):
    fs3 = client_for(fast, ALICE)
    bucket = f"inline-life-{os.getpid()}"
    fs3.create_bucket(Bucket=bucket)
    fs3.put_object(Bucket=bucket, Key="logs/a", Body=b"expires")
    fs3.put_object(Bucket=bucket, Key="keep/a", Body=b"stays")
    gone, kept = blob_name(fast, bucket, "logs/a"), blob_name(fast, bucket, "keep/a")
    assert_inline(fast, gone, b"expires")
    fs3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}}]})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and inline_data(fast, gone) is not None:
        time.sleep(0.2)
    assert inline_data(fast, gone) is None
    assert [o["Key"] for o in fs3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep/a"]
    assert inline_data(fast, kept) == b"stays"


def test_setting_zero_means_files_and_both_kinds_read_after_a_change(tmp_path):
    pki.init_pki(tmp_path / "pki")
    plain = {"a": os.urandom(100), "c": os.urandom(2000)}

    def serve(**setting):
        server = WalrusServer(tmp_path, **setting).start()
        server.push(1)
        return server, client_for(server, ALICE)
    server, s3 = serve(inline_max_bytes=0)
    try:
        s3.create_bucket(Bucket="b")
        s3.put_object(Bucket="b", Key="a", Body=plain["a"])
        s3.put_object(Bucket="b", Key="e", Body=b"")
        assert_file(server, blob_name(server, "b", "a"))
        assert_file(server, blob_name(server, "b", "e"))
        assert query(server, "SELECT count(*) FROM inline_blobs") == [(0,)]
    finally:
        server.stop()
    server, s3 = serve()  # the default: inline again
    try:
        s3.put_object(Bucket="b", Key="c", Body=plain["c"])
        assert_inline(server, blob_name(server, "b", "c"), plain["c"])
        s3.copy_object(Bucket="b", Key="a-copy", CopySource={"Bucket": "b", "Key": "a"})
        assert_inline(server, blob_name(server, "b", "a-copy"), plain["a"])  # file -> inline
    finally:
        server.stop()
    server, s3 = serve(inline_max_bytes=0)
    try:  # names say where bytes are, whatever the setting is now
        for key in ("a", "c", "a-copy"):
            assert s3.get_object(Bucket="b", Key=key)["Body"].read() == plain[key[0]]
        s3.copy_object(Bucket="b", Key="c-copy", CopySource={"Bucket": "b", "Key": "c"})
        assert_file(server, blob_name(server, "b", "c-copy"))  # inline -> file
        assert s3.get_object(Bucket="b", Key="c-copy")["Body"].read() == plain["c"]
        s3.delete_object(Bucket="b", Key="c")
        assert query(server, "SELECT count(*) FROM inline_blobs") == [(1,)]  # a-copy's
    finally:
        server.stop()


def test_a_setting_over_the_limit_is_refused(tmp_path):
    import walrus
    from mallee.settings import SettingsError
    server = WalrusServer(tmp_path, inline_max_bytes=2 * MiB)
    with pytest.raises(SettingsError, match="inline_max_bytes"):
        walrus.sites(server.settings)
