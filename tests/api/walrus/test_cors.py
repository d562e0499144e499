"""Issue 13, item 5: bucket CORS. Put/Get/DeleteBucketCors with boto3 and awscli,
AWS's refusals, the unauthenticated OPTIONS preflight answered from the rules, and
CORS headers on actual requests from an allowed Origin (raw requests, as a browser
sends them)."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, code, signed, status

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
RULES = [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
     "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type", "x-amz-meta-*"],
     "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 3000},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]


def _md5(body: bytes) -> dict:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def preflight(server, path, origin=None, method=None, headers=None, **extra):
    sent = dict(extra)
    if origin is not None:
        sent["Origin"] = origin
    if method is not None:
        sent["Access-Control-Request-Method"] = method
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return requests.options(server.endpoint + path, headers=sent, timeout=10)


def _code(r) -> str:
    import re
    m = re.search(r"<Code>([^<]*)</Code>", r.text)
    return m.group(1) if m else ""


@pytest.fixture
def cors_bucket(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<html/>")
    return bucket


def test_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert (status(e), code(e)) == (404, "NoSuchCORSConfiguration")
    assert e.value.response["Error"]["BucketName"] == bucket
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == "NoSuchCORSConfiguration"
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_a_new_configuration_replaces_the_old(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    only = [{"AllowedOrigins": ["http://x"], "AllowedMethods": ["DELETE"]}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": only})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == only


def test_cors_goes_with_the_bucket(s3):
    s3.create_bucket(Bucket="cors-gone")
    s3.put_bucket_cors(Bucket="cors-gone", CORSConfiguration={"CORSRules": RULES})
    s3.delete_bucket(Bucket="cors-gone")
    s3.create_bucket(Bucket="cors-gone")
    try:
        with pytest.raises(ClientError) as e:
            s3.get_bucket_cors(Bucket="cors-gone")
        assert code(e) == "NoSuchCORSConfiguration"
    finally:
        s3.delete_bucket(Bucket="cors-gone")


def _rule(**fields) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, vs in fields.items()
                    for v in (vs if isinstance(vs, list) else [vs]))
    return f"<CORSRule>{inner}</CORSRule>"


BAD = {
    "no rules": ("<CORSConfiguration/>", "MalformedXML", None),
    "no origin": (f"<CORSConfiguration>{_rule(AllowedMethod='GET')}</CORSConfiguration>",
                  "MalformedXML", None),
    "no method": (f"<CORSConfiguration>{_rule(AllowedOrigin='*')}</CORSConfiguration>",
                  "MalformedXML", None),
    "unknown element": (f"<CORSConfiguration>{_rule(AllowedOrigin='*', AllowedMethod='GET', Bogus='1')}"
                        "</CORSConfiguration>", "MalformedXML", None),
    "bad max age": (f"<CORSConfiguration>{_rule(AllowedOrigin='*', AllowedMethod='GET', MaxAgeSeconds='soon')}"
                    "</CORSConfiguration>", "MalformedXML", None),
    "method": (f"<CORSConfiguration>{_rule(AllowedOrigin='*', AllowedMethod='MYMETHOD')}"
               "</CORSConfiguration>", "InvalidRequest",
               "Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD"),
    "options method": (f"<CORSConfiguration>{_rule(AllowedOrigin='*', AllowedMethod='OPTIONS')}"
                       "</CORSConfiguration>", "InvalidRequest",
                       "Found unsupported HTTP method in CORS config. Unsupported method is "
                       "OPTIONS"),
    "two wildcards": (f"<CORSConfiguration>{_rule(AllowedOrigin='*example*.com', AllowedMethod='GET')}"
                      "</CORSConfiguration>", "InvalidRequest",
                      'AllowedOrigin "*example*.com" can not have more than one wildcard.'),
    "header wildcards": (f"<CORSConfiguration>{_rule(AllowedOrigin='*', AllowedMethod='GET', AllowedHeader='*a*')}"
                         "</CORSConfiguration>", "InvalidRequest",
                         'AllowedHeader "*a*" can not have more than one wildcard.'),
    "101 rules": ("<CORSConfiguration>" + _rule(AllowedOrigin="*", AllowedMethod="GET") * 101
                  + "</CORSConfiguration>", "MalformedXML", None),
    "not xml": ("<CORSConfiguration><CORSRule>", "MalformedXML", None),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_configurations(server, s3, bucket, name):
    body, want, message = BAD[name]
    raw = body.encode()
    r = signed(server, ALICE, "PUT", f"/{bucket}?cors", raw, _md5(raw))
    assert (r.status_code, _code(r)) == (400, want), r.text
    if message:
        assert f"<Message>{message}</Message>" in r.text
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == "NoSuchCORSConfiguration"  # nothing stored


def test_100_rules_is_the_limit(server, s3, bucket):
    raw = ("<CORSConfiguration>" + _rule(AllowedOrigin="*", AllowedMethod="GET") * 100
           + "</CORSConfiguration>").encode()
    assert signed(server, ALICE, "PUT", f"/{bucket}?cors", raw, _md5(raw)).status_code == 200
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100


def test_put_needs_a_digest(server, bucket):
    raw = f"<CORSConfiguration>{_rule(AllowedOrigin='*', AllowedMethod='GET')}</CORSConfiguration>"
    r = signed(server, ALICE, "PUT", f"/{bucket}?cors", raw.encode())
    assert (r.status_code, _code(r)) == (400, "InvalidRequest")


def test_only_the_owner_sees_and_changes_cors(server, s3, s3_bob, cors_bucket):
    for call in (lambda: s3_bob.get_bucket_cors(Bucket=cors_bucket),
                 lambda: s3_bob.delete_bucket_cors(Bucket=cors_bucket),
                 lambda: s3_bob.put_bucket_cors(Bucket=cors_bucket, CORSConfiguration={
                     "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), code(e)) == (403, "AccessDenied")
    r = requests.get(f"{server.endpoint}/{cors_bucket}?cors", timeout=10)
    assert (r.status_code, _code(r)) == (403, "AccessDenied")
    assert s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"] == RULES


def test_awscli_put_get_delete(aws, bucket, tmp_path):
    config = tmp_path / "cors.json"
    config.write_text(json.dumps({"CORSRules": RULES}))
    aws("s3api", "put-bucket-cors", "--bucket", bucket, "--cors-configuration",
        f"file://{config}")
    got = json.loads(aws("s3api", "get-bucket-cors", "--bucket", bucket).stdout)
    assert got["CORSRules"] == RULES
    aws("s3api", "delete-bucket-cors", "--bucket", bucket)
    done = aws("s3api", "get-bucket-cors", "--bucket", bucket, check=False)
    assert done.returncode != 0 and "NoSuchCORSConfiguration" in done.stderr


# --- preflight -------------------------------------------------------------------------

def test_preflight_allowed(server, cors_bucket):
    r = preflight(server, f"/{cors_bucket}/page.html", "https://app.example.com", "PUT",
                  "content-type,x-amz-meta-author")
    assert r.status_code == 200, r.text
    assert r.content == b""
    h = r.headers
    assert h["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert h["Access-Control-Allow-Methods"] == "GET, PUT"
    assert h["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-author"
    assert h["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert h["Access-Control-Max-Age"] == "3000"
    assert h["Access-Control-Allow-Credentials"] == "true"
    assert h["Vary"] == VARY


def test_preflight_wildcards(server, cors_bucket):
    ok = preflight(server, f"/{cors_bucket}/k", "https://cdn.example.org", "GET")
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://cdn.example.org"
    assert "Access-Control-Allow-Headers" not in ok.headers
    # the one "*" of the second rule: any origin, HEAD only, answered "*" without credentials
    star = preflight(server, f"/{cors_bucket}", "http://random:1234", "HEAD")
    assert star.status_code == 200
    assert star.headers["Access-Control-Allow-Origin"] == "*"
    assert star.headers["Access-Control-Allow-Methods"] == "HEAD"
    assert "Access-Control-Allow-Credentials" not in star.headers
    assert "Access-Control-Max-Age" not in star.headers


NOT_ALLOWED = [
    ("https://app.example.com", "DELETE", None),              # method of no rule
    ("http://app.example.com", "GET", None),                  # scheme differs
    ("https://app.example.com/", "GET", None),                # trailing slash
    ("https://app.example.com.evil", "GET", None),            # anchored
    ("https://app.example.com", "PUT", "x-other"),            # header no rule allows
    ("http://random:1234", "HEAD", "content-type"),           # "*" rule has no AllowedHeader
]


@pytest.mark.parametrize("origin,method,headers", NOT_ALLOWED)
def test_preflight_refused(server, cors_bucket, origin, method, headers):
    r = preflight(server, f"/{cors_bucket}/page.html", origin, method, headers)
    assert (r.status_code, _code(r)) == (403, "AccessForbidden"), r.text
    assert "<Message>CORSResponse: This CORS request is not allowed." in r.text
    assert f"<Method>{method}</Method>" in r.text
    assert "<ResourceType>OBJECT</ResourceType>" in r.text
    assert not any(k.lower().startswith("access-control-") for k in r.headers)


def test_preflight_errors(server, bucket):
    r = preflight(server, f"/{bucket}/k")
    assert (r.status_code, _code(r)) == (400, "BadRequest")
    assert "Insufficient information. Origin request header needed." in r.text
    r = preflight(server, f"/{bucket}/k", "http://a", "PUT")
    assert (r.status_code, _code(r)) == (403, "AccessForbidden")
    assert "CORSResponse: CORS is not enabled for this bucket." in r.text
    assert "<ResourceType>BUCKET</ResourceType>" in r.text
    r = preflight(server, "/no-such-bucket-cors/k", "http://a", "PUT")
    assert (r.status_code, _code(r)) == (403, "AccessForbidden")
    assert "CORSResponse: Bucket not found" in r.text


def test_preflight_is_unauthenticated_and_ignores_the_query(server, cors_bucket):
    """Browsers preflight multipart calls too; a signature (even a bad one) is ignored."""
    for path in (f"/{cors_bucket}/big?uploads", f"/{cors_bucket}/big?partNumber=1&uploadId=x",
                 f"/{cors_bucket}?delete", f"/{cors_bucket}/k?acl"):
        r = preflight(server, path, "https://app.example.com", "PUT",
                      Authorization="AWS4-HMAC-SHA256 Credential=junk")
        assert r.status_code == 200, (path, r.text)


def test_preflight_follows_the_rules_as_they_change(server, s3, cors_bucket):
    assert preflight(server, f"/{cors_bucket}/k", "https://app.example.com",
                     "GET").status_code == 200
    s3.delete_bucket_cors(Bucket=cors_bucket)
    r = preflight(server, f"/{cors_bucket}/k", "https://app.example.com", "GET")
    assert r.status_code == 403 and "CORS is not enabled" in r.text


# --- actual requests -------------------------------------------------------------------

def test_actual_request_from_an_allowed_origin(server, s3, cors_bucket):
    r = signed(server, ALICE, "GET", f"/{cors_bucket}/page.html",
               headers={"Origin": "https://app.example.com"})
    assert r.status_code == 200 and r.content == b"<html/>"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert r.headers["Access-Control-Max-Age"] == "3000"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Vary"] == VARY
    assert "Access-Control-Allow-Headers" not in r.headers
    put = signed(server, ALICE, "PUT", f"/{cors_bucket}/up.txt", b"hi",
                 headers={"Origin": "https://a.example.org"})
    assert put.status_code == 200
    assert put.headers["Access-Control-Allow-Origin"] == "https://a.example.org"


def test_actual_request_not_allowed_is_served_without_cors_headers(server, cors_bucket):
    for origin, method in (("https://evil.example", "GET"), ("https://app.example.com", "DELETE")):
        r = signed(server, ALICE, method, f"/{cors_bucket}/page.html", headers={"Origin": origin})
        assert r.status_code in (200, 204)
        assert not any(k.lower().startswith("access-control-") for k in r.headers)
        assert "Vary" not in r.headers


def test_no_origin_no_cors_headers(server, cors_bucket):
    r = signed(server, ALICE, "GET", f"/{cors_bucket}/page.html")
    assert not any(k.lower().startswith("access-control-") for k in r.headers)


def test_error_answers_carry_cors_headers(server, cors_bucket):
    """So a page can read S3's error: a 403 or 404 from an allowed origin has them too."""
    anonymous = requests.get(f"{server.endpoint}/{cors_bucket}/page.html",
                             headers={"Origin": "https://app.example.com"}, timeout=10)
    assert (anonymous.status_code, _code(anonymous)) == (403, "AccessDenied")
    assert anonymous.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    missing = signed(server, ALICE, "GET", f"/{cors_bucket}/missing",
                     headers={"Origin": "https://app.example.com"})
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_cors_survives_a_restart(tmp_path):
    from mallee import pki
    from tests.api.walrus.helpers import WalrusServer, client_for
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path).start()
    first.push(1)
    s3 = client_for(first, ALICE)
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_cors(Bucket="kept", CORSConfiguration={"CORSRules": RULES})
    first.stop()
    second = WalrusServer(tmp_path).start()
    try:
        second.push(2)
        assert client_for(second, ALICE).get_bucket_cors(Bucket="kept")["CORSRules"] == RULES
        assert preflight(second, "/kept/x", "https://app.example.com", "GET").status_code == 200
    finally:
        second.stop()
