"""The EC2 front door against requests a hostile or unlucky client sends:
bodies split across TCP segments, malformed numbers and encodings, signatures
that never expire. Every one gets the 4xx EC2 would send, never a 500."""
import datetime
import socket
import time
from urllib.parse import urlencode, urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import xmltodict

from tests.api.test_frontdoor import raw_call, sigv2_call


def creds_of(cloud):
    return botocore.credentials.Credentials(cloud.admin.access_key_id,
                                            cloud.admin.secret_access_key)


def signed_request(cloud, body: bytes, headers=None):
    request = botocore.awsrequest.AWSRequest(
        "POST", cloud.ec2_url, data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                 **(headers or {})})
    botocore.auth.SigV4Auth(creds_of(cloud), "ec2", "mallee").add_auth(request)
    return request.prepare()


def send_in_segments(url: str, head: bytes, body: bytes, split: int, pause: float = 0.3):
    """One HTTP request written as two TCP segments with a pause between them, the
    way a large POST arrives over a real network; the parsed (status, body)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head + body[:split])
        time.sleep(pause)
        sock.sendall(body[split:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def http_head(prepared, extra: dict | None = None) -> bytes:
    lines = ["POST / HTTP/1.1", "Connection: close", f"Host: {urlsplit(prepared.url).netloc}",
             *(f"{k}: {v}" for k, v in {**dict(prepared.headers), **(extra or {})}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def error_of(body: bytes) -> str:
    return xmltodict.parse(body)["Response"]["Errors"]["Error"]["Code"]


def test_a_body_in_two_segments_is_read_whole(cloud):
    """30 KB of filters arriving in two segments: the signature covers all of it."""
    values = {f"Filter.1.Value.{i}": f"no-such-key-{i:05d}" for i in range(1, 1300)}
    body = urlencode({"Action": "DescribeKeyPairs", "Version": "2016-11-15",
                      "Filter.1.Name": "key-name", **values}).encode()
    assert len(body) > 30_000
    prepared = signed_request(cloud, body)
    status, reply = send_in_segments(cloud.ec2_url, http_head(prepared), prepared.body, 8000)
    assert status == 200, reply
    assert b"<keySet></keySet>" in reply.replace(b"<keySet/>", b"<keySet></keySet>")


def test_gzip_encoding_that_is_not_gzip_is_a_400(cloud):
    body = b"Action=DescribeRegions&Version=2016-11-15"
    prepared = signed_request(cloud, body, {"Content-Encoding": "gzip"})
    status, reply = raw_call(prepared.url, body=prepared.body, headers=dict(prepared.headers))
    assert status == 400, reply
    assert error_of(reply) == "InvalidParameterValue"


def test_a_signed_header_with_a_non_utf8_byte_is_refused_cleanly(cloud):
    prepared = signed_request(cloud, b"Action=DescribeRegions&Version=2016-11-15",
                              {"X-Amz-Meta-Note": "caf"})
    head = http_head(prepared).replace(b"X-Amz-Meta-Note: caf", b"X-Amz-Meta-Note: caf\xe9")
    status, reply = send_in_segments(cloud.ec2_url, head, prepared.body, 0, pause=0)
    assert status == 401, reply
    assert error_of(reply) == "AuthFailure"


def presigned_get(cloud, expires: str) -> str:
    request = botocore.awsrequest.AWSRequest(
        "GET", cloud.ec2_url, params={"Action": "DescribeRegions", "Version": "2016-11-15"})
    botocore.auth.SigV4QueryAuth(creds_of(cloud), "ec2", "mallee", expires=300).add_auth(request)
    return request.prepare().url.replace("X-Amz-Expires=300", f"X-Amz-Expires={expires}")


def test_x_amz_expires_must_be_ascii_digits_of_bounded_length(cloud):
    for expires in ("%C2%B2", "9" * 5000, "-1", "%EF%BC%93"):  # '²', huge, negative, '３'
        status, reply = raw_call(presigned_get(cloud, expires), method="GET")
        assert status == 400, (expires, reply)
        assert error_of(reply) == "IncompleteSignature"


def test_numeric_parameters_take_bounded_ascii_integers_only(ec2, cloud):
    from tests.api.test_frontdoor import signed
    for value in ("%C2%B2", "%D9%A3", "9" * 5000, "9" * 30, "1_0", "+5", "%205"):
        status, reply = signed(cloud, f"Action=DescribeTags&MaxResults={value}"
                                      "&Version=2016-11-15")
        assert status == 400, (value, reply)
        assert error_of(reply) == "InvalidParameterValue", value


def sigv2_form(expires: datetime.datetime) -> dict:
    return {"Action": "DescribeRegions", "Version": "2015-10-01",
            "Expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_sigv2_expires_is_capped_at_seven_days(cloud):
    now = datetime.datetime.now(datetime.timezone.utc)
    far = sigv2_form(now + datetime.timedelta(days=8))
    status, reply = sigv2_call(cloud.ec2_url, far, creds_of(cloud))
    assert status == 400, reply
    assert error_of(reply) == "InvalidParameterValue"
    soon = sigv2_form(now + datetime.timedelta(days=6))
    status, reply = sigv2_call(cloud.ec2_url, soon, creds_of(cloud))
    assert status == 200, reply


def test_sigv2_expires_in_the_past_is_request_expired(cloud):
    past = sigv2_form(datetime.datetime.now(datetime.timezone.utc)
                      - datetime.timedelta(minutes=1))
    status, reply = sigv2_call(cloud.ec2_url, past, creds_of(cloud))
    assert status == 400, reply
    assert error_of(reply) == "RequestExpired"


def test_a_non_ascii_signature_is_auth_failure(cloud):
    """hmac.compare_digest refuses non-ASCII str: that must not become a 500."""
    request = botocore.awsrequest.AWSRequest(
        "POST", cloud.ec2_url, data={"Action": "DescribeRegions", "Version": "2015-10-01"})
    botocore.auth.SigV2Auth(creds_of(cloud)).add_auth(request)
    form = dict(request.data)
    form["Signature"] = "é" + form["Signature"][1:]
    status, reply = raw_call(cloud.ec2_url, body=urlencode(form).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401, reply
    assert error_of(reply) == "AuthFailure"
    url = presigned_get(cloud, "300").replace("X-Amz-Signature=", "X-Amz-Signature=%C3%A9")
    status, reply = raw_call(url, method="GET")
    assert status == 401, reply
    assert error_of(reply) == "AuthFailure"
