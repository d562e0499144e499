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
    ("PUT", "", "metrics&id=x"), ("GET", "", "policyStatus"),
    ("GET", "/obj", "retention"), ("PUT", "/obj", "retention"), ("GET", "/obj", "legal-hold"),
    ("PUT", "/obj", "legal-hold"), ("GET", "/obj", "torrent"), ("POST", "/obj", "restore"),
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
        s3.get_object_retention(Bucket=bucket, Key="obj")
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
