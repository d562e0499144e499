"""The tenancy matrix for Walrus's S3 API (issue 11), generated from the
operation table (walrus/dispatch.py TABLE).

Every route of the table is sent against alice's private bucket, private
object and open multipart upload, as bob (another account, SigV4-signed by
hand so every route can be sent as is) and unsigned: each gets what S3
answers for a private resource (AccessDenied; BucketAlreadyExists for
creating a bucket that is taken), object routes also on a key that does not
exist (AccessDenied, never NoSuchKey: which keys exist is not revealed), the
service listing shows bob none of alice's buckets, and alice's view (her
listings, bytes, ACLs, settings, uploads) is identical after every cell.

A new route whose sub-resource the matrix does not know how to send fails
`test_every_route_is_in_the_matrix` until it is added to SUB_QUERY (or
EXEMPT with a reason).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import pytest
import requests

from walrus import dispatch
from walrus.api import bucket_config
from tests.api.walrus.helpers import ALICE, BOB, sign_v4
from tests.tenancy import Tally, leaked, report

SECRET_KEY, MISSING_KEY, UPLOAD_KEY = "secret.txt", "no-such-key.txt", "upload.bin"
SECRET = b"alice's private bytes " * 64

# sub-resource -> its query string; {upload} is the open upload's id.
CONFIG_SUBS = (*bucket_config.NOT_CONFIGURED, *bucket_config.EMPTY_DOCUMENTS)
SUB_QUERY = {"": "", "acl": "acl", "location": "location", "versioning": "versioning",
             "uploads": "uploads", "delete": "delete", "uploadId": "uploadId={upload}",
             "tagging": "tagging", "versions": "versions", "cors": "cors",
             "lifecycle": "lifecycle", "policy": "policy", "policyStatus": "policyStatus",
             "publicAccessBlock": "publicAccessBlock", "ownershipControls": "ownershipControls",
             "object-lock": "object-lock",
             "retention": "retention", "legal-hold": "legal-hold",
             "encryption": "encryption",
             "attributes": "attributes", **{sub: sub for sub in CONFIG_SUBS}}
# Routes that are no cell, each with the reason.
EXEMPT: dict[tuple[str, str, str], str] = {
    (level, "OPTIONS", ""): "the CORS preflight is unauthenticated for everyone, as on S3: "
    "test_cors.py checks it answers only from the owner's rules and changes nothing"
    for level in ("bucket", "object")
}


def _acl_granting_bob() -> bytes:
    return (f'<AccessControlPolicy><Owner><ID>{BOB.account_id}</ID></Owner><AccessControlList>'
            f'<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:type="CanonicalUser"><ID>{BOB.account_id}</ID></Grantee>'
            f'<Permission>FULL_CONTROL</Permission></Grant></AccessControlList>'
            f'</AccessControlPolicy>').encode()


# A valid body for the writes, so a refusal is about who asks, not what they sent.
BODIES = {
    ("PUT", "acl"): _acl_granting_bob(),
    ("PUT", ""): b"bob was here",
    ("POST", "delete"): f"<Delete><Object><Key>{SECRET_KEY}</Key></Object></Delete>".encode(),
    ("PUT", "versioning"): b'<VersioningConfiguration><Status>Enabled</Status>'
                           b'</VersioningConfiguration>',
    ("PUT", "uploadId"): b"bob's part",
    ("PUT", "tagging"): b"<Tagging><TagSet><Tag><Key>bob</Key><Value>was-here</Value></Tag>"
                        b"</TagSet></Tagging>",
    ("PUT", "cors"): b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                     b"<AllowedMethod>PUT</AllowedMethod></CORSRule></CORSConfiguration>",
    ("PUT", "lifecycle"): b"<LifecycleConfiguration><Rule><ID>bob</ID><Filter/><Status>"
                          b"Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                          b"</LifecycleConfiguration>",
    ("PUT", "encryption"): b"<ServerSideEncryptionConfiguration><Rule>"
                           b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
                           b"</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
                           b"</ServerSideEncryptionConfiguration>",
    ("PUT", "policy"): b'{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                       b'"Principal":"*","Action":"s3:*","Resource":"*"}]}',
    ("PUT", "publicAccessBlock"): b"<PublicAccessBlockConfiguration><BlockPublicAcls>false"
                                  b"</BlockPublicAcls></PublicAccessBlockConfiguration>",
    ("PUT", "ownershipControls"): b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter"
                                  b"</ObjectOwnership></Rule></OwnershipControls>",
    ("PUT", "object-lock"): b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled"
                            b"</ObjectLockEnabled></ObjectLockConfiguration>",
    ("PUT", "retention"): b"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>"
                          b"2099-01-01T00:00:00Z</RetainUntilDate></Retention>",
    ("PUT", "legal-hold"): b"<LegalHold><Status>ON</Status></LegalHold>",
}
# alice's own policy: it grants her account only, so it must open nothing to others
ALICE_POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                f'{{"AWS":"arn:aws:iam::{ALICE.account_id}:root"}},"Action":"s3:GetObject",'
                '"Resource":"arn:aws:s3:::%s/*"}]}')


@dataclass(frozen=True)
class Cell:
    level: str
    method: str
    sub: str
    key: str | None  # object routes: the existing key or a missing one

    @property
    def id(self) -> str:
        where = {None: "", SECRET_KEY: "-existing", MISSING_KEY: "-missing",
                 UPLOAD_KEY: "-upload"}[self.key]
        return f"{self.level}-{self.method}-{self.sub or 'plain'}{where}"


def cells() -> list[Cell]:
    out = []
    for level, method, sub in dispatch.TABLE:
        if (level, method, sub) in EXEMPT or sub not in SUB_QUERY:
            continue  # test_every_route_is_in_the_matrix fails for the latter
        if level != "object":
            out.append(Cell(level, method, sub, None))
        elif sub == "uploadId":
            out.append(Cell(level, method, sub, UPLOAD_KEY))
        else:
            out += [Cell(level, method, sub, SECRET_KEY), Cell(level, method, sub, MISSING_KEY)]
    return out


CELLS = cells()
ROLES = ("other", "anonymous")
TALLY = Tally("S3")


def test_every_route_is_in_the_matrix():
    unknown = [route for route in dispatch.TABLE
               if route not in EXEMPT and route[2] not in SUB_QUERY]
    assert not unknown, ("routes the tenancy matrix cannot send: add their sub-resource to "
                         f"SUB_QUERY or the route to EXEMPT with a reason: {unknown}")
    assert {(c.level, c.method, c.sub) for c in CELLS} == set(dispatch.TABLE) - set(EXEMPT)


@dataclass
class Private:
    bucket: str
    upload: str
    part_etag: str


@pytest.fixture(scope="module")
def private(server, s3):
    name = f"tm-private-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key=SECRET_KEY, Body=SECRET, Tagging="owner=alice")
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "cost", "Value": "alice"}]})
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://alice.example"], "AllowedMethods": ["GET"]}]})
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "alice-rule", "Filter": {"Prefix": "old/"}, "Status": "Enabled",
         "Expiration": {"Days": 3650}}]})
    s3.put_bucket_policy(Bucket=name, Policy=ALICE_POLICY % name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
         "BucketKeyEnabled": True}]})
    upload = s3.create_multipart_upload(Bucket=name, Key=UPLOAD_KEY)["UploadId"]
    part = s3.upload_part(Bucket=name, Key=UPLOAD_KEY, UploadId=upload, PartNumber=1,
                          Body=b"p" * 1024)
    yield Private(name, upload, part["ETag"])
    s3.abort_multipart_upload(Bucket=name, Key=UPLOAD_KEY, UploadId=upload)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


_session = requests.Session()  # one connection pool: a cell sends ~30 requests


def signed(server, account, method: str, path: str, body: bytes = b"",
           headers: dict | None = None):
    """helpers.signed over the shared session."""
    url = server.endpoint + path
    final, *_ = sign_v4(account, method, url, headers or {}, hashlib.sha256(body).hexdigest())
    return _session.request(method, url, data=body, headers=final)


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    report(TALLY)


_VOLATILE = re.compile(rb"<(RequestId|HostId)>[^<]*</\1>")


def view(server, p: Private) -> dict:
    """Everything of alice's, as alice sees it: (status, body) of each read."""
    paths = ["/", f"/{p.bucket}?list-type=2", f"/{p.bucket}?acl", f"/{p.bucket}?versioning",
             f"/{p.bucket}?versions",
             f"/{p.bucket}?uploads", f"/{p.bucket}?location", f"/{p.bucket}/{SECRET_KEY}",
             f"/{p.bucket}/{SECRET_KEY}?acl", f"/{p.bucket}/{UPLOAD_KEY}?uploadId={p.upload}",
             f"/{p.bucket}?tagging", f"/{p.bucket}/{SECRET_KEY}?tagging", f"/{p.bucket}?cors",
             f"/{p.bucket}?lifecycle", f"/{p.bucket}?policy", f"/{p.bucket}?policyStatus",
             f"/{p.bucket}?publicAccessBlock", f"/{p.bucket}?ownershipControls",
             f"/{p.bucket}?encryption",
             *(f"/{p.bucket}?{sub}" for sub in CONFIG_SUBS)]
    out = {}
    for path in paths:
        r = signed(server, ALICE, "GET", path)
        out[path] = (r.status_code, _VOLATILE.sub(b"", r.content))
    return out


@pytest.fixture(scope="module")
def baseline(server, private):
    return {"view": view(server, private)}


def request_for(cell: Cell, p: Private) -> tuple[str, str, bytes, dict]:
    path = "/" if cell.level == "service" else f"/{p.bucket}" if cell.level == "bucket" \
        else f"/{p.bucket}/{cell.key}"
    query = SUB_QUERY[cell.sub].format(upload=p.upload)
    if (cell.method, cell.sub) == ("PUT", "uploadId"):
        query += "&partNumber=1"
    if cell.level == "bucket" and cell.method == "PUT" and cell.sub == "":
        body = b""  # CreateBucket on alice's name
    elif (cell.method, cell.sub) == ("POST", "uploadId"):
        body = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{p.part_etag}"
                f"</ETag></Part></CompleteMultipartUpload>").encode()
    else:
        body = BODIES.get((cell.method, cell.sub), b"")
    headers = {}
    if body:
        import base64
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    return path + (f"?{query}" if query else ""), cell.method, body, headers


def form_upload(role: str, p: Private) -> tuple[bytes, dict]:
    """A browser upload (POST /bucket) onto alice's key: bob's form signs its policy with
    his own key (SigV2 form fields), as a page he made would; the anonymous one is unsigned."""
    import base64
    import hmac
    import json

    import urllib3
    fields: dict = {"key": SECRET_KEY}
    if role == "other":
        policy = base64.b64encode(json.dumps({
            "expiration": "2100-01-01T00:00:00Z",
            "conditions": [{"bucket": p.bucket}, {"key": SECRET_KEY}]}).encode()).decode()
        signature = hmac.new(BOB.secret_access_key.encode(), policy.encode(), "sha1").digest()
        fields.update(AWSAccessKeyId=BOB.access_key_id, policy=policy,
                      signature=base64.b64encode(signature).decode())
    fields["file"] = ("bob.txt", b"bob was here")
    body, content_type = urllib3.encode_multipart_formdata(fields)
    return body, {"Content-Type": content_type}


def send(server, role: str, method: str, path: str, body: bytes, headers: dict):
    if role == "other":
        return signed(server, BOB, method, path, body, headers)
    return _session.request(method, server.endpoint + path, data=body, headers=headers)


def expected(cell: Cell, role: str) -> tuple[int, str] | None:
    """(status, code) S3 answers; None: success (bob's own bucket listing)."""
    if cell.level == "service":
        return None if role == "other" else (403, "AccessDenied")
    if (cell.level, cell.method, cell.sub) == ("bucket", "PUT", "") and role == "other":
        return 409, "BucketAlreadyExists"
    return 403, "AccessDenied"


def _code(response) -> str | None:
    found = re.search(rb"<Code>([^<]*)</Code>", response.content)
    return found.group(1).decode() if found else None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_cell(server, private, baseline, cell, role):
    path, method, body, headers = request_for(cell, private)
    where = f"{method} {path} as {role}"
    form = (cell.level, cell.method, cell.sub) == ("bucket", "POST", "")
    if form:
        body, headers = form_upload(role, private)
    # A browser upload's form says who sends it: no header signature for either role.
    r = send(server, "anonymous" if form else role, method, path, body, headers)
    problems = []
    want = expected(cell, role)
    if want is None:
        if r.status_code != 200:
            problems.append(f"refused its own call: {r.status_code} {r.content[:300]!r}")
        shown = leaked({private.bucket}, r.content.decode("utf-8", "replace"))
        if shown:
            problems.append(f"lists alice's {shown}")
    else:
        status, code = want
        got = _code(r) if method != "HEAD" else code
        if (r.status_code, got) != (status, code):
            problems.append(f"answered {r.status_code} {_code(r)}, not {status} {code}: "
                            f"{r.content[:300]!r}")
        if SECRET[:22] in r.content:
            problems.append("the response carries alice's bytes")
    after = view(server, private)
    changed = [p for p in baseline["view"] if baseline["view"][p] != after.get(p)]
    if changed:
        problems.append(f"changed alice's {changed}")
        baseline["view"] = after  # so only this cell fails for it
    TALLY.settle(role, where, problems)


def test_owner_view_is_real(server, private, baseline):
    """The control: alice herself reads what the cells were refused."""
    v = baseline["view"]
    assert v[f"/{private.bucket}/{SECRET_KEY}"] == (200, SECRET)
    assert v[f"/{private.bucket}/{UPLOAD_KEY}?uploadId={private.upload}"][0] == 200
    assert b"<Key>owner</Key>" in v[f"/{private.bucket}/{SECRET_KEY}?tagging"][1]
    assert b"<Key>cost</Key>" in v[f"/{private.bucket}?tagging"][1]
    assert b"https://alice.example" in v[f"/{private.bucket}?cors"][1]
    assert b"<ID>alice-rule</ID>" in v[f"/{private.bucket}?lifecycle"][1]
    assert ALICE.account_id.encode() in v[f"/{private.bucket}?policy"][1]
    assert b"<IsPublic>false</IsPublic>" in v[f"/{private.bucket}?policyStatus"][1]
    assert b"<RestrictPublicBuckets>true<" in v[f"/{private.bucket}?publicAccessBlock"][1]
    assert b"BucketOwnerPreferred" in v[f"/{private.bucket}?ownershipControls"][1]
    assert b"<BucketKeyEnabled>true</BucketKeyEnabled>" in v[f"/{private.bucket}?encryption"][1]
    assert private.bucket.encode() in v["/"][1]
    TALLY.record("owner")


def test_cells_checked():
    ran = TALLY.total() - TALLY.checked["owner"]
    if ran != len(CELLS) * len(ROLES):
        pytest.skip(f"only {ran} of {len(CELLS) * len(ROLES)} cells ran (a -k selection?)")
    assert TALLY.checked["other"] == TALLY.checked["anonymous"] == len(CELLS)
    assert not TALLY.leaks, "\n".join(TALLY.leaks)
