"""Encryption at rest: SSE-S3, default bucket encryption and SSE-C, with boto3 and
awscli, checked against the blob files themselves (walrus/sse.py)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from tests.api.walrus.helpers import ALICE, WalrusServer, awscli, client_for, code, status
from walrus import sse

PATTERN = b"MALLEE-PLAINTEXT-PATTERN-0123456789:"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def ssec(key: bytes = KEY, prefix: str = "SSECustomer") -> dict:
    return {f"{prefix}Algorithm": "AES256", f"{prefix}Key": key}


def pattern(size: int) -> bytes:
    """A recognisable body whose every offset is distinct (a wrong chunk shows)."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += PATTERN + str(n).encode() + b"\n"
        n += 1
    return bytes(out[:size])


def blob_files(home: Path) -> list[Path]:
    return [p for p in (home / "data" / "walrus" / "blobs").rglob("*") if p.is_file()]


def row(home: Path, bucket: str, key: str) -> sqlite3.Row:
    conn = sqlite3.connect(f"file:{home / 'data' / 'walrus' / 'walrus.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM objects WHERE bucket=? AND key=?",
                            (bucket, key)).fetchone()
    finally:
        conn.close()


def blob_of(home: Path, bucket: str, key: str) -> Path:
    name = row(home, bucket, key)["blob"]
    return home / "data" / "walrus" / "blobs" / name[:2] / name


def assert_sealed(home: Path, bucket: str, key: str, body: bytes) -> None:
    """The object's blob holds none of its plaintext, and is the sealed size."""
    path = blob_of(home, bucket, key)
    data = path.read_bytes()
    assert PATTERN not in data
    assert body[:4096] not in data
    assert len(data) == sse.sealed_size(len(body)) or row(home, bucket, key)["etag"].endswith(
        tuple(f"-{n}" for n in range(1, 10001)))


def test_sse_s3_put_get_head_is_encrypted_on_disk(s3, bucket, walrus_home):
    body = pattern(300_000)
    put = s3.put_object(Bucket=bucket, Key="secret", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    # S3 keeps the plaintext's MD5 as an SSE-S3 object's ETag.
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="secret")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="secret")["ServerSideEncryption"] == "AES256"
    assert_sealed(walrus_home, bucket, "secret", body)
    # The plain object next to it is stored as it is (the check above can fail).
    s3.put_object(Bucket=bucket, Key="plain", Body=body)
    assert PATTERN in blob_of(walrus_home, bucket, "plain").read_bytes()
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="plain")
    key_file = walrus_home / "data" / "walrus" / sse.MASTER_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("size", [0, 1, sse.CHUNK - 1, sse.CHUNK, sse.CHUNK + 1,
                                  3 * sse.CHUNK])
def test_sse_s3_sizes_round_trip(s3, bucket, size):
    body = pattern(size)
    s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == size


def test_ranges_at_chunk_boundaries(s3, bucket):
    size = 5 * sse.CHUNK + 123
    body = pattern(size)
    s3.put_object(Bucket=bucket, Key="r", Body=body, ServerSideEncryption="AES256")
    spans = [(0, 0), (0, sse.CHUNK - 1), (sse.CHUNK - 1, sse.CHUNK), (sse.CHUNK, sse.CHUNK),
             (sse.CHUNK - 5, 3 * sse.CHUNK + 7), (size - 1, size - 1), (100, size - 1),
             (2 * sse.CHUNK, 4 * sse.CHUNK - 1)]
    for first, last in spans:
        got = s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={first}-{last}")
        assert got["Body"].read() == body[first:last + 1], (first, last)
        assert got["ContentRange"] == f"bytes {first}-{last}/{size}"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-70000")["Body"].read() == \
        body[-70000:]


def test_multipart_parts_encrypted_and_ranges_across_parts(s3, bucket, walrus_home):
    part = 5 * 1024 * 1024
    bodies = [pattern(part + 1), pattern(part)[::-1], pattern(777_777)]
    whole = b"".join(bodies)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert up["ServerSideEncryption"] == "AES256"
    parts = []
    for n, data in enumerate(bodies, 1):
        done = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                              Body=data)
        assert done["ServerSideEncryption"] == "AES256"
        assert done["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        parts.append({"PartNumber": n, "ETag": done["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == whole
    data = blob_of(walrus_home, bucket, "mp").read_bytes()
    assert PATTERN not in data and PATTERN[::-1] not in data
    assert len(data) == sum(sse.sealed_size(len(b)) for b in bodies)
    edges = [part + 1, 2 * part + 1]
    for first, last in [(edges[0] - 10, edges[0] + 10), (edges[0] - 1, edges[1]),
                        (0, len(whole) - 1), (edges[1] - sse.CHUNK, edges[1] + sse.CHUNK),
                        (len(whole) - 3, len(whole) - 1), (part - sse.CHUNK, part)]:
        got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={first}-{last}")
        assert got["Body"].read() == whole[first:last + 1], (first, last)
    for n, data in enumerate(bodies, 1):  # GetObject partNumber: that part's plaintext
        assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)["Body"].read() == data
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp",
                                     ObjectAttributes=["ObjectSize", "ETag", "ObjectParts"])
    assert attrs["ObjectSize"] == len(whole)
    assert attrs["ObjectParts"]["TotalPartsCount"] == 3


def test_tampered_blob_fails_the_get(s3, bucket, walrus_home):
    chunks = 2 * sse.READ_CHUNKS + 2  # past the first run, which is read before the status
    body = pattern(chunks * sse.CHUNK)
    s3.put_object(Bucket=bucket, Key="t", Body=body, ServerSideEncryption="AES256")
    path = blob_of(walrus_home, bucket, "t")
    clean = path.read_bytes()

    def tampered(at: int) -> None:
        raw = bytearray(clean)
        raw[at] ^= 1
        path.write_bytes(bytes(raw))
    tampered(10)  # in the first chunk: refused before the status is sent
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="t")
    assert (code(e), status(e)) == ("InternalError", 500)
    # A later chunk: the first runs went out with a 200, then the connection is cut.
    late = (chunks - 2) * sse.SEALED + 5
    tampered(late)
    assert s3.get_object(Bucket=bucket, Key="t", Range="bytes=0-99")["Body"].read() == body[:100]
    got = s3.get_object(Bucket=bucket, Key="t")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ResponseStreamingError):
        got["Body"].read()
    # A tag byte, and the last chunk, are covered as well.
    for at in (sse.SEALED - 1, len(clean) - 1):
        tampered(at)
        with pytest.raises((ClientError, ResponseStreamingError)):
            s3.get_object(Bucket=bucket, Key="t")["Body"].read()
    # Swapping two whole sealed chunks is caught (the index is in the nonce).
    raw = bytearray(clean)
    raw[:sse.SEALED], raw[sse.SEALED:2 * sse.SEALED] = clean[sse.SEALED:2 * sse.SEALED], \
        clean[:sse.SEALED]
    path.write_bytes(bytes(raw))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="t")
    assert status(e) == 500
    # A blob cut short, inside the last chunk's tag or at a chunk's edge.
    for cut in (len(clean) - 3, len(clean) - sse.SEALED):
        path.write_bytes(clean[:cut])
        with pytest.raises((ClientError, ResponseStreamingError)):
            s3.get_object(Bucket=bucket, Key="t")["Body"].read()
    path.write_bytes(clean)
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == body


def test_unsupported_algorithms(s3, bucket):
    for value in ("aws:kms", "AES128", "aes256"):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption=value)
        assert (code(e), status(e)) == ("InvalidArgument", 400)
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", ServerSideEncryption=value)
        assert (code(e), status(e)) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256",
                      **ssec())
    assert (code(e), status(e)) == ("InvalidArgument", 400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_default_bucket_encryption(s3, bucket, walrus_home):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert (code(e), status(e)) == ("ServerSideEncryptionConfigurationNotFoundError", 404)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": True}]})
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                      "BucketKeyEnabled": True}]
    body = pattern(100_000)
    put = s3.put_object(Bucket=bucket, Key="d", Body=body)
    assert put["ServerSideEncryption"] == "AES256"
    assert_sealed(walrus_home, bucket, "d", body)
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert up["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"])
    # SSE-C still wins over the default.
    s3.put_object(Bucket=bucket, Key="c", Body=body, **ssec())
    assert s3.get_object(Bucket=bucket, Key="c", **ssec())["Body"].read() == body
    for bad in ({"SSEAlgorithm": "aws:kms"},
                {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": bad}]})
        assert (code(e), status(e)) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]})
    assert (code(e), status(e)) == ("MalformedXML", 400)
    s3.delete_bucket_encryption(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert status(e) == 404
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="p", Body=body)
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == body  # still readable


def test_sse_c_round_trip_and_errors(s3, bucket, walrus_home):
    body = pattern(200_000)
    md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, **ssec())
    assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == md5
    assert "ServerSideEncryption" not in put
    # S3's ETag of an SSE-C object is not the plaintext's MD5.
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'
    assert_sealed(walrus_home, bucket, "c", body)
    stored = row(walrus_home, bucket, "c")["encryption"]
    assert base64.b64encode(KEY).decode() not in stored and KEY.hex() not in stored
    got = s3.get_object(Bucket=bucket, Key="c", **ssec())
    assert got["Body"].read() == body
    assert got["SSECustomerKeyMD5"] == md5 and got["ETag"] == put["ETag"]
    ranged = s3.get_object(Bucket=bucket, Key="c", Range="bytes=70000-140000", **ssec())
    assert ranged["Body"].read() == body[70000:140001]
    assert s3.head_object(Bucket=bucket, Key="c", **ssec())["SSECustomerKeyMD5"] == md5
    for call in (lambda: s3.get_object(Bucket=bucket, Key="c"),
                 lambda: s3.get_object_attributes(Bucket=bucket, Key="c",
                                                  ObjectAttributes=["ObjectSize"])):
        with pytest.raises(ClientError) as e:
            call()
        assert (code(e), status(e)) == ("InvalidRequest", 400)
        assert "correct parameters must be provided" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c")
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", **ssec(OTHER_KEY))
    assert (code(e), status(e)) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", **ssec(OTHER_KEY))
    assert status(e) == 403
    # SSE-C parameters for an object that is not SSE-C.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **ssec())
    assert (code(e), status(e)) == ("InvalidRequest", 400)


def test_sse_c_header_errors(server, bucket):
    from tests.api.walrus.helpers import signed
    good_key = base64.b64encode(KEY).decode()
    good_md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    cases = [
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key": good_key,
          "x-amz-server-side-encryption-customer-key-MD5":
              base64.b64encode(hashlib.md5(OTHER_KEY).digest()).decode()},
         "InvalidArgument", "The calculated MD5 hash of the key did not match"),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES128",
          "x-amz-server-side-encryption-customer-key": good_key,
          "x-amz-server-side-encryption-customer-key-MD5": good_md5},
         "InvalidEncryptionAlgorithmError", "Supported value: AES256"),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key-MD5": good_md5},
         "InvalidArgument", "must provide an appropriate secret key"),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key": good_key},
         "InvalidArgument", "MD5 of the secret key"),
        ({"x-amz-server-side-encryption-customer-key": good_key,
          "x-amz-server-side-encryption-customer-key-MD5": good_md5},
         "InvalidArgument", "valid encryption algorithm"),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key": base64.b64encode(b"short").decode(),
          "x-amz-server-side-encryption-customer-key-MD5":
              base64.b64encode(hashlib.md5(b"short").digest()).decode()},
         "InvalidArgument", "secret key was invalid"),
    ]
    for headers, want, message in cases:
        r = signed(server, ALICE, "PUT", f"/{bucket}/k", b"data", headers)
        assert r.status_code == 400, r.text
        assert f"<Code>{want}</Code>" in r.text and message in r.text, r.text


def test_sse_c_multipart_needs_the_key_on_every_part(s3, bucket):
    part = 5 * 1024 * 1024
    bodies = [pattern(part), b"tail" * 1000]
    up = s3.create_multipart_upload(Bucket=bucket, Key="m", **ssec())
    assert up["SSECustomerAlgorithm"] == "AES256"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="m", UploadId=up["UploadId"], PartNumber=1,
                       Body=bodies[0])
    assert (code(e), status(e)) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="m", UploadId=up["UploadId"], PartNumber=1,
                       Body=bodies[0], **ssec(OTHER_KEY))
    assert (code(e), status(e)) == ("AccessDenied", 403)
    parts = []
    for n, data in enumerate(bodies, 1):
        done = s3.upload_part(Bucket=bucket, Key="m", UploadId=up["UploadId"], PartNumber=n,
                              Body=data, **ssec())
        assert done["SSECustomerKeyMD5"]
        parts.append({"PartNumber": n, "ETag": done["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    whole = b"".join(bodies)
    assert s3.get_object(Bucket=bucket, Key="m", **ssec())["Body"].read() == whole
    got = s3.get_object(Bucket=bucket, Key="m", Range=f"bytes={part - 3}-{part + 3}", **ssec())
    assert got["Body"].read() == whole[part - 3:part + 4]


def test_copy_decrypts_source_and_seals_target(s3, bucket, walrus_home):
    body = pattern(150_000)
    s3.put_object(Bucket=bucket, Key="c", Body=body, **ssec())
    source = {"Bucket": bucket, "Key": "c"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=source)
    assert (code(e), status(e)) == ("InvalidRequest", 400)
    # SSE-C source to SSE-S3 target.
    done = s3.copy_object(Bucket=bucket, Key="s3", CopySource=source,
                          ServerSideEncryption="AES256", **ssec(prefix="CopySourceSSECustomer"))
    assert done["ServerSideEncryption"] == "AES256"
    assert done["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="s3")["Body"].read() == body
    assert_sealed(walrus_home, bucket, "s3", body)
    # SSE-S3 to plaintext (no header, no default): readable on disk, as asked.
    done = s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "s3"})
    assert "ServerSideEncryption" not in done
    assert PATTERN in blob_of(walrus_home, bucket, "plain").read_bytes()
    # Plaintext onto itself with SSE-S3: encrypts an existing object in place.
    s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "plain"},
                   ServerSideEncryption="AES256")
    assert_sealed(walrus_home, bucket, "plain", body)
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == body
    # SSE-S3 to SSE-C with another key.
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "s3"},
                   **ssec(OTHER_KEY))
    assert s3.get_object(Bucket=bucket, Key="c2", **ssec(OTHER_KEY))["Body"].read() == body
    # UploadPartCopy from an SSE-C source into an SSE-S3 upload.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    part = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                               CopySource=source, CopySourceRange="bytes=1000-99999",
                               **ssec(prefix="CopySourceSSECustomer"))
    assert part["CopyPartResult"]["ETag"] == f'"{hashlib.md5(body[1000:100000]).hexdigest()}"'
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{
                                     "PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body[1000:100000]
    assert_sealed(walrus_home, bucket, "mp", body[1000:100000])


def test_versions_keep_their_own_encryption(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    one = s3.put_object(Bucket=bucket, Key="v", Body=b"first" * 1000, **ssec())
    two = s3.put_object(Bucket=bucket, Key="v", Body=b"second" * 1000,
                        ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="v", Body=b"third")
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"third"
    old = s3.get_object(Bucket=bucket, Key="v", VersionId=one["VersionId"], **ssec())
    assert old["Body"].read() == b"first" * 1000
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="v", VersionId=one["VersionId"])
    assert status(e) == 400
    mid = s3.get_object(Bucket=bucket, Key="v", VersionId=two["VersionId"])
    assert mid["ServerSideEncryption"] == "AES256" and mid["Body"].read() == b"second" * 1000


def test_checksums_and_aws_chunked_uploads(s3, bucket):
    body = pattern(3 * sse.CHUNK + 11)
    # boto3's default sends aws-chunked with a CRC trailer for a file-like body.
    import io
    put = s3.put_object(Bucket=bucket, Key="k", Body=io.BytesIO(body),
                        ServerSideEncryption="AES256", ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumSHA256"] == put["ChecksumSHA256"]


def test_aws_chunked_upload_with_trailer_is_sealed(server, s3, bucket, walrus_home):
    """An aws-chunked body (unsigned, CRC32 trailer) is decoded, checked, then sealed."""
    import zlib
    from tests.api.walrus.helpers import signed
    data = pattern(2 * sse.CHUNK + 99)
    pieces = [data[:70000], data[70000:]]
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
    body += f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    r = signed(server, ALICE, "PUT", f"/{bucket}/chunked", body,
               {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-server-side-encryption": "AES256"},
               payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-server-side-encryption"] == "AES256"
    assert r.headers["x-amz-checksum-crc32"] == crc
    assert_sealed(walrus_home, bucket, "chunked", data)
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == data and got.get("ContentEncoding") is None


def test_awscli_sse_and_sse_c(aws, s3, bucket, tmp_path, walrus_home):
    src = tmp_path / "src.bin"
    body = pattern(9 * 1024 * 1024)  # above awscli's 8 MiB multipart threshold
    src.write_bytes(body)
    aws("s3", "cp", str(src), f"s3://{bucket}/cli-sse", "--sse", "AES256")
    assert s3.head_object(Bucket=bucket, Key="cli-sse")["ServerSideEncryption"] == "AES256"
    data = blob_of(walrus_home, bucket, "cli-sse").read_bytes()
    assert PATTERN not in data
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(KEY)
    aws("s3", "cp", str(src), f"s3://{bucket}/cli-ssec", "--sse-c", "AES256",
        "--sse-c-key", f"fileb://{key_file}")
    out = tmp_path / "out.bin"
    done = aws("s3", "cp", f"s3://{bucket}/cli-ssec", str(out), check=False)
    assert done.returncode != 0  # no key: refused
    aws("s3", "cp", f"s3://{bucket}/cli-ssec", str(out), "--sse-c", "AES256",
        "--sse-c-key", f"fileb://{key_file}")
    assert out.read_bytes() == body
    aws("s3", "cp", f"s3://{bucket}/cli-sse", str(out))
    assert out.read_bytes() == body
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "cli-sse").stdout)
    assert head["ServerSideEncryption"] == "AES256"


def test_restart_reads_encrypted_objects(tmp_path):
    from mallee import pki
    pki.init_pki(tmp_path / "pki")
    body = pattern(200_000)
    first = WalrusServer(tmp_path).start()
    try:
        first.push(1)
        s3 = client_for(first, ALICE)
        s3.create_bucket(Bucket="keep")
        s3.put_object(Bucket="keep", Key="s3", Body=body, ServerSideEncryption="AES256")
        s3.put_object(Bucket="keep", Key="c", Body=body, **ssec())
        s3.put_bucket_encryption(Bucket="keep", ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        key_file = (tmp_path / "data" / "walrus" / sse.MASTER_FILE).read_bytes()
    finally:
        first.stop()
    second = WalrusServer(tmp_path).start()
    try:
        s3 = client_for(second, ALICE)
        assert s3.get_object(Bucket="keep", Key="s3")["Body"].read() == body
        assert s3.get_object(Bucket="keep", Key="c", **ssec())["Body"].read() == body
        assert s3.put_object(Bucket="keep", Key="d", Body=b"x")["ServerSideEncryption"] == \
            "AES256"
        # The same master key, not a new one (which could not open the old data keys).
        assert (tmp_path / "data" / "walrus" / sse.MASTER_FILE).read_bytes() == key_file
        assert base64.b64encode(b"").decode() == "" and KEY not in key_file
    finally:
        second.stop()


def test_large_object_streams(s3, bucket, tmp_path):
    """200 MiB through SSE-S3 with boto3's managed transfer (multipart, ranged reads)."""
    size = 200 * 1024 * 1024
    src = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(src, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    s3.upload_file(str(src), bucket, "big", ExtraArgs={"ServerSideEncryption": "AES256"})
    out = tmp_path / "out.bin"
    s3.download_file(bucket, "big", str(out))
    assert out.stat().st_size == size
    with open(src, "rb") as a, open(out, "rb") as b:
        while True:
            x, y = a.read(1 << 22), b.read(1 << 22)
            assert x == y
            if not x:
                break


def test_migration_drops_the_header_older_walrus_only_echoed(tmp_path):
    """A database of version 9 holds objects stored with x-amz-server-side-encryption in
    their headers but plaintext blobs: after 0010 they are plaintext and say so."""
    from mallee import migrations
    from tests.api.walrus.helpers import upgraded
    from walrus.blobs import BlobStore
    from walrus.db import MIGRATIONS
    from walrus.store import Store

    path = tmp_path / "walrus.db"
    conn = sqlite3.connect(path)
    for m in migrations.found(MIGRATIONS)[:9]:
        conn.executescript(m.script)
    acl = json.dumps({"owner_id": "1", "owner_name": "x", "grants": []})
    conn.execute("INSERT INTO buckets (name, owner_id, owner_name, region, created, acl) "
                 "VALUES ('b1', '1', 'x', 'r', 0, ?)", (acl,))
    conn.execute("INSERT INTO objects (bucket, key, blob, size, etag, last_modified, owner_id,"
                 " owner_name, headers, acl, id) VALUES ('b1', 'a', 'blob-a', 1, 'e', 0, '1',"
                 " 'x', ?, ?, 'id-a')",
                 (json.dumps({"Content-Type": "text/plain",
                              "x-amz-server-side-encryption": "AES256"}), acl))
    conn.commit()
    conn.close()

    async def examine(db):
        return await Store(db, BlobStore(tmp_path / "blobs"), 0, 0).get("b1", "a")
    obj = upgraded(path, examine)
    assert obj.headers == {"Content-Type": "text/plain"} and obj.encryption == ""


def test_form_post_with_sse_field_and_default(s3, bucket, walrus_home):
    """A browser upload's x-amz-server-side-encryption field seals it as PUT's header
    does, and a bucket's default seals forms without one."""
    from tests.api.walrus.test_form_post import post, presigned
    body = pattern(150_000)
    url, fields = presigned(s3, bucket, "form-sse", {"x-amz-server-side-encryption": "AES256"},
                            [{"x-amz-server-side-encryption": "AES256"}])
    answer = post(url, fields, body)
    assert answer.status_code == 204, answer.text
    assert answer.headers["x-amz-server-side-encryption"] == "AES256"
    assert_sealed(walrus_home, bucket, "form-sse", body)
    assert s3.get_object(Bucket=bucket, Key="form-sse")["Body"].read() == body
    url, fields = presigned(s3, bucket, "form-kms", {"x-amz-server-side-encryption": "aws:kms"},
                            [{"x-amz-server-side-encryption": "aws:kms"}])
    answer = post(url, fields, body)
    assert answer.status_code == 400 and b"<Code>InvalidArgument</Code>" in answer.content
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    url, fields = presigned(s3, bucket, "form-default")
    assert post(url, fields, body).headers["x-amz-server-side-encryption"] == "AES256"
    assert_sealed(walrus_home, bucket, "form-default", body)


def test_bucket_policy_names_the_encryption_actions(s3, s3_bob, bucket):
    """s3:GetEncryptionConfiguration lets another account read the default; changing it
    (s3:PutEncryptionConfiguration, also DeleteBucketEncryption's) stays the owner's."""
    from tests.api.walrus.helpers import BOB
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    with pytest.raises(ClientError) as e:
        s3_bob.get_bucket_encryption(Bucket=bucket)
    assert (code(e), status(e)) == ("AccessDenied", 403)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BOB.account_id}:root"},
            "Action": "s3:GetEncryptionConfiguration",
            "Resource": f"arn:aws:s3:::{bucket}"}]}))
    rules = s3_bob.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    for call in (lambda: s3_bob.delete_bucket_encryption(Bucket=bucket),
                 lambda: s3_bob.put_bucket_encryption(
                     Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
                         "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})):
        with pytest.raises(ClientError) as e:
            call()
        assert (code(e), status(e)) == ("AccessDenied", 403)
    s3.delete_bucket_policy(Bucket=bucket)
