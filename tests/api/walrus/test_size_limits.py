"""S3's size limits, decided from the headers before a byte of the body is read:
5 GiB for one PutObject or UploadPart, 5 TiB for a completed multipart object."""
import socket

import pytest
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, code, sign_v4, signed, status
from walrus.store import MAX_OBJECT_SIZE, MAX_SINGLE_PUT

TOO_BIG = MAX_SINGLE_PUT + 1


def _announce(server, path: str, length: int) -> bytes:
    """A signed PUT that declares `length` bytes and sends none; the whole reply."""
    url = server.endpoint + path
    headers, *_ = sign_v4(ALICE, "PUT", url, {}, "UNSIGNED-PAYLOAD")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"PUT {path} HTTP/1.1\r\n{head}Content-Length: {length}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        reply = b""
        while b"</Error>" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    return reply


def _gone(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    return status(e) == 404


def test_put_over_5_gib_is_refused_from_content_length(server, s3, bucket):
    reply = _announce(server, f"/{bucket}/huge", TOO_BIG)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"<Code>EntityTooLarge</Code>" in reply
    assert f"<ProposedSize>{TOO_BIG}</ProposedSize>".encode() in reply
    assert f"<MaxSizeAllowed>{MAX_SINGLE_PUT}</MaxSizeAllowed>".encode() in reply
    assert _gone(s3, bucket, "huge")


def test_put_over_5_gib_is_refused_from_decoded_length(server, s3, bucket):
    """aws-chunked uploads (awscli, boto3) say the object's size in x-amz-decoded-content-length."""
    resp = signed(server, ALICE, "PUT", f"/{bucket}/huge", b"5\r\nhello\r\n0\r\n\r\n",
                  {"Content-Encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(TOO_BIG)},
                  payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert resp.status_code == 400 and b"<Code>EntityTooLarge</Code>" in resp.content
    assert _gone(s3, bucket, "huge")


def test_part_over_5_gib_is_refused(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    reply = _announce(server, f"/{bucket}/mp?partNumber=1&uploadId={uid}", TOO_BIG)
    assert reply.startswith(b"HTTP/1.1 400 ") and b"<Code>EntityTooLarge</Code>" in reply
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []


def test_completed_object_over_5_tib_is_refused(server, s3, bucket):
    """Parts whose sizes add up past 5 TiB (rows put straight into the store, no bytes)."""
    from walrus.app import STATE

    uid = s3.create_multipart_upload(Bucket=bucket, Key="vast")["UploadId"]
    part = MAX_OBJECT_SIZE // 2 + 1
    db = server.runners[0].app[STATE]["db"]
    server.run(db.write(lambda c: c.executemany(
        "INSERT INTO parts (upload_id, part_number, blob, size, etag, last_modified) "
        "VALUES (?,?,?,?,?,?)",
        [(uid, n, "missing", part, "0" * 32, 0.0) for n in (1, 2)])))
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="vast", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": '"' + "0" * 32 + '"'} for n in (1, 2)]})
    assert (code(e), status(e)) == ("EntityTooLarge", 400)
    assert e.value.response["Error"]["MaxSizeAllowed"] == str(MAX_OBJECT_SIZE)
    # The parts were never charged to the account: remove them as they came.
    server.run(db.write(lambda c: c.execute("DELETE FROM parts WHERE upload_id=?", (uid,))))
    s3.abort_multipart_upload(Bucket=bucket, Key="vast", UploadId=uid)
