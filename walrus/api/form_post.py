"""PostObject: a browser upload, an HTML form POSTed as multipart/form-data to the
bucket's URL.

The fields before the `file` part are read (at most MAX_FIELD_BYTES of them,
as S3); those after it are ignored, as S3 ignores them. The form names its
signer (walrus.auth.form_principal) and its policy (walrus.post_policy); the
caller, or anonymous, then needs WRITE on the bucket. The file streams to a
blob through the same checks and commit as a PUT (walrus.body, Store.put), with
the policy's content-length-range as its size limits, so nothing is stored when
any check fails.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from walrus import acl, auth, errors, names, objectlock, post_policy, s3xml, tags
from walrus.api import access, encryption
from walrus.api.common import new_object_owner, stored_headers
from walrus.api.lifecycle import expiration_headers
from walrus.api.object_lock import lock_for_write
from walrus.api.objects import write_headers
from walrus.auth import Authenticated
from walrus.body import RequestBody
from walrus.context import Ctx
from walrus.store import MAX_SINGLE_PUT

MAX_FIELD_BYTES = 20 * 1024   # S3's limit on the fields that precede the file
CHUNK = 256 * 1024
FILENAME = "${filename}"
# Fields that steer the upload rather than describe the object.
CONTROL_FIELDS = frozenset({"key", "bucket", "policy", "tagging", "success_action_status",
                            "success_action_redirect", "redirect", "file"})
# What the form says about its file's bytes, checked as they stream, as the same
# headers are on a PUT.
INTEGRITY_FIELDS = ("content-md5",)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URL_CHARACTERS = "".join(chr(c) for c in range(0x21, 0x7f))  # kept as they are
_NOT_MULTIPART = "Bucket POST must be of the enclosure-type multipart/form-data"


async def post_object(ctx: Ctx) -> web.StreamResponse:
    if not ctx.headers.get("Content-Type", "").lower().startswith("multipart/form-data"):
        raise errors.PreconditionFailed(Condition=_NOT_MULTIPART)
    if ctx.auth.payload_sha256 or ctx.auth.signer:
        # A form signs itself; a header signature's payload hash would cover the whole
        # multipart body, which is not hashed here.
        raise errors.InvalidRequest("A browser upload signed in its headers must send "
                                    "x-amz-content-sha256: UNSIGNED-PAYLOAD.")
    ctx.bucket = await ctx.store.bucket(ctx.target.bucket)
    try:
        reader = await ctx.request.multipart()
        fields, part = await _read_fields(reader)
    except (ValueError, HttpProcessingError):
        raise errors.MalformedPOSTRequest()
    if part is None:
        raise errors.InvalidArgument("POST requires exactly one file upload per request.",
                                     ArgumentName="file", ArgumentValue="0")
    signer = await auth.form_principal(fields, ctx.creds.lookup)
    if signer is not None:
        ctx.auth = Authenticated(signer)
    if "key" not in fields:
        raise auth.missing_field("key")
    if FILENAME in fields["key"]:
        if part.filename and not _readable(part.filename):
            raise errors.InvalidArgument("The file's name is not UTF-8.", ArgumentName="file")
        fields["key"] = fields["key"].replace(FILENAME, part.filename or "")
    fields["bucket"] = ctx.bucket.name  # the bucket posted to, whatever a field says
    policy = post_policy.parse(fields["policy"]) if "policy" in fields else None
    if policy is not None:
        policy.check(fields, datetime.now(timezone.utc))
    await access.require(ctx, ctx.bucket, "s3:PutObject", fields["key"], ctx.bucket.acl,
                         acl.WRITE)
    return await _store(ctx, fields, part, policy)


async def _read_fields(reader: MultipartReader) -> tuple[dict[str, str], BodyPartReader | None]:
    """The fields (lower-case names) before the file part, and that part (None: none)."""
    fields: dict[str, str] = {}
    budget = MAX_FIELD_BYTES
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not _readable(part.name):
            raise errors.MalformedPOSTRequest()
        name = part.name.lower()
        if name == "file":
            return fields, part
        budget -= len(name)  # so a flood of empty fields runs out too
        raw = b""
        while chunk := await part.read_chunk(CHUNK):
            raw += chunk
            budget -= len(chunk)
            if budget < 0:
                break
        if budget < 0:
            raise errors.MaxPostPreDataLengthExceededError()
        if name in fields:
            raise errors.InvalidArgument(f"The form has more than one field named {part.name}.",
                                         ArgumentName=part.name)
        try:
            fields[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidArgument("Form fields must be UTF-8.", ArgumentName=part.name)
    return fields, None


def _readable(name: str | None) -> bool:
    """A field name that is text (aiohttp keeps bytes that are not UTF-8 as surrogates)."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _object_headers(fields: dict[str, str]) -> CIMultiDict:
    """The form's fields as the headers a PUT would carry them in: Content-Type, acl
    (x-amz-acl), x-amz-meta-*, x-amz-grant-*, x-amz-checksum-*..."""
    headers: CIMultiDict = CIMultiDict()
    for name, value in fields.items():
        if name in CONTROL_FIELDS or name in post_policy.UNCHECKED or \
                name.startswith(post_policy.IGNORED_PREFIX):
            continue
        if _CONTROLS.search(value):
            raise errors.InvalidArgument(f"The field {name} holds a control character.",
                                         ArgumentName=name)
        headers.add("x-amz-acl" if name == "acl" else name, value)
    return headers


async def _chunks(part: BodyPartReader):
    try:
        while chunk := await part.read_chunk(CHUNK):
            yield chunk
    except (ValueError, HttpProcessingError):
        raise errors.MalformedPOSTRequest()


async def _store(ctx: Ctx, fields: dict[str, str], part: BodyPartReader,
                 policy: post_policy.Policy | None) -> web.StreamResponse:
    key = fields["key"]
    names.check_key(key)
    headers = _object_headers(fields)
    wanted = tags.from_xml(fields["tagging"].encode(), bucket=False) \
        if "tagging" in fields else ()
    writer, object_acl = await new_object_owner(ctx, headers)
    sealer = await encryption.sealer_for(ctx, headers)
    integrity = {n: v for n, v in headers.items()
                 if n.lower() in INTEGRITY_FIELDS or n.lower().startswith("x-amz-checksum-")}
    max_size = MAX_SINGLE_PUT if policy is None or policy.max_size is None \
        else min(policy.max_size, MAX_SINGLE_PUT)
    body = RequestBody(ctx.request, max_size=max_size, source=_chunks(part),
                       headers=CIMultiDict(integrity),
                       min_size=policy.min_size if policy is not None else 0)
    lock = await lock_for_write(ctx, objectlock.requested(headers))  # fields or default
    obj = await ctx.store.put(ctx.bucket.name, key, body, writer, stored_headers(headers),
                              object_acl, wanted, lock, sealer)
    out = {**write_headers(ctx, obj, checksum=True), **await expiration_headers(ctx, obj)}
    location = _object_url(ctx, key)
    redirect = _redirect(fields)
    if redirect is not None:
        query = urlencode({"bucket": ctx.bucket.name, "key": key, "etag": f'"{obj.etag}"'})
        out["Location"] = f"{redirect}{'&' if urlsplit(redirect).query else '?'}{query}"
        return web.Response(status=303, headers=out)
    out["Location"] = location
    status = fields.get("success_action_status")
    if status == "201":
        body_xml = s3xml.render("PostResponse", {"Location": location,
                                                 "Bucket": ctx.bucket.name, "Key": key,
                                                 "ETag": f'"{obj.etag}"'}, namespace=False)
        return web.Response(status=201, body=body_xml, headers=out,
                            content_type="application/xml")
    return web.Response(status=200 if status == "200" else 204, headers=out)


def _redirect(fields: dict[str, str]) -> str | None:
    """success_action_redirect (or the older `redirect`), if it is a URL S3 can follow:
    one it cannot read is ignored, as S3 ignores it."""
    url = fields.get("success_action_redirect", fields.get("redirect"))
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or _CONTROLS.search(url):
        return None
    return quote(url, safe=_URL_CHARACTERS)  # a header carries ASCII: percent-encode the rest


def _object_url(ctx: Ctx, key: str) -> str:
    """The new object's URL, addressed as the form addressed its bucket."""
    base = ctx.target.raw_path.split("?", 1)[0].rstrip("/")
    return f"{ctx.request.scheme}://{ctx.request.host}{base}/{quote(key, safe='/~')}"
