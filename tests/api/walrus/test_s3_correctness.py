"""Issue 13, item 9: XML bodies keep their text byte for byte, every sub-resource
Walrus does not serve answers 501 NotImplemented with its code, x-amz-checksum-*
values come back with ChecksumMode=ENABLED, GetObjectAttributes, and listings of
keys with control characters (encoding-type=url)."""
from __future__ import annotations

import base64
import hashlib
import json
import zlib

import pytest
import requests
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, code, signed, status


def _md5(body: bytes) -> dict:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


# --- XML text is exact ----------------------------------------------------------------

@pytest.mark.parametrize("key", [" ", "a  ", "  b", "\tc\t", "d\n"])
def test_delete_objects_of_whitespace_keys(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    assert [d["Key"] for d in out["Deleted"]] == [key]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_indented_delete_document(server, s3, bucket):
    """Indentation between elements is layout, not text: a pretty-printed body works."""
    s3.put_object(Bucket=bucket, Key="k1", Body=b"x")
    s3.put_object(Bucket=bucket, Key=" k2 ", Body=b"x")
    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Delete>\n  <Quiet>false</Quiet>\n'
            b'  <Object>\n    <Key>k1</Key>\n  </Object>\n'
            b'  <Object>\n    <Key> k2 </Key>\n  </Object>\n</Delete>\n')
    r = signed(server, ALICE, "POST", f"/{bucket}?delete", body, _md5(body))
    assert r.status_code == 200, r.text
    assert r.text.count("<Deleted>") == 2
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_whitespace_tag_values_are_kept(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="t",
                          Tagging={"TagSet": [{"Key": "k", "Value": " v "}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "k",
                                                                        "Value": " v "}]


# --- sub-resources Walrus does not serve ---------------------------------------------

UNSERVED = [
    ("GET", "", "inventory&id=x"), ("PUT", "", "inventory&id=x"), ("DELETE", "", "inventory&id=x"),
    ("GET", "", "analytics"), ("GET", "", "metrics"), ("GET", "", "intelligent-tiering"),
    ("PUT", "", "metrics&id=x"), ("PUT", "", "policyStatus"),
    ("GET", "/obj", "torrent"), ("POST", "/obj", "restore"), ("PUT", "/obj", "renameObject"),
    ("POST", "/obj", "select&select-type=2"),
]


@pytest.mark.parametrize("method,where,query", UNSERVED)
def test_unserved_sub_resources_are_not_implemented(server, s3, bucket, method, where, query):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    r = signed(server, ALICE, method, f"/{bucket}{where}?{query}", b"<X/>")
    assert r.status_code == 501, r.text
    assert "<Code>NotImplemented</Code>" in r.text
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"data"
    if method == "PUT" and not where:  # never a CreateBucket or a PutObject in disguise
        assert s3.head_bucket(Bucket=bucket)


def test_boto3_sees_not_implemented(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.list_bucket_inventory_configurations(Bucket=bucket)
    assert (status(e), code(e)) == (501, "NotImplemented")
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    with pytest.raises(ClientError) as e:
        s3.get_object_torrent(Bucket=bucket, Key="obj")
    assert (status(e), code(e)) == (501, "NotImplemented")


# --- checksums -------------------------------------------------------------------------

def _crc32(body: bytes) -> str:
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


def _sha(name: str, body: bytes) -> str:
    return base64.b64encode(hashlib.new(name, body).digest()).decode()


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_checksum_returned_with_checksum_mode(s3, s3_when_required, bucket, algorithm):
    body = b"checksummed bytes " * 100
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=algorithm)
    field = f"Checksum{algorithm}"
    assert put[field]
    for op in ("get_object", "head_object"):
        got = getattr(s3, op)(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
        assert got[field] == put[field]
        assert got["ChecksumType"] == "FULL_OBJECT"
        # without the mode (boto3's default asks for it on GET), no checksum is sent
        plain = getattr(s3_when_required, op)(Bucket=bucket, Key="c")
        assert field not in plain
    if algorithm == "CRC32":
        assert put[field] == _crc32(body)
    if algorithm.startswith("SHA"):
        assert put[field] == _sha(algorithm.lower(), body)


def test_crc32c_header_stored_and_returned(server, s3, bucket):
    """botocore needs awscrt for CRC32C, so send it by hand: CRC32C("123456789") is
    0xE3069283, the standard check value."""
    value = base64.b64encode(bytes.fromhex("e3069283")).decode()
    r = signed(server, ALICE, "PUT", f"/{bucket}/c", b"123456789",
               {"x-amz-checksum-crc32c": value})
    assert r.status_code == 200 and r.headers["x-amz-checksum-crc32c"] == value
    got = signed(server, ALICE, "HEAD", f"/{bucket}/c", headers={"x-amz-checksum-mode": "ENABLED"})
    assert got.headers["x-amz-checksum-crc32c"] == value
    assert "x-amz-checksum-crc32c" not in signed(server, ALICE, "HEAD", f"/{bucket}/c").headers


def test_wrong_checksum_header_is_bad_digest(server, bucket):
    r = signed(server, ALICE, "PUT", f"/{bucket}/bad", b"abc",
               {"x-amz-checksum-crc32": _crc32(b"abd")})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text


# --- listings of keys with control characters ------------------------------------------

CONTROL_KEYS = ["ctl\nnewline", "ctl\x01one", "ctl\x7fdel", "ctl\x1bescape", "ctl tab\tand space"]


def test_control_character_keys_listed_with_encoding_type_url(server, s3, bucket):
    for key in CONTROL_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # boto3 asks for encoding-type=url itself and decodes the answer
    v2 = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ctl")["Contents"]]
    v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket, Prefix="ctl")["Contents"]]
    assert sorted(v1) == sorted(v2) == sorted(CONTROL_KEYS)
    raw = signed(server, ALICE, "GET", f"/{bucket}?list-type=2&encoding-type=url")
    assert raw.status_code == 200
    assert "<Key>ctl%01one</Key>" in raw.text and "<EncodingType>url</EncodingType>" in raw.text
    bad = signed(server, ALICE, "GET", f"/{bucket}?encoding-type=base64")
    assert bad.status_code == 400 and "<Code>InvalidArgument</Code>" in bad.text


# --- GetObjectAttributes ---------------------------------------------------------------

ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_get_object_attributes(s3, bucket):
    body = b"attributes " * 50
    put = s3.put_object(Bucket=bucket, Key="a", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="a", ObjectAttributes=ALL_ATTRIBUTES)
    assert got["ETag"] == put["ETag"].strip('"')
    assert got["Checksum"]["ChecksumSHA256"] == put["ChecksumSHA256"]
    assert got["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert got["StorageClass"] == "STANDARD"
    assert got["ObjectSize"] == len(body)
    assert "ObjectParts" not in got  # a single PUT has no parts
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="a")["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="a", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == len(body) and "ETag" not in only and "Checksum" not in only


def test_get_object_attributes_of_a_multipart_object(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    parts = []
    for n, data in enumerate([b"a" * (5 * 1024 * 1024), b"b" * 10], 1):
        p = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                           Body=data)
        parts.append({"PartNumber": n, "ETag": p["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    got = s3.get_object_attributes(Bucket=bucket, Key="mp",
                                   ObjectAttributes=["ObjectParts", "ETag", "ObjectSize"])
    assert got["ObjectParts"]["TotalPartsCount"] == 2
    assert got["ETag"].endswith("-2")
    assert got["ObjectSize"] == 5 * 1024 * 1024 + 10


def test_get_object_attributes_errors(server, s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    r = signed(server, ALICE, "GET", f"/{bucket}/a?attributes")
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    r = signed(server, ALICE, "GET", f"/{bucket}/a?attributes",
               headers={"x-amz-object-attributes": "ETag,Colour"})
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert (status(e), code(e)) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3_bob.get_object_attributes(Bucket=bucket, Key="a", ObjectAttributes=["ETag"])
    assert (status(e), code(e)) == (403, "AccessDenied")


def test_awscli_get_object_attributes(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cli", Body=b"twelve bytes")
    out = json.loads(aws("s3api", "get-object-attributes", "--bucket", bucket, "--key", "cli",
                         "--object-attributes", "ETag", "ObjectSize", "StorageClass").stdout)
    assert out["ObjectSize"] == 12 and out["StorageClass"] == "STANDARD"
    assert out["ETag"] == hashlib.md5(b"twelve bytes").hexdigest()
def _digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    return hashlib.new(algorithm.lower(), data).digest()


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1", "CRC32"])
def test_multipart_composite_checksum(s3, s3_when_required, bucket, algorithm):
    """S3's composite: the algorithm over the parts' binary checksums, then -N."""
    field = f"Checksum{algorithm}"
    parts = [b"a" * (5 * 1024 * 1024), b"tail"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm=algorithm)
    done = []
    for n, data in enumerate(parts, 1):
        p = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                           Body=data, ChecksumAlgorithm=algorithm)
        assert p[field] == base64.b64encode(_digest(algorithm, data)).decode()
        done.append({"PartNumber": n, "ETag": p["ETag"], field: p[field]})
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up["UploadId"])["Parts"]
    assert [p[field] for p in listed] == [d[field] for d in done]
    out = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                       MultipartUpload={"Parts": done})
    joined = _digest(algorithm, b"".join(_digest(algorithm, d) for d in parts))
    composite = base64.b64encode(joined).decode() + "-2"
    assert out[field] == composite
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert (head[field], head["ChecksumType"]) == (composite, "COMPOSITE")
    assert field not in s3_when_required.head_object(Bucket=bucket, Key="mp")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"][field] == composite
    assert attrs["Checksum"]["ChecksumType"] == "COMPOSITE"


def test_bad_checksum_algorithm_on_create(server, bucket):
    r = signed(server, ALICE, "POST", f"/{bucket}/mp?uploads",
               headers={"x-amz-checksum-algorithm": "MD4"})
    assert r.status_code == 400 and "<Code>InvalidRequest</Code>" in r.text


def test_migrations_keep_existing_parts(tmp_path):
    """A database made before CORS and part checksums (version 2) opens at the newest
    version: an open upload's parts keep their rows with no checksum, no bucket has CORS."""
    import asyncio
    import sqlite3

    from mallee import migrations
    from walrus.db import MIGRATIONS, Database

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    for step in migrations.found(MIGRATIONS)[:2]:
        conn.executescript(step.script)
    conn.execute("INSERT INTO parts VALUES ('u1', 1, 'blob', 5, 'e', 0)")
    conn.commit()
    conn.close()

    async def upgrade():
        db = Database(path)
        await db.open()
        try:
            return ((await db.one("PRAGMA user_version"))[0],
                    [tuple(r) for r in await db.all("SELECT part_number, checksum FROM parts")],
                    (await db.one("SELECT count(*) FROM bucket_settings"))[0])
        finally:
            await db.close()
    version, parts, cors_rows = asyncio.run(upgrade())
    assert version == len(migrations.found(MIGRATIONS)) >= 4
    assert parts == [(1, "")] and cors_rows == 0
