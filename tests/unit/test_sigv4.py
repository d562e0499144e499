"""Our verifier against requests signed by botocore's own signers."""
import asyncio
import datetime
import hashlib
from urllib.parse import unquote, urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from multidict import CIMultiDict

from mallee import errors
from mallee.auth import Credential
from mallee.auth import sigv4

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CRED = Credential("AKIAIOSFODNN7EXAMPLE", SECRET, "123456789012", "acct", "AIDA1", "u")


async def lookup(key_id):
    return CRED if key_id == CRED.access_key_id else None


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def pairs_of(url):
    query = urlsplit(url).query
    return [(unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in query.split("&") if p)]


def verify(request, secret_cred=None, s3=False, services=("ec2",), payload_hash=None, when=None):
    prepared = request.prepare()
    headers = CIMultiDict(prepared.headers)
    split = urlsplit(prepared.url)
    headers.setdefault("Host", split.netloc)  # what the HTTP client would send
    pairs = pairs_of(prepared.url)
    parsed = sigv4.parse(headers, dict(pairs))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    if s3:  # S3 signs whatever hash the client declared in x-amz-content-sha256
        payload_hash = headers["x-amz-content-sha256"]
    return asyncio.run(sigv4.verify(
        parsed=parsed, method=prepared.method, raw_path=split.path, query_pairs=pairs,
        headers=headers, payload_hash=payload_hash or hashlib.sha256(body).hexdigest(),
        lookup=lookup, now=when or now(), max_skew=900, services=services, s3=s3))


def sign_header(method, url, data=None, service="ec2", region="us-east-1", cls=None,
                headers=None, secret=SECRET):
    creds = botocore.credentials.Credentials(CRED.access_key_id, secret)
    request = botocore.awsrequest.AWSRequest(method, url, data=data, headers=headers or {})
    (cls or botocore.auth.SigV4Auth)(creds, service, region).add_auth(request)
    return request


def test_header_signed_post_form():
    req = sign_header("POST", "http://127.0.0.1:8773/services/compute",
                      data={"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert verify(req).credential == CRED


def test_paths_with_odd_characters_are_normalised_as_botocore_does():
    req = sign_header("GET", "http://h/a/./b/../c%20d?Action=X&Name=a%2Fb%20c")
    assert verify(req).credential == CRED


def test_s3_paths_are_signed_as_sent():
    req = sign_header("GET", "http://h/bucket/key%20with%20spaces/..%2Fx", service="s3",
                      cls=botocore.auth.S3SigV4Auth,
                      headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert verify(req, s3=True, services=("s3",)).credential == CRED


def test_query_signed_request():
    creds = botocore.credentials.Credentials(CRED.access_key_id, SECRET)
    request = botocore.awsrequest.AWSRequest("GET", "http://h/",
                                             params={"Action": "DescribeRegions"})
    botocore.auth.SigV4QueryAuth(creds, "ec2", "any-region", expires=60).add_auth(request)
    assert verify(request).credential == CRED


def test_wrong_secret_fails():
    req = sign_header("POST", "http://h/", data={"Action": "DescribeRegions"}, secret="nope")
    with pytest.raises(errors.AuthFailure):
        verify(req)


def test_unknown_key_fails():
    creds = botocore.credentials.Credentials("AKIAUNKNOWN000000000", SECRET)
    request = botocore.awsrequest.AWSRequest("POST", "http://h/", data={"Action": "X"})
    botocore.auth.SigV4Auth(creds, "ec2", "r").add_auth(request)
    with pytest.raises(errors.AuthFailure):
        verify(request)


def test_expired_presigned_url():
    creds = botocore.credentials.Credentials(CRED.access_key_id, SECRET)
    request = botocore.awsrequest.AWSRequest("GET", "http://h/", params={"Action": "X"})
    botocore.auth.SigV4QueryAuth(creds, "ec2", "r", expires=60).add_auth(request)
    later = now() + datetime.timedelta(seconds=120)
    with pytest.raises(errors.RequestExpired):
        verify(request, when=later)


def test_skew_is_checked():
    req = sign_header("POST", "http://h/", data={"Action": "X"})
    with pytest.raises(errors.RequestExpired):
        verify(req, when=now() + datetime.timedelta(minutes=16))


def test_wrong_service_scope():
    req = sign_header("POST", "http://h/", data={"Action": "X"}, service="s3")
    with pytest.raises(errors.IncompleteSignature):
        verify(req)


def test_malformed_authorization_header():
    headers = CIMultiDict({"Authorization": "AWS4-HMAC-SHA256 Credential=garbage",
                           "X-Amz-Date": "20250101T000000Z"})
    with pytest.raises(errors.IncompleteSignature):
        sigv4.parse(headers, {})


def test_scope_must_be_well_formed():
    headers = CIMultiDict({"Authorization": "AWS4-HMAC-SHA256 Credential=AK/2025/r/ec2/x, "
                                            "SignedHeaders=host, Signature=abcd",
                           "X-Amz-Date": "20250101T000000Z"})
    with pytest.raises(errors.IncompleteSignature):
        sigv4.parse(headers, {})
