"""Issue 13, item 6: browser uploads (POST Object with an HTML form). Forms signed by
boto3's generate_presigned_post (SigV4) and by hand (SigV2), anonymous forms, sent
with requests and with curl -F; every refusal S3 gives for a bad form or policy,
with nothing stored; the file streamed with its size limits enforced; versioning,
tags, checksums and CORS as for PUT; a restart."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import tracemalloc
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, client_for, signed

FUTURE = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- forms ---------------------------------------------------------------------

def presigned(s3, bucket, key, fields=None, conditions=None, expires=600):
    """boto3's SigV4 form: (url, fields)."""
    post = s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions,
                                      ExpiresIn=expires)
    return post["url"], dict(post["fields"])


def encode_policy(doc) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return base64.b64encode(text.encode()).decode()


def v2_form(server, bucket, fields: dict, conditions=None, expiration=FUTURE,
            account=ALICE, policy_doc=None):
    """A SigV2 form written out by hand: AWSAccessKeyId, policy, signature."""
    if policy_doc is None:
        policy_doc = {"expiration": expiration, "conditions": conditions if conditions
                      is not None else [{"bucket": bucket}, *_exact(fields)]}
    policy = encode_policy(policy_doc)
    signature = base64.b64encode(hmac.new(account.secret_access_key.encode(), policy.encode(),
                                          hashlib.sha1).digest()).decode()
    return f"{server.endpoint}/{bucket}", {**fields, "AWSAccessKeyId": account.access_key_id,
                                           "policy": policy, "signature": signature}


def v4_form(server, bucket, fields: dict, policy_doc, account=ALICE):
    """A SigV4 form for any policy document (text or dict), signed by hand."""
    from mallee.auth import sigv4
    now = datetime.now(timezone.utc)
    scope = sigv4.Scope(account.access_key_id, now.strftime("%Y%m%d"), "mallee", "s3")
    policy = encode_policy(policy_doc)
    key = sigv4.signing_key(account.secret_access_key, scope)
    return f"{server.endpoint}/{bucket}", {
        **fields, "x-amz-algorithm": sigv4.ALGORITHM,
        "x-amz-credential": f"{account.access_key_id}/{scope.text}",
        "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"), "policy": policy,
        "x-amz-signature": sigv4.sign(key, policy)}


V4_FIELDS = [{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, ["starts-with", "$x-amz-credential", ""],
             ["starts-with", "$x-amz-date", ""]]


def _exact(fields: dict) -> list:
    return [{name: value} for name, value in fields.items()]


def post(url, fields, file=b"hello", filename="hello.txt", **kwargs):
    files = {**{k: (None, v) for k, v in fields.items()}}
    if file is not None:
        files["file"] = (filename, file, "text/plain")
    return requests.post(url, files=files, allow_redirects=False, timeout=60, **kwargs)


def error(response) -> tuple[int, str, str]:
    root = ET.fromstring(response.content)
    return response.status_code, root.findtext("Code"), root.findtext("Message")


def assert_nothing_stored(s3, bucket):
    assert s3.list_object_versions(Bucket=bucket).get("Versions", []) == []


# --- uploads that work ---------------------------------------------------------

def test_boto3_presigned_post_uploads_the_file(s3, bucket):
    url, fields = presigned(s3, bucket, "docs/report.txt")
    assert url.endswith(f"/{bucket}")
    answer = post(url, fields, b"quarterly numbers")
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    etag = '"' + hashlib.md5(b"quarterly numbers").hexdigest() + '"'
    assert answer.headers["ETag"] == etag
    assert answer.headers["Location"] == f"{url}/docs/report.txt"
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == b"quarterly numbers"
    assert got["ETag"] == etag
    assert got["ContentType"] == "binary/octet-stream"  # the part's type is not the object's


def test_success_action_status_201_200_and_others(s3, bucket):
    url, fields = presigned(s3, bucket, "a.txt", {"success_action_status": "201"},
                            [{"success_action_status": "201"}])
    answer = post(url, fields, b"one")
    assert answer.status_code == 201
    assert answer.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(answer.content)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == bucket
    assert root.findtext("Key") == "a.txt"
    assert root.findtext("ETag") == '"' + hashlib.md5(b"one").hexdigest() + '"'
    assert root.findtext("Location") == f"{url}/a.txt"

    url, fields = presigned(s3, bucket, "b.txt", {"success_action_status": "200"},
                            [{"success_action_status": "200"}])
    answer = post(url, fields, b"two")
    assert (answer.status_code, answer.content) == (200, b"")

    url, fields = presigned(s3, bucket, "c.txt", {"success_action_status": "404"},
                            [["starts-with", "$success_action_status", ""]])
    answer = post(url, fields, b"three")
    assert (answer.status_code, answer.content) == (204, b"")
    assert s3.get_object(Bucket=bucket, Key="c.txt")["Body"].read() == b"three"


def test_success_action_redirect_is_a_303_with_bucket_key_and_etag(s3, server, bucket):
    target = "https://app.example.com/done?from=upload"
    url, fields = presigned(s3, bucket, "up/${filename}", {"success_action_redirect": target},
                            [{"success_action_redirect": target}])
    answer = post(url, fields, b"redirected", filename="pic.png")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == \
        "https://app.example.com/done"
    query = parse_qs(location.query)
    assert query == {"from": ["upload"], "bucket": [bucket], "key": ["up/pic.png"],
                     "etag": ['"' + hashlib.md5(b"redirected").hexdigest() + '"']}
    assert s3.get_object(Bucket=bucket, Key="up/pic.png")["Body"].read() == b"redirected"

    # The older `redirect` field; a URL S3 cannot follow is ignored (the status rules).
    url, fields = v2_form(server, bucket, {"key": "r.txt", "redirect": "http://x.test/"})
    assert post(url, fields).headers["Location"].startswith("http://x.test/?bucket=")
    url, fields = v2_form(server, bucket,
                          {"key": "r2.txt", "success_action_redirect": "not a url"})
    assert post(url, fields).status_code == 204
    # A header is ASCII: the rest of a redirect URL is percent-encoded.
    url, fields = v2_form(server, bucket, {"key": "r3.txt",
                                           "success_action_redirect": "https://x.test/é ü"})
    assert post(url, fields).headers["Location"].startswith("https://x.test/%C3%A9%20%C3%BC?")


def test_filename_metadata_acl_and_headers_are_kept(s3, server, bucket):
    fields = {"Content-Type": "image/png", "Cache-Control": "max-age=60",
              "Content-Disposition": "inline", "x-amz-meta-owner": "eric", "acl": "public-read"}
    conditions = [["starts-with", "$Content-Type", "image/"],
                  ["eq", "$Cache-Control", "max-age=60"], {"Content-Disposition": "inline"},
                  ["starts-with", "$x-amz-meta-owner", ""], {"acl": "public-read"}]
    url, form = presigned(s3, bucket, "user/eric/${filename}", fields, conditions)
    answer = post(url, form, b"\x89PNG...", filename="cat.png")
    assert answer.status_code == 204, answer.text
    head = s3.head_object(Bucket=bucket, Key="user/eric/cat.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == "inline"
    assert head["Metadata"] == {"owner": "eric"}
    # public-read: anyone may read it.
    assert requests.get(f"{server.endpoint}/{bucket}/user/eric/cat.png",
                        timeout=10).content == b"\x89PNG..."


def test_tagging_field_sets_the_tags(s3, bucket):
    tagging = ("<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag>"
               "<Tag><Key>env</Key><Value>prod</Value></Tag></TagSet></Tagging>")
    url, fields = presigned(s3, bucket, "t.txt", {"tagging": tagging},
                            [["starts-with", "$tagging", ""]])
    assert post(url, fields).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t.txt")["TagSet"] == [
        {"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "web"}]

    url, fields = presigned(s3, bucket, "bad.txt", {"tagging": "<Tagging><TagSet>"},
                            [["starts-with", "$tagging", ""]])
    assert error(post(url, fields))[:2] == (400, "MalformedXML")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_versioned_bucket_gets_a_version_per_post(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = []
    for body in (b"first", b"second"):
        url, fields = presigned(s3, bucket, "v.txt")
        answer = post(url, fields, body)
        assert answer.status_code == 204
        ids.append(answer.headers["x-amz-version-id"])
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted(ids)
    old = s3.get_object(Bucket=bucket, Key="v.txt", VersionId=ids[0])
    assert old["Body"].read() == b"first"


def test_unversioned_bucket_answers_no_version_header(s3, bucket):
    url, fields = presigned(s3, bucket, "plain.txt")
    assert "x-amz-version-id" not in post(url, fields).headers


def test_checksum_field_is_verified_and_kept(s3, bucket):
    body = b"checked bytes"
    good = base64.b64encode(hashlib.sha256(body).digest()).decode()
    url, fields = presigned(s3, bucket, "sum.txt", {"x-amz-checksum-sha256": good},
                            [{"x-amz-checksum-sha256": good}])
    answer = post(url, fields, body)
    assert answer.status_code == 204
    assert answer.headers["x-amz-checksum-sha256"] == good
    head = s3.head_object(Bucket=bucket, Key="sum.txt", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == good

    url, fields = presigned(s3, bucket, "wrong.txt", {"x-amz-checksum-sha256": good},
                            [{"x-amz-checksum-sha256": good}])
    assert error(post(url, fields, b"other bytes"))[:2] == (400, "BadDigest")
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    url, fields = presigned(s3, bucket, "md5.txt", {"Content-MD5": md5}, [{"Content-MD5": md5}])
    assert error(post(url, fields, b"not x"))[:2] == (400, "BadDigest")
    assert post(url, fields, b"x").status_code == 204
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["md5.txt", "sum.txt"]


def test_sigv2_form(s3, server, bucket):
    url, fields = v2_form(server, bucket, {"key": "v2.txt", "Content-Type": "text/plain"})
    answer = post(url, fields, b"signed the old way")
    assert answer.status_code == 204, answer.text
    got = s3.get_object(Bucket=bucket, Key="v2.txt")
    assert (got["Body"].read(), got["ContentType"]) == (b"signed the old way", "text/plain")
    # The object belongs to the signer.
    assert s3.get_object_acl(Bucket=bucket, Key="v2.txt")["Owner"]["ID"] == ALICE.account_id


def test_field_names_and_operators_are_case_insensitive(s3, server, bucket):
    doc = {"expiration": FUTURE, "conditions": [
        {"bUcKeT": bucket}, ["StArTs-WiTh", "$KeY", "foo"], {"AcL": "private"},
        ["EQ", "$CoNtEnT-TyPe", "text/plain"], ["content-length-range", 0, 1024]]}
    url, fields = v2_form(server, bucket, {"kEy": "foo.txt", "aCl": "private",
                                           "Content-Type": "text/plain"}, policy_doc=doc)
    fields["pOLICy"] = fields.pop("policy")
    fields["x-ignore-anything"] = "unchecked"
    assert post(url, fields).status_code == 204
    assert s3.head_object(Bucket=bucket, Key="foo.txt")["ContentType"] == "text/plain"


def test_anonymous_post_needs_a_public_write_bucket(s3, server, bucket):
    url = f"{server.endpoint}/{bucket}"
    denied = post(url, {"key": "anon.txt"})
    assert error(denied)[:2] == (403, "AccessDenied")
    assert_nothing_stored(s3, bucket)

    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    answer = post(url, {"key": "anon.txt", "acl": "public-read", "Content-Type": "text/plain",
                        "success_action_status": "201"})
    assert answer.status_code == 201, answer.text
    assert s3.get_object(Bucket=bucket, Key="anon.txt")["Body"].read() == b"hello"


def test_another_accounts_form_needs_write_on_the_bucket(s3, server, bucket):
    url, fields = v2_form(server, bucket, {"key": "bob.txt"}, account=BOB)
    assert error(post(url, fields))[:2] == (403, "AccessDenied")
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f"id={BOB.account_id}",
                      GrantFullControl=f"id={ALICE.account_id}")
    assert post(url, fields).status_code == 204
    assert client_for(server, BOB).get_object(Bucket=bucket, Key="bob.txt")["Body"].read() \
        == b"hello"


def test_the_bucket_policy_decides_a_form_too(s3, server, bucket):
    """A policy's Allow lets an anonymous form upload under a prefix (and nowhere else);
    its Deny stops the owner's own signed form."""
    url = f"{server.endpoint}/{bucket}"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{bucket}/drop/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{bucket}/locked/*"}]}))
    assert post(url, {"key": "drop/anon.txt"}).status_code == 204
    assert error(post(url, {"key": "elsewhere.txt"}))[:2] == (403, "AccessDenied")
    owner_url, fields = presigned(s3, bucket, "locked/mine.txt")
    assert error(post(owner_url, fields))[:2] == (403, "AccessDenied")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == \
        ["drop/anon.txt"]
    s3.delete_bucket_policy(Bucket=bucket)


def test_a_form_signed_in_the_request_headers(s3, server, bucket):
    """No browser does it, but a SigV4 header signature names the caller of an unsigned
    form, if it does not claim to hash the (multipart) payload."""
    import urllib3
    body, content_type = urllib3.encode_multipart_formdata(
        {"key": "h.txt", "file": ("h.txt", b"header-signed")})
    hashed = signed(server, ALICE, "POST", f"/{bucket}", body, {"Content-Type": content_type})
    _refused(s3, bucket, hashed, 400, "InvalidRequest")
    unsigned = signed(server, ALICE, "POST", f"/{bucket}", body, {"Content-Type": content_type},
                      payload_hash="UNSIGNED-PAYLOAD")
    assert unsigned.status_code == 204, unsigned.text
    assert s3.get_object(Bucket=bucket, Key="h.txt")["Body"].read() == b"header-signed"


def test_cors_headers_on_a_browser_upload(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["POST"],
         "ExposeHeaders": ["ETag", "Location"]}]})
    url, fields = presigned(s3, bucket, "cors.txt")
    answer = post(url, fields, headers={"Origin": "https://app.example.com"})
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert answer.headers["Access-Control-Expose-Headers"] == "ETag, Location"
    refused = post(url, {**fields, "x-amz-meta-x": "1"},
                   headers={"Origin": "https://app.example.com"})
    assert refused.status_code == 403  # error answers carry the headers too
    assert refused.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_curl_form_upload(s3, bucket, tmp_path):
    url, fields = presigned(s3, bucket, "curl/${filename}", {"success_action_status": "201"},
                            [{"success_action_status": "201"}])
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"sent by curl\n" * 1000)
    args = ["curl", "-sS", "-w", "\n%{http_code}"]
    for name, value in fields.items():
        args += ["--form-string", f"{name}={value}"]
    args += ["-F", f"file=@{upload};type=text/plain", url]
    done = subprocess.run(args, capture_output=True, timeout=60)
    body, _, code = done.stdout.rpartition(b"\n")
    assert code == b"201", done.stdout + done.stderr
    assert ET.fromstring(body).findtext("Key") == "curl/notes.txt"
    got = s3.get_object(Bucket=bucket, Key="curl/notes.txt")["Body"].read()
    assert got == upload.read_bytes()


# --- the file: streamed, with the policy's size limits -------------------------

def test_content_length_range(s3, bucket):
    conditions = [["content-length-range", 10, 20]]
    url, fields = presigned(s3, bucket, "sized.txt", conditions=conditions)
    status_, code_, _ = error(post(url, fields, b"x" * 21))
    assert (status_, code_) == (400, "EntityTooLarge")
    status_, code_, _ = error(post(url, fields, b"x" * 9))
    assert (status_, code_) == (400, "EntityTooSmall")
    assert_nothing_stored(s3, bucket)
    assert post(url, fields, b"x" * 10).status_code == 204
    assert post(url, fields, b"x" * 20).status_code == 204


def _blob_count(server) -> int:
    blobs = Path(server.settings.data_dir("walrus")) / "blobs"
    return sum(1 for p in blobs.rglob("*") if p.is_file())


def test_large_file_streams_to_disk_and_the_limit_stops_it(s3, server, bucket):
    size = 48 * 1024 * 1024
    url, fields = presigned(s3, bucket, "big.bin", conditions=[["content-length-range", 0, size]])
    piece = bytes(range(256)) * 4096  # 1 MiB
    expected = hashlib.md5(piece * 48).hexdigest()
    tracemalloc.start()
    try:
        answer = streamed_post(url, fields, piece, 48)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 204, answer.text
    assert answer.headers["ETag"] == f'"{expected}"'
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == size
    # Client and server share this process: neither held the 48 MiB file.
    assert peak < 16 * 1024 * 1024, peak

    blobs = _blob_count(server)
    url, fields = presigned(s3, bucket, "too-big.bin",
                            conditions=[["content-length-range", 0, 1024 * 1024]])
    refused = streamed_post(url, fields, piece, 8)
    assert error(refused)[:2] == (400, "EntityTooLarge")
    assert _blob_count(server) == blobs
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="too-big.bin")


def streamed_post(url, fields, piece: bytes, count: int):
    """A form whose file is `count` copies of `piece`, sent chunked as it is made
    (requests' own `files=` builds the whole body in memory)."""
    boundary = "----walrus-form-boundary"

    def body():
        for name, value in fields.items():
            yield (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n").encode()
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
               f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        for _ in range(count):
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()
    return requests.post(url, data=body(), timeout=120,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


# --- refusals, with nothing stored ---------------------------------------------

def _refused(s3, bucket, answer, status_, code_, message=None):
    got_status, got_code, got_message = error(answer)
    assert (got_status, got_code) == (status_, code_), answer.text
    if message is not None:
        assert got_message == message
    assert_nothing_stored(s3, bucket)


def test_expired_policy(s3, server, bucket):
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url, fields = v2_form(server, bucket, {"key": "late.txt"}, expiration=past)
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             "Invalid according to Policy: Policy expired.")
    url, fields = presigned(s3, bucket, "late4.txt", expires=-60)
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             "Invalid according to Policy: Policy expired.")


def test_failed_conditions(s3, server, bucket):
    url, fields = presigned(s3, bucket, "k.txt")
    fields["key"] = "other.txt"
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "k.txt"]')
    url, fields = presigned(s3, bucket, "user/eric/${filename}")
    fields["key"] = "user/bob/${filename}"
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             'Invalid according to Policy: Policy Condition failed: '
             '["starts-with", "$key", "user/eric/"]')
    # A condition on a field the form does not send fails.
    url, fields = presigned(s3, bucket, "m.txt",
                            conditions=[["starts-with", "$x-amz-meta-foo", "bar"]])
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             'Invalid according to Policy: Policy Condition failed: '
             '["starts-with", "$x-amz-meta-foo", "bar"]')
    url, fields = presigned(s3, bucket, "m.txt", {"x-amz-meta-foo": "barclamp"},
                            [["eq", "$x-amz-meta-foo", ""]])
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied")
    # S3 quotes the condition as the policy spelled it; a Content-Type list must match
    # the prefix in each of its types.
    url, fields = presigned(s3, bucket, "ct.txt", {"Content-Type": "image/png,text/html"},
                            [["Starts-With", "$Content-Type", "image/"]])
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             'Invalid according to Policy: Policy Condition failed: '
             '["starts-with", "$Content-Type", "image/"]')
    url, fields = presigned(s3, bucket, "ct.txt", {"Content-Type": "image/png, image/gif"},
                            [["starts-with", "$Content-Type", "image/"]])
    assert post(url, fields).status_code == 204
    s3.delete_object(Bucket=bucket, Key="ct.txt")
    # The bucket condition is checked against the bucket posted to.
    other = bucket + "-other"
    s3.create_bucket(Bucket=other)
    try:
        url, fields = presigned(s3, bucket, "w.txt")
        wrong = post(url.rsplit("/", 1)[0] + "/" + other, {**fields, "bucket": bucket})
        _refused(s3, other, wrong, 403, "AccessDenied",
                 "Invalid according to Policy: Policy Condition failed: "
                 f'["eq", "$bucket", "{bucket}"]')
    finally:
        s3.delete_bucket(Bucket=other)


def test_every_field_must_be_in_the_policy(s3, server, bucket):
    url, fields = presigned(s3, bucket, "x.txt")
    _refused(s3, bucket, post(url, {**fields, "x-amz-meta-extra": "1"}), 403, "AccessDenied",
             "Invalid according to Policy: Extra input fields: x-amz-meta-extra")
    _refused(s3, bucket, post(url, {**fields, "Content-Type": "text/html"}), 403,
             "AccessDenied", "Invalid according to Policy: Extra input fields: content-type")
    # The bucket is a field too: a policy must name it.
    url, fields = v2_form(server, bucket, {"key": "nb.txt"}, conditions=[{"key": "nb.txt"}])
    _refused(s3, bucket, post(url, fields), 403, "AccessDenied",
             "Invalid according to Policy: Extra input fields: bucket")
    # Only the signature's fields, file, policy and x-ignore-* need no condition.
    url, fields = presigned(s3, bucket, "ok.txt")
    assert post(url, {**fields, "x-ignore-submit": "Upload"}).status_code == 204


def test_signature_errors(s3, server, bucket):
    url, fields = presigned(s3, bucket, "s.txt")
    bad = {**fields, "x-amz-signature": "0" * 64}
    _refused(s3, bucket, post(url, bad), 403, "SignatureDoesNotMatch")
    # The policy is what is signed: changing it breaks the signature.
    doc = json.loads(base64.b64decode(fields["policy"]))
    doc["conditions"].append(["starts-with", "$x-amz-meta-a", ""])
    _refused(s3, bucket, post(url, {**fields, "policy": encode_policy(doc)}), 403,
             "SignatureDoesNotMatch")
    url, fields = v2_form(server, bucket, {"key": "s2.txt"})
    _refused(s3, bucket, post(url, {**fields, "signature": "AAAA" + fields["signature"][4:]}),
             403, "SignatureDoesNotMatch")
    _refused(s3, bucket, post(url, {**fields, "AWSAccessKeyId": "AKIANOBODY0000000000"}),
             403, "InvalidAccessKeyId")
    url, fields = presigned(s3, bucket, "s4.txt")
    cred = fields["x-amz-credential"].replace(ALICE.access_key_id, "AKIANOBODY0000000000")
    _refused(s3, bucket, post(url, {**fields, "x-amz-credential": cred}), 403,
             "InvalidAccessKeyId")


def test_bad_signature_fields_are_invalid_arguments(s3, server, bucket):
    url, fields = presigned(s3, bucket, "f.txt")
    for name, value in (("x-amz-algorithm", "AWS4-HMAC-SHA512"),
                        ("x-amz-credential", "not-a-credential"),
                        ("x-amz-date", "yesterday")):
        _refused(s3, bucket, post(url, {**fields, name: value}), 400, "InvalidArgument")
    for name in ("x-amz-credential", "x-amz-date", "x-amz-signature", "policy"):
        without = {k: v for k, v in fields.items() if k != name}
        _refused(s3, bucket, post(url, without), 400, "InvalidArgument")
    url, fields = v2_form(server, bucket, {"key": "g.txt"})
    for name in ("signature", "policy"):
        _refused(s3, bucket, post(url, {k: v for k, v in fields.items() if k != name}), 400,
                 "InvalidArgument")
    # A policy nobody signed.
    _refused(s3, bucket, post(url, {"key": "g.txt", "policy": fields["policy"]}), 400,
             "InvalidArgument")


def test_missing_key_and_missing_file(s3, server, bucket):
    url, fields = v2_form(server, bucket, {}, conditions=[{"bucket": bucket}])
    _refused(s3, bucket, post(url, fields), 400, "InvalidArgument",
             "Bucket POST must contain a field named 'key'.  If it is specified, please "
             "check the order of the fields.")
    url, fields = presigned(s3, bucket, "nofile.txt")
    _refused(s3, bucket, post(url, fields, file=None), 400, "InvalidArgument",
             "POST requires exactly one file upload per request.")
    # Fields after the file are not read: a key sent there is no key.
    url, fields = presigned(s3, bucket, "late-key.txt")
    parts = [(k, (None, v)) for k, v in fields.items() if k != "key"]
    parts += [("file", ("a.txt", b"data")), ("key", (None, "late-key.txt"))]
    late = requests.post(url, files=parts, timeout=30)
    _refused(s3, bucket, late, 400, "InvalidArgument")


MALFORMED_POLICIES = {
    "not base64": "%%%not-base64%%%",
    "not JSON": base64.b64encode(b"{expiration: soon").decode(),
    "not an object": encode_policy([1, 2]),
    "no expiration": encode_policy({"conditions": [{"bucket": "b"}]}),
    "EXPIRATION": encode_policy({"EXPIRATION": FUTURE, "conditions": []}),
    "no conditions": encode_policy({"expiration": FUTURE}),
    "CONDITIONS": encode_policy({"expiration": FUTURE, "CONDITIONS": []}),
    "bad expiration": encode_policy({"expiration": "2030-01-01 00:00:00+00:00",
                                     "conditions": []}),
    "conditions not a list": encode_policy({"expiration": FUTURE, "conditions": {}}),
    "empty condition": encode_policy({"expiration": FUTURE, "conditions": [{}]}),
    "two-key condition": encode_policy({"expiration": FUTURE,
                                        "conditions": [{"a": "1", "b": "2"}]}),
    "unknown operator": encode_policy({"expiration": FUTURE,
                                       "conditions": [["ends-with", "$key", "x"]]}),
    "field without $": encode_policy({"expiration": FUTURE,
                                      "conditions": [["eq", "key", "x"]]}),
    "range with one bound": encode_policy({"expiration": FUTURE,
                                           "conditions": [["content-length-range", 0]]}),
    "negative range": encode_policy({"expiration": FUTURE,
                                     "conditions": [["content-length-range", -1, 0]]}),
    "inverted range": encode_policy({"expiration": FUTURE,
                                     "conditions": [["content-length-range", 10, 1]]}),
    "object value": encode_policy({"expiration": FUTURE, "conditions": [{"key": {"a": 1}}]}),
}


@pytest.mark.parametrize("policy", MALFORMED_POLICIES.values(), ids=MALFORMED_POLICIES.keys())
def test_malformed_policy(s3, server, bucket, policy):
    signature = base64.b64encode(hmac.new(ALICE.secret_access_key.encode(), policy.encode(),
                                          hashlib.sha1).digest()).decode()
    fields = {"key": "p.txt", "AWSAccessKeyId": ALICE.access_key_id, "policy": policy,
              "signature": signature}
    _refused(s3, bucket, post(f"{server.endpoint}/{bucket}", fields), 400,
             "InvalidPolicyDocument")


def test_malformed_policy_with_sigv4(s3, server, bucket):
    url, fields = v4_form(server, bucket, {"key": "p4.txt"},
                          {"expiration": FUTURE, "conditions": [[]]})
    _refused(s3, bucket, post(url, fields), 400, "InvalidPolicyDocument")
    # A hand-signed SigV4 form with a good policy works.
    doc = {"expiration": FUTURE, "conditions": [{"bucket": bucket}, {"key": "p4.txt"},
                                                 *V4_FIELDS]}
    url, fields = v4_form(server, bucket, {"key": "p4.txt"}, doc)
    assert post(url, fields).status_code == 204


def test_request_shape_errors(s3, server, bucket):
    url = f"{server.endpoint}/{bucket}"
    plain = requests.post(url, data=b"key=a", timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    status_, code_, _ = error(plain)
    assert (status_, code_) == (412, "PreconditionFailed")
    assert ET.fromstring(plain.content).findtext("Condition") == \
        "Bucket POST must be of the enclosure-type multipart/form-data"
    broken = requests.post(url, data=b"--nope\r\nContent-Disposition: form-data; name=key\r\n",
                           headers={"Content-Type": "multipart/form-data; boundary=xyz"},
                           timeout=10)
    _refused(s3, bucket, broken, 400, "MalformedPOSTRequest")
    huge = post(url, {"key": "h.txt", "x-amz-meta-pad": "p" * (21 * 1024)})
    _refused(s3, bucket, huge, 400, "MaxPostPreDataLengthExceededError")
    twice = requests.post(url, files=[("key", (None, "a")), ("key", (None, "b")),
                                      ("file", ("f", b"x"))], timeout=10)
    _refused(s3, bucket, twice, 400, "InvalidArgument")
    missing = post(f"{server.endpoint}/no-such-bucket-here", {"key": "k"})
    assert error(missing)[:2] == (404, "NoSuchBucket")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    newline = post(url, {"key": "n.txt", "x-amz-meta-a": "one\r\ntwo"})
    _refused(s3, bucket, newline, 400, "InvalidArgument")
    acl = post(url, {"key": "n.txt", "acl": "world-writable"})
    _refused(s3, bucket, acl, 400, "InvalidArgument")
    # Bytes that are not UTF-8: in a field's name, its value, the file's name.
    for part in (b'name="\xff\xfe"\r\n\r\nv', b'name="key"\r\n\r\nk\xff',
                 b'name="key"\r\n\r\n${filename}'):
        raw = (b"--b\r\nContent-Disposition: form-data; " + part + b"\r\n--b\r\nContent-"
               b'Disposition: form-data; name="file"; filename="\xff.txt"\r\n\r\ndata\r\n--b--\r\n')
        answer = requests.post(url, data=raw, timeout=10,
                               headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert error(answer)[0] == 400, answer.text
    assert_nothing_stored(s3, bucket)


def test_posted_object_survives_a_restart(tmp_path):
    from mallee import pki
    from tests.api.walrus.helpers import WalrusServer
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path).start()
    try:
        first.push(1)
        s3 = client_for(first, ALICE)
        s3.create_bucket(Bucket="kept")
        url, fields = presigned(s3, "kept", "form.txt", {"x-amz-meta-a": "b"},
                                [{"x-amz-meta-a": "b"}])
        assert post(url, fields, b"kept across restarts").status_code == 204
    finally:
        first.stop()
    second = WalrusServer(tmp_path).start()
    try:
        second.push(2)
        got = client_for(second, ALICE).get_object(Bucket="kept", Key="form.txt")
        assert (got["Body"].read(), got["Metadata"]) == (b"kept across restarts", {"a": "b"})
    finally:
        second.stop()
