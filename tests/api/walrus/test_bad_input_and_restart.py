"""Inputs that SDKs would not send, credential sync over the RPC, and restarts."""
import base64
import hashlib
import hmac
import socket

import pytest
import requests
from botocore.exceptions import ClientError

from mallee import errors as mallee_errors
from mallee.rpc import RpcClient, client_ssl_context
from tests.api.walrus.helpers import (ALICE, BOB, Account, WalrusServer, client_for, code,
                                      sign_v4, signed, status)


def test_bad_xml_bodies(server, s3, bucket):
    bad = b"<Delete><Object><Key>x"
    md5 = base64.b64encode(hashlib.md5(bad).digest()).decode()
    resp = signed(server, ALICE, "POST", f"/{bucket}?delete", bad, {"Content-MD5": md5})
    assert resp.status_code == 400 and b"<Code>MalformedXML</Code>" in resp.content
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    resp = signed(server, ALICE, "POST", f"/{bucket}/m?uploadId={uid}", b"<Complete<<")
    assert resp.status_code == 400 and b"<Code>MalformedXML</Code>" in resp.content
    resp = signed(server, ALICE, "POST", f"/{bucket}/m?uploadId={uid}",
                  b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>"
                  b"</CompleteMultipartUpload>")
    assert b"<Code>MalformedXML</Code>" in resp.content
    resp = signed(server, ALICE, "PUT", f"/{bucket}?acl", b"<AccessControlPolicy><bad")
    assert resp.status_code == 400 and b"<Code>MalformedACLError</Code>" in resp.content
    resp = signed(server, ALICE, "PUT", "/entity-bucket", b"<CreateBucketConfiguration>")
    assert resp.status_code == 400 and b"MalformedXML" in resp.content
    resp = signed(server, ALICE, "PUT", f"/{bucket}/x", b"body", payload_hash="0" * 64)
    assert resp.status_code == 400 and b"XAmzContentSHA256Mismatch" in resp.content


def _raw(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_truncated_body_is_not_stored(server, s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    _raw(server, f"PUT /{bucket}/trunc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Content-Length: 1000\r\n\r\n".encode() + b"x" * 100)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="trunc")
    assert status(e) == 404  # HEAD has no body, so boto3 shows the status as the code
    s3.put_bucket_acl(Bucket=bucket, ACL="private")


def _chunked_body(signing_key, amz_date, scope, seed, chunks, corrupt=None):
    empty = hashlib.sha256(b"").hexdigest()
    previous, out = seed, b""
    for i, chunk in enumerate(chunks + [b""]):
        text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
                          hashlib.sha256(chunk).hexdigest()])
        sig = hmac.new(signing_key, text.encode(), hashlib.sha256).hexdigest()
        previous = sig
        if corrupt == i:
            sig = "0" * 64
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
    return out


@pytest.mark.parametrize("corrupt", [None, 1])
def test_signed_streaming_upload(server, s3, bucket, corrupt):
    """restic-style STREAMING-AWS4-HMAC-SHA256-PAYLOAD with per-chunk signatures."""
    chunks = [b"a" * 65536, b"b" * 1000]
    url = f"{server.endpoint}/{bucket}/streamed"
    headers = {"Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(sum(map(len, chunks)))}
    headers, seed, key, amz_date, scope = sign_v4(ALICE, "PUT", url, headers,
                                                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = _chunked_body(key, amz_date, scope, seed, chunks, corrupt)
    resp = requests.put(url, data=body, headers=headers)
    if corrupt is None:
        assert resp.status_code == 200, resp.text
        got = s3.get_object(Bucket=bucket, Key="streamed")
        assert got["Body"].read() == b"".join(chunks)
        assert got.get("ContentEncoding") is None  # aws-chunked is not the object's encoding
    else:
        assert resp.status_code == 403 and b"SignatureDoesNotMatch" in resp.content
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key="streamed")
        assert status(e) == 404


def test_unsigned_trailer_with_wrong_checksum(server, s3, bucket):
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    resp = signed(server, ALICE, "PUT", f"/{bucket}/trailer", body,
                  {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "5",
                   "x-amz-trailer": "x-amz-checksum-crc32"},
                  payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert resp.status_code == 400 and b"BadDigest" in resp.content
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="trailer")
    assert status(e) == 404


def test_sync_credentials_rpc(server, walrus_home):
    health = server.rpc("health")
    assert health["status"] == "ok" and health["credentials_generation"] >= 1
    carol = Account("AKIACAROL00000000004", "carol-secret-00000000000000000000000000",
                    "444444444444", "carol", "admin")
    from tests.api.walrus.helpers import ADMIN
    assert server.push(5, [ALICE, BOB, ADMIN, carol]) == {"generation": 5}
    client_for(server, carol).list_buckets()
    # An older push does not undo a newer one.
    assert server.push(4, [ALICE, BOB, ADMIN]) == {"generation": 5}
    client_for(server, carol).list_buckets()
    # Only the CLC may push credentials.
    import asyncio

    async def as_nc():
        client = RpcClient("127.0.0.1", server.rpc_port,
                           client_ssl_context(server.settings.pki_dir, "nc"), role="walrus")
        try:
            return await client.call("sync_credentials", generation=9, credentials=[])
        finally:
            await client.close()
    with pytest.raises(mallee_errors.UnauthorizedOperation) as e:
        asyncio.run(as_nc())
    assert "may not call" in e.value.message
    with pytest.raises(mallee_errors.InvalidParameterValue) as e:
        server.rpc("sync_credentials", generation=6, credentials=[{"access_key_id": 1}])
    assert "string fields" in e.value.message
    server.push(6, [ALICE, BOB, ADMIN])
    with pytest.raises(ClientError) as e:
        client_for(server, carol).list_buckets()
    assert (code(e), status(e)) == ("InvalidAccessKeyId", 403)


def test_restart_keeps_data_and_credentials(tmp_path):
    from mallee import pki
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path, max_buckets_per_account=2, max_bytes_per_account=1000).start()
    try:
        first.push(1)
        s3 = client_for(first, ALICE)
        s3.create_bucket(Bucket="keep")
        s3.put_object(Bucket="keep", Key="k", Body=b"acknowledged")
        s3.create_bucket(Bucket="keep2")
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket="keep3")
        assert (code(e), status(e)) == ("TooManyBuckets", 400)
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="keep", Key="big", Body=b"x" * 2000)
        assert (code(e), status(e)) == ("QuotaExceeded", 403)
        port = first.port
    finally:
        first.stop()
    # An unreferenced blob, as a crash between write and commit would leave.
    stray = tmp_path / "data" / "walrus" / "blobs" / "ff" / ("ff" * 16)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"never acknowledged")
    second = WalrusServer(tmp_path)
    second.port = port
    second.settings = second.settings.replace(walrus={"port": port})
    second.start()
    try:
        s3 = client_for(second, ALICE)  # no push: credentials came back from disk
        assert s3.get_object(Bucket="keep", Key="k")["Body"].read() == b"acknowledged"
        assert not stray.exists()
        assert second.rpc("health")["buckets"] == 2
    finally:
        second.stop()
