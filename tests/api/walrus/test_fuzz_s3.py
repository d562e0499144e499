"""Fuzzing Walrus: the S3 operations it serves, with values drawn from
botocore's model of each input (hostile keys, headers, numbers and bodies),
sent by boto3 with its parameter validation off; then raw requests no SDK
sends (bad percent-encoding, hostile XML, bodies shorter than declared, huge
headers, broken Authorization). No answer may be a 5xx or carry a traceback,
and Walrus keeps answering. Bounded and repeatable (derandomized)."""
from __future__ import annotations

import base64
import hmac
import json
import socket

import botocore.exceptions
import botocore.session
import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.api.walrus.helpers import ALICE, BOB, ADMIN, WalrusServer, client_for, signed
from walrus import dispatch
from walrus.api import bucket_config
from tests.fuzzing import LoopWatchdog, values_for
from tests.reporting import write_summary

S3_MODEL = botocore.session.get_session().get_service_model("s3")
# The operations Walrus serves (walrus/dispatch.py); the rest answer a clear code.
OPERATIONS = [
    "ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket", "GetBucketLocation",
    "ListObjects", "ListObjectsV2", "ListObjectVersions", "GetBucketAcl", "PutBucketAcl",
    "PutObject", "GetObject",
    "HeadObject", "DeleteObject", "DeleteObjects", "CopyObject", "GetObjectAcl", "PutObjectAcl",
    "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
    "AbortMultipartUpload", "ListParts", "ListMultipartUploads",
    "PutBucketTagging", "GetBucketTagging", "DeleteBucketTagging",
    "PutObjectTagging", "GetObjectTagging", "DeleteObjectTagging",
    "PutBucketCors", "GetBucketCors", "DeleteBucketCors", "GetObjectAttributes",
    "PutBucketVersioning", "GetBucketVersioning",
    "PutBucketLifecycleConfiguration", "GetBucketLifecycleConfiguration",
    "DeleteBucketLifecycle", "PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy",
    "GetBucketPolicyStatus", "PutPublicAccessBlock", "GetPublicAccessBlock",
    "DeletePublicAccessBlock", "PutBucketOwnershipControls", "GetBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
    "PutObjectLockConfiguration", "GetObjectLockConfiguration", "PutObjectRetention",
    "GetObjectRetention", "PutObjectLegalHold", "GetObjectLegalHold",
    "PutBucketEncryption", "GetBucketEncryption", "DeleteBucketEncryption",
]
# Routes of walrus/dispatch.py's table no operation above reaches, each with the reason.
UNFUZZED = {("bucket", method, sub): "a constant answer (not configured)"
            for sub in (*bucket_config.NOT_CONFIGURED, *bucket_config.EMPTY_DOCUMENTS)
            for method in ("GET", "PUT", "DELETE")}
UNFUZZED.update({(level, "OPTIONS", ""): "the CORS preflight: no SDK operation; raw OPTIONS "
                 "requests below (RAW_PREFLIGHTS) send it hostile headers"
                 for level in ("bucket", "object")})
UNFUZZED[("bucket", "POST", "")] = ("the browser upload (POST Object): no botocore operation; "
                                    "test_hostile_forms sends it hostile forms and policies")
EXAMPLES = 8
BUCKET = "fuzz-bucket"
SENT: dict[str, int] = {}
FORMS: list[int] = []  # the statuses test_hostile_forms got


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    from mallee import pki
    home = tmp_path_factory.mktemp("walrus-fuzz")
    pki.init_pki(home / "pki")
    server = WalrusServer(home).start()
    server.push(1, (ALICE, BOB, ADMIN))
    server.watchdog = LoopWatchdog(server.loop).start()
    _ensure_fixtures(server)
    yield server
    server.watchdog.stop()
    server.stop()


def _addressed(shape, params: dict, choice: str) -> dict:
    """Name our bucket (or, one time in three, a hostile one) and a key."""
    members = shape.members if shape else {}
    if "Bucket" in members:
        params["Bucket"] = BUCKET if choice == "ours" or not params.get("Bucket") \
            else params["Bucket"]
    if "Key" in members and not params.get("Key"):
        params["Key"] = "existing"  # an empty key would address the bucket itself
    return params


def _ensure_fixtures(server) -> None:
    """A fuzzed DeleteBucket or DeleteObject may have removed them: put them back."""
    s3 = client_for(server, ALICE)
    try:
        s3.head_bucket(Bucket=BUCKET)
    except botocore.exceptions.ClientError:
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="existing", Body=b"hello")


def _route_of(operation: str) -> tuple[str, str, str]:
    """The (level, method, sub-resource) of dispatch.TABLE that botocore's model of
    `operation` is sent to."""
    op = S3_MODEL.operation_model(operation)
    path, _, query = op.http["requestUri"].partition("?")
    names = {part.split("=")[0] for part in query.split("&") if part}
    shape = op.input_shape
    if shape is not None:
        names |= {m.serialization.get("name") for n, m in shape.members.items()
                  if m.serialization.get("location") == "querystring"
                  and n in shape.required_members}
    level = "object" if "{Key+}" in path else "bucket" if "{Bucket}" in path else "service"
    subs = dispatch.BUCKET_SUBRESOURCES if level == "bucket" else \
        dispatch.OBJECT_SUBRESOURCES if level == "object" else ()
    return level, op.http["method"], next((s for s in subs if s in names), "")


def test_every_route_is_fuzzed():
    """A new row of the operation table needs its operation in OPERATIONS (or a reason in
    UNFUZZED), so what Walrus serves is what this suite sends hostile values to."""
    reached = {_route_of(op) for op in OPERATIONS}
    missing = set(dispatch.TABLE) - reached - set(UNFUZZED)
    assert not missing, f"routes no fuzzed operation reaches: {sorted(missing)}"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_survives_hostile_values(fuzz_server, operation):
    _ensure_fixtures(fuzz_server)
    s3 = client_for(fuzz_server, ALICE, parameter_validation=False)
    shape = S3_MODEL.operation_model(operation).input_shape
    strategy = values_for(shape, required=True) if shape else st.just({})
    method = getattr(s3, botocore.xform_name(operation))

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(params=strategy, bucket=st.sampled_from(["ours", "ours", "hostile"]))
    def one(params, bucket):
        params = _addressed(shape, dict(params), bucket)
        try:
            method(**params)
        except botocore.exceptions.ClientError as err:
            meta = err.response["ResponseMetadata"]
            assert meta["HTTPStatusCode"] < 500, f"{operation} {params}: {err.response}"
        except (botocore.exceptions.ParamValidationError, botocore.exceptions.BotoCoreError,
                ValueError, TypeError, AttributeError, KeyError):
            return  # boto3 itself could not build the request
        SENT[operation] = SENT.get(operation, 0) + 1

    one()
    assert client_for(fuzz_server, ALICE).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


HOSTILE_XML = [
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
    b'&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Delete><Object><Key>'
    b'&c;</Key></Object></Delete>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<Delete><Object><Key>&e;</Key></Object></Delete>',
    b'<?xml version="1.0" encoding="bogus"?><Delete/>',
    b"<Delete><Object><Key>x</Key></Object>",
    b"\x00\xff\xfe",
    b"<" * 100_000,
]


@pytest.mark.parametrize("query", ["delete", "acl", "cors"])
@pytest.mark.parametrize("body", HOSTILE_XML, ids=lambda b: repr(b[:20]))
def test_hostile_xml_bodies(fuzz_server, query, body):
    _ensure_fixtures(fuzz_server)
    import hashlib
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    method = "POST" if query == "delete" else "PUT"  # cors: a broken CORSConfiguration
    answer = signed(fuzz_server, ALICE, method, f"/{BUCKET}?{query}", body,
                    headers={"Content-MD5": md5})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text


def _raw(server, data: bytes, shut: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return reply


RAW = {
    "bad percent-encoding": b"GET /fuzz-bucket/%zz%G0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "empty bucket segment": b"GET //x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "body shorter than declared": (b"PUT /fuzz-bucket/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Content-Length: 100\r\n\r\nonly-ten!!"),
    "huge header": (b"GET /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                    + b"a" * 200_000 + b"\r\n\r\n"),
    "bad authorization": (b"GET /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Authorization: AWS4-HMAC-SHA256 Credential=\r\n\r\n"),
    "junk authorization": (b"GET /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Authorization: \xff\xfe garbage\r\n\r\n"),
    "sigv2 without colon": (b"GET /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"Authorization: AWS AKIAALICE00000000001\r\n\r\n"),
    "bad range": (b"GET /fuzz-bucket/existing HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Range: bytes=" + b"9" * 5000 + b"-\r\n\r\n"),
}
# The CORS preflight (unauthenticated): hostile Origin, method and header lists.
RAW_PREFLIGHTS = {
    "preflight without headers": b"OPTIONS /fuzz-bucket/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "preflight of a missing bucket": (b"OPTIONS /no-such-fuzz/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      b"Origin: http://a\r\nAccess-Control-Request-Method: GET"
                                      b"\r\n\r\n"),
    "preflight with junk": (b"OPTIONS /fuzz-bucket/%zz?uploads&acl HTTP/1.1\r\n"
                            b"Host: 127.0.0.1\r\nOrigin: \xff*\x01" + b"*" * 5000 +
                            b"\r\nAccess-Control-Request-Method: \xfe\r\n"
                            b"Access-Control-Request-Headers: " + b",," * 3000 + b"\r\n\r\n"),
    "preflight of the service": (b"OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://a"
                                 b"\r\nAccess-Control-Request-Method: GET\r\n\r\n"),
    "preflight with a bad signature": (b"OPTIONS /fuzz-bucket/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       b"Authorization: AWS4-HMAC-SHA256 Credential=\r\n"
                                       b"Origin: http://a\r\nAccess-Control-Request-Method: "
                                       b"PUT\r\n\r\n"),
}
RAW.update(RAW_PREFLIGHTS)
# Browser uploads: multipart bodies that are not.
RAW.update({
    "form without boundary": (b"POST /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Content-Type: multipart/form-data\r\nContent-Length: 3\r\n"
                              b"\r\nabc"),
    "form cut short": (b"POST /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       b"multipart/form-data; boundary=b\r\nContent-Length: 200\r\n\r\n--b\r\n"
                       b'Content-Disposition: form-data; name="key"\r\n\r\nk\r\n--b\r\n'
                       b'Content-Disposition: form-data; name="file"\r\n\r\npartial'),
    "form with a nested multipart": (
        b"POST /fuzz-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data;"
        b" boundary=b\r\nContent-Length: 96\r\n\r\n--b\r\nContent-Type: multipart/mixed; "
        b"boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n".ljust(96, b" ")),
})

FORM_FIELDS = ["key", "policy", "AWSAccessKeyId", "signature", "x-amz-signature",
               "x-amz-credential", "x-amz-algorithm", "x-amz-date", "acl", "Content-Type",
               "x-amz-meta-a", "tagging", "success_action_status", "success_action_redirect",
               "x-amz-checksum-sha256", "Content-MD5", "bucket"]
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=4) |
                     st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def _encoded(doc) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


# Policies: junk text, any JSON, and well-formed documents with any conditions.
_policies = st.one_of(
    st.text(max_size=60), st.builds(_encoded, _json),
    st.builds(lambda conditions: _encoded({"expiration": "2100-01-01T00:00:00Z",
                                           "conditions": conditions}),
              st.lists(_json, max_size=4)))


def test_hostile_forms(fuzz_server):
    """POST /bucket with forms made of hostile fields, policies and files."""
    _ensure_fixtures(fuzz_server)
    url = f"{fuzz_server.endpoint}/{BUCKET}"

    @settings(max_examples=EXAMPLES * 8, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fields=st.dictionaries(st.sampled_from(FORM_FIELDS), st.text(max_size=80),
                                  max_size=8),
           odd=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20),
                               max_size=1),
           key=st.text(max_size=40), policy=st.none() | _policies,
           file=st.binary(max_size=2000), no_file=st.integers(0, 9),
           filename=st.none() | st.text(max_size=30), sign=st.booleans())
    def one(fields, odd, key, policy, file, no_file, filename, sign):
        fields = {"key": key, **fields, **odd}
        if policy is not None:
            fields["policy"] = policy
            if sign:  # alice's signature: the policy's content reaches the parser
                fields["AWSAccessKeyId"] = ALICE.access_key_id
                fields["signature"] = base64.b64encode(hmac.new(
                    ALICE.secret_access_key.encode(), policy.encode(), "sha1").digest()).decode()
        parts = [(name, (None, value.encode("utf-8", "surrogatepass")))
                 for name, value in fields.items()]
        if no_file:  # one form in ten has none
            parts.append(("file", (filename, file)))
        try:
            answer = requests.post(url, files=parts or {"x": (None, "")}, timeout=30)
        except (ValueError, UnicodeError):
            return  # requests itself could not encode the form
        assert answer.status_code < 500, (fields, answer.text[:300])
        assert "Traceback" not in answer.text
        FORMS.append(answer.status_code)

    one()
    assert requests.get(f"{fuzz_server.endpoint}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("name", sorted(RAW))
def test_raw_requests_no_sdk_sends(fuzz_server, name):
    reply = _raw(fuzz_server, RAW[name])
    status_line = reply.split(b"\r\n", 1)[0]
    if reply:  # answered: a 4xx (or the whole object for an ignored Range)
        code = int(status_line.split()[1])
        assert code < 500, reply[:300]
        assert b"Traceback" not in reply
    assert requests.get(f"{fuzz_server.endpoint}/healthz", timeout=5).status_code == 200


def test_walrus_loop_was_never_held(fuzz_server, request):
    """Runs after the cases above (file order)."""
    assert sum(SENT.values()) >= len(OPERATIONS), SENT
    raw = len(RAW) + 2 * len(HOSTILE_XML)
    write_summary(f"fuzz S3: {sum(SENT.values())} SDK requests over {len(SENT)} "
                  f"operations, {raw} raw ones and {len(FORMS)} hostile forms, 0 5xx; loop "
                  f"held at most {fuzz_server.watchdog.worst_busy * 1000:.0f} ms")
    fuzz_server.watchdog.check("Walrus")
