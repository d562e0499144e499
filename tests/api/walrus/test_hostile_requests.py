"""Requests a hostile client sends (issue 11: defects 1, 14, 17, 21, 22): each answers
the 4xx S3 gives, never a 500, and Walrus keeps serving."""
import base64
import gzip
import hashlib
import socket
from urllib.parse import quote_plus

import pytest
import requests
import xmltodict
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, WalrusServer, sign_v4, signed, status


def _error(resp) -> tuple[int, str]:
    return resp.status_code, xmltodict.parse(resp.content)["Error"]["Code"]


def _raw(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)  # with Connection: close; no half-close, which aiohttp drops
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --- 1: aws-chunked chunk sizes -------------------------------------------------------

@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A Walrus of its own: before the fix a size of -1 froze the whole process."""
    from mallee import pki
    home = tmp_path_factory.mktemp("walrus-chunked")
    pki.init_pki(home / "pki")
    srv = WalrusServer(home).start()
    srv.push(1)
    yield srv
    srv.stop()


@pytest.mark.parametrize("size", ["-1", "+10", "1_0", "ffffffffffffffffff"])
def test_bad_chunk_size_is_refused_and_walrus_keeps_serving(own_server, size):
    server = own_server
    signed(server, ALICE, "PUT", "/chunky")
    url = f"{server.endpoint}/chunky/obj"
    headers, *_ = sign_v4(ALICE, "PUT", url, {"Content-Encoding": "aws-chunked",
                                              "x-amz-decoded-content-length": "5"},
                          "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = f"{size};chunk-signature={'0' * 64}\r\nhello\r\n0;chunk-signature=00\r\n\r\n"
    resp = requests.put(url, data=body.encode(), headers=headers, timeout=10)
    assert _error(resp) == (400, "IncompleteBody")
    assert signed(server, ALICE, "GET", "/chunky").status_code == 200
    assert signed(server, ALICE, "HEAD", "/chunky/obj").status_code == 404


# --- 14: numbers ------------------------------------------------------------------------

def test_superscript_part_number_is_invalid_argument(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    resp = signed(server, ALICE, "PUT", f"/{bucket}/m?partNumber=%C2%B2&uploadId={uid}", b"x")
    assert _error(resp) == (400, "InvalidArgument")
    resp = signed(server, ALICE, "POST", f"/{bucket}/m?uploadId={uid}",
                  "<CompleteMultipartUpload><Part><PartNumber>²</PartNumber><ETag>x</ETag>"
                  "</Part></CompleteMultipartUpload>".encode())
    assert _error(resp) == (400, "MalformedXML")


@pytest.mark.parametrize("query", ["max-keys=%C2%B2", "max-keys=" + "9" * 5000,
                                   "max-keys=%D9%A5"])
def test_malformed_max_keys_is_invalid_argument(server, bucket, query):
    assert _error(signed(server, ALICE, "GET", f"/{bucket}?{query}")) == (400, "InvalidArgument")


def test_decoded_content_length_takes_ascii_digits_only(server, s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")  # unsigned: any header bytes
    try:
        reply = _raw(server, f"PUT /{bucket}/d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             f"Content-Encoding: aws-chunked\r\nContent-Length: 15\r\n"
                             f"x-amz-decoded-content-length: ٥\r\nConnection: close\r\n\r\n"
                             f"5\r\nhello\r\n0\r\n\r\n".encode())
    finally:
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert reply.startswith(b"HTTP/1.1 400") and b"<Code>InvalidArgument</Code>" in reply


@pytest.mark.parametrize("value", ["bytes=" + "1" * 5000 + "-", "bytes=0-" + "9" * 5000,
                                   "bytes=٠-٠"])
def test_unparsable_range_returns_the_whole_object(server, s3, bucket, value):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "r"})
    resp = requests.get(url, headers={"Range": value.encode()})  # UTF-8 on the wire
    assert (resp.status_code, resp.content) == (200, b"0123456789")


@pytest.mark.parametrize("name", ["If-Modified-Since", "If-Unmodified-Since"])
def test_overflowing_condition_date_is_ignored(server, s3, bucket, name):
    s3.put_object(Bucket=bucket, Key="c", Body=b"c")
    resp = signed(server, ALICE, "GET", f"/{bucket}/c",
                  headers={name: "Mon, 01 Jan 2020 00:00:00 +9999999999999999"})
    assert (resp.status_code, resp.content) == (200, b"c")


def test_sigv2_expires_and_date_that_are_not_numbers(server, bucket):
    resp = requests.get(f"{server.endpoint}/{bucket}/x?AWSAccessKeyId={ALICE.access_key_id}"
                        f"&Signature=abc&Expires=%C2%B2")
    assert _error(resp) == (403, "AccessDenied")
    resp = requests.get(f"{server.endpoint}/{bucket}/x", headers={
        "Authorization": f"AWS {ALICE.access_key_id}:abc",
        "Date": "Mon, 01 Jan 2020 00:00:00 +9999999999999999"})
    assert _error(resp) == (403, "AccessDenied")


# --- 17: response-* overrides -----------------------------------------------------------

def test_anonymous_reader_cannot_override_response_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"p", ACL="public-read")
    plain = requests.get(f"{server.endpoint}/{bucket}/pub")
    assert (plain.status_code, plain.content) == (200, b"p")
    for method in ("GET", "HEAD"):
        resp = requests.request(method,
                                f"{server.endpoint}/{bucket}/pub?response-content-type=text/html")
        assert resp.status_code == 400
        if method == "GET":
            assert _error(resp) == (400, "InvalidRequest")
            assert b"cannot be used for anonymous GET requests" in resp.content
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "pub", "ResponseContentType": "text/html"})
    resp = requests.get(url)
    assert (resp.status_code, resp.headers["Content-Type"]) == (200, "text/html")
    got = s3.get_object(Bucket=bucket, Key="pub", ResponseContentDisposition="attachment")
    assert got["ContentDisposition"] == "attachment"


@pytest.mark.parametrize("value", ["%00", "a%0D%0AX-Injected:%201", "%7F"])
def test_response_override_with_control_characters_is_invalid_argument(server, s3, bucket,
                                                                        value):
    # aiohttp refuses to write such a header (it would split the response): was a 500.
    s3.put_object(Bucket=bucket, Key="o", Body=b"o")
    resp = signed(server, ALICE, "GET", f"/{bucket}/o?response-cache-control={value}")
    assert _error(resp) == (400, "InvalidArgument")
    assert "X-Injected" not in resp.headers


# --- 21: 500s for a client's mistakes ---------------------------------------------------

# mtime=0: the same bytes (and test id) on every xdist worker, whatever second it collects in
@pytest.mark.parametrize("body", [b"this is not gzip", gzip.compress(b"real gzip", mtime=0)],
                         ids=["not-gzip", "gzip"])
def test_content_encoding_gzip_is_stored_not_decoded(server, s3, bucket, body):
    resp = signed(server, ALICE, "PUT", f"/{bucket}/gz", body, {"Content-Encoding": "gzip"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    raw = requests.get(s3.generate_presigned_url("get_object",
                                                 Params={"Bucket": bucket, "Key": "gz"}),
                       stream=True).raw
    assert raw.headers["Content-Encoding"] == "gzip"
    assert raw.read(decode_content=False) == body


def test_header_that_is_not_utf8_is_a_client_error(server, s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    try:
        reply = _raw(server, f"PUT /{bucket}/latin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             f"Content-Length: 1\r\nx-amz-meta-a: ".encode() +
                     b"caf\xe9\r\nConnection: close\r\n\r\nx")
        assert reply.startswith(b"HTTP/1.1 400") and b"<Code>InvalidArgument</Code>" in reply
    finally:
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
    url = f"{server.endpoint}/{bucket}/signed"
    headers, *_ = sign_v4(ALICE, "PUT", url, {"x-amz-meta-a": "caf\xe9"},
                          hashlib.sha256(b"").hexdigest())
    resp = requests.put(url, headers=headers)  # http.client sends the str as latin-1
    assert 400 <= resp.status_code < 500 and b"<Code>" in resp.content
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="signed")
    assert status(e) == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE"])
def test_empty_bucket_segment_is_invalid_bucket_name(server, method):
    resp = signed(server, ALICE, method, "//x")
    assert resp.status_code == 400
    if method != "HEAD":
        assert _error(resp) == (400, "InvalidBucketName")


BOGUS = b'<?xml version="1.0" encoding="bogus"?>'
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
          b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>')
EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
DOCTYPE = b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:1/d.dtd">'


@pytest.mark.parametrize("prolog", [BOGUS, LAUGHS, EXTERNAL, DOCTYPE])
def test_xml_bodies_with_unknown_encoding_or_a_dtd_are_malformed(server, s3, bucket, prolog):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"p")
    complete = prolog + (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                         f"<ETag>{part['ETag']}</ETag></Part></CompleteMultipartUpload>").encode()
    delete = prolog + b"<Delete><Object><Key>k</Key></Object></Delete>"
    md5 = base64.b64encode(hashlib.md5(delete).digest()).decode()
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    acl = prolog + (f"<AccessControlPolicy><Owner><ID>{owner}</ID></Owner>"
                    f"<AccessControlList/></AccessControlPolicy>").encode()
    create = prolog + b"<CreateBucketConfiguration><LocationConstraint>x" \
                      b"</LocationConstraint></CreateBucketConfiguration>"
    assert _error(signed(server, ALICE, "POST", f"/{bucket}/m?uploadId={uid}", complete)) == \
        (400, "MalformedXML")
    assert _error(signed(server, ALICE, "POST", f"/{bucket}?delete", delete,
                         {"Content-MD5": md5})) == (400, "MalformedXML")
    # S3 names a malformed ACL document MalformedACLError.
    assert _error(signed(server, ALICE, "PUT", f"/{bucket}?acl", acl)) == \
        (400, "MalformedACLError")
    assert _error(signed(server, ALICE, "PUT", "/hostile-xml-bucket", create)) == \
        (400, "MalformedXML")


# --- 22: keys XML 1.0 cannot carry ------------------------------------------------------

CONTROL_KEYS = ["ctl\x01key", "tab\tand\x7fdel", "plus+and space", "esc\x1b[0m/x"]


def test_control_character_keys_round_trip_with_encoding_type_url(s3, bucket):
    for key in CONTROL_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"k")
    # boto3 asks for encoding-type=url on ListObjects(V2) and decodes the keys itself.
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(CONTROL_KEYS)
    assert sorted(o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]) == \
        sorted(CONTROL_KEYS)
    for key in CONTROL_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"k"


def test_multipart_upload_listing_encodes_keys(s3, bucket):
    key = "up\x01load"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    # ListMultipartUploads takes encoding-type=url too; boto3 leaves these keys encoded.
    got = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", Prefix="up\x01")
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    assert [u["Key"] for u in got["Uploads"]] == [quote_plus(key, safe="/")]
    assert got["Prefix"] == quote_plus("up\x01", safe="/")


def test_errors_echoing_control_characters_stay_xml(s3, bucket):
    # The key is echoed in <Key> and <Resource>: NoSuchKey must still parse in boto3.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing\x00\x01\x1b")
    assert (status(e), e.value.response["Error"]["Code"]) == (404, "NoSuchKey")
