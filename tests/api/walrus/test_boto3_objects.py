"""Objects through boto3, with its default checksums and with when_required."""
import base64
import hashlib
import io
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import code, status


@pytest.mark.parametrize("client", ["s3", "s3_when_required"])
def test_put_get_roundtrip_with_metadata(request, bucket, client):
    s3 = request.getfixturevalue(client)
    data = b"x" * 100_000 + b"end"
    put = s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=data, ContentType="text/plain",
                        Metadata={"color": "blue"}, CacheControl="max-age=60",
                        ContentDisposition="attachment", ServerSideEncryption="AES256")
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert put["ServerSideEncryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "blue"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == "attachment"
    assert got["ContentLength"] == len(data)
    assert "VersionId" not in got  # rclone: no version header on an unversioned bucket
    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]


def test_checksum_algorithms_are_verified_and_returned(s3, bucket):
    for algorithm in ("CRC32", "SHA1", "SHA256"):  # CRC32C needs awscrt in the client
        s3.put_object(Bucket=bucket, Key=f"c-{algorithm}", Body=b"checksummed",
                      ChecksumAlgorithm=algorithm)
        got = s3.get_object(Bucket=bucket, Key=f"c-{algorithm}", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"checksummed"
        assert f"Checksum{algorithm}" in got


def test_wrong_content_md5_is_bad_digest(s3_when_required, bucket):
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3_when_required.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=wrong)
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3_when_required.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5="nope")
    assert code(e) == "InvalidDigest"
    with pytest.raises(ClientError) as e:
        s3_when_required.head_object(Bucket=bucket, Key="k")
    assert status(e) == 404  # nothing half-written became visible


def test_wrong_checksum_is_bad_digest(s3_when_required, bucket):
    with pytest.raises(ClientError) as e:
        s3_when_required.put_object(Bucket=bucket, Key="k", Body=b"data",
                                    ChecksumCRC32="AAAAAA==")
    assert code(e) == "BadDigest"


@pytest.mark.parametrize("key", ["unicode/ü文字 ✓", "with spaces/a b  c", "dots/../x",
                                 "a/./b", "k" * 1024, "trailing/", "plus+and%percent&amp?q"])
def test_awkward_keys_roundtrip(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [key]


def test_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code(e) == "KeyTooLongError"


def test_missing_things(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(e) == "NoSuchKey" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-here", Key="nope")
    assert code(e) == "NoSuchBucket"
    # DELETE of a missing key succeeds, as in S3.
    assert s3.delete_object(Bucket=bucket, Key="nope")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_ranges(s3, bucket):
    data = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["Body"].read() == data[10:20]
    assert got["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == data[1000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-5000")["Body"].read() == data[1000:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-6000")
    assert code(e) == "InvalidRange" and status(e) == 416


def test_conditional_get(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(e) == 412 and code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert status(e) == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304


def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="image/png",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-cache")
    assert got["ContentType"] == "image/png"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"


def test_overwrite_replaces_whole_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"a" * 1000)
    s3.put_object(Bucket=bucket, Key="o", Body=b"b" * 10)
    assert s3.get_object(Bucket=bucket, Key="o")["Body"].read() == b"b" * 10


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"a": "1"},
                  ContentType="text/x-src")
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"payload" and got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "text/x-src"
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/plain")
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/plain"
    # Copy onto itself to change metadata.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"c": "3"})
    got = s3.get_object(Bucket=bucket, Key="src")
    assert got["Metadata"] == {"c": "3"} and got["Body"].read() == b"payload"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceIfMatch='"nope"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(e) == "NoSuchKey"


def test_delete_objects_quiet_and_verbose(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/0"}, {"Key": "d/1"},
                                                                {"Key": "missing"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["d/0", "d/1", "missing"]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/2"}], "Quiet": True})
    assert out.get("Deleted", []) == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["d/3", "d/4"]


def test_empty_object_and_directory_marker(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="dir/")
    assert got["ContentLength"] == 0 and got["Body"].read() == b""
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_upload_fileobj_streams(s3, bucket):
    data = io.BytesIO(b"z" * (3 * 1024 * 1024))
    s3.upload_fileobj(data, bucket, "big")
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 3 * 1024 * 1024
