"""What more than one handler module needs: owners as S3 writes them, integer
query parameters, the metadata and ACL a write asks for, a copy source the
caller may read, and an upload body checked against its size limit."""
from __future__ import annotations

from urllib.parse import quote_plus, unquote

from walrus import acl, conditions, errors, numbers
from walrus.api import access
from walrus.body import RequestBody
from walrus.context import Ctx
from walrus.store import MAX_PART_NUMBER, Object, check_size, check_version_id

STORED_HEADERS = ("Content-Type", "Content-Encoding", "Content-Disposition", "Cache-Control",
                  "Expires", "Content-Language", "x-amz-website-redirect-location")
ACL_HEADERS = ("x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
               "x-amz-grant-write-acp", "x-amz-grant-full-control")


def owner(owner_id: str, owner_name: str) -> dict:
    return {"ID": owner_id, "DisplayName": owner_name}


def int_param(ctx: Ctx, name: str, default: int, maximum: int) -> int:
    """A non-negative integer query parameter, capped at `maximum`."""
    text = ctx.query.get(name)
    if text is None or text == "":
        return default
    value = numbers.decimal(text)
    if value is None:
        raise errors.InvalidArgument(f"{name} must be a non-negative integer.",
                                     ArgumentName=name, ArgumentValue=text)
    return min(value, maximum)


def part_number(ctx: Ctx) -> int:
    """The `partNumber` query parameter (UploadPart, GetObject), 1 to 10,000."""
    text = ctx.query.get("partNumber", "")
    number = numbers.decimal(text)  # isdigit() took '²', which int() then refused: a 500
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, "
                                     "inclusive", ArgumentName="partNumber",
                                     ArgumentValue=text)
    return number


def key_encoder(ctx: Ctx):
    """How keys are written in a listing: as they are, or percent-encoded for
    encoding-type=url, which keys with characters XML 1.0 cannot carry need."""
    encoding = ctx.query.get("encoding-type")
    if encoding is None:
        return lambda s: s
    if encoding != "url":
        raise errors.InvalidArgument("Invalid Encoding Method specified in Request",
                                     ArgumentName="encoding-type", ArgumentValue=encoding)
    return lambda s: quote_plus(s, safe="/")


def stored_headers(headers) -> dict:
    """The metadata a PUT/CreateMultipartUpload/COPY-with-REPLACE asks us to keep."""
    kept = {}
    for name in STORED_HEADERS:
        if name in headers:
            kept[name] = headers[name]
    if "Content-Encoding" in kept:
        # aws-chunked describes the upload, not the object.
        rest = [e.strip() for e in kept["Content-Encoding"].split(",")
                if e.strip() and e.strip().lower() != "aws-chunked"]
        if rest:
            kept["Content-Encoding"] = ", ".join(rest)
        else:
            del kept["Content-Encoding"]
    for name, value in headers.items():
        if name.lower().startswith("x-amz-meta-"):
            kept[name.lower()] = value
    return kept


def require_integrity_header(ctx: Ctx, message: str = "Missing required header for this "
                                                      "request: Content-MD5") -> None:
    """S3 refuses a DeleteObjects, PutBucketTagging or PutObjectTagging body (and a
    PutObject with Object Lock) that comes with neither Content-MD5 nor a flexible
    checksum (botocore sends one of them)."""
    if "Content-MD5" not in ctx.headers and not any(
            h.lower().startswith("x-amz-checksum-") or h.lower() == "x-amz-sdk-checksum-algorithm"
            for h in ctx.headers):
        raise errors.InvalidRequest(message)


async def new_object_owner(ctx: Ctx, headers=None) -> tuple[acl.Principal, acl.Acl]:
    """Who owns a new object (PUT, COPY, CreateMultipartUpload, a browser upload) and
    the ACL its headers (or `headers`: a browser upload's form fields) ask for, once
    the bucket's ownership controls and public access block allow it."""
    headers = ctx.headers if headers is None else headers
    asked = acl.from_request(headers, ctx.who.account_id, ctx.who.account_name,
                             ctx.creds.account_names(),
                             (ctx.bucket.owner_id, ctx.bucket.owner_name))
    await access.check_new_acl(ctx, ctx.bucket, asked,
                               explicit=any(h in headers for h in ACL_HEADERS))
    writer = await access.object_writer(ctx)
    if writer.account_id != ctx.who.account_id:  # the bucket owner takes it over
        return writer, acl.canned("private", writer.account_id, writer.account_name)
    return writer, asked


async def read_acl_request(ctx: Ctx, owner_id: str, owner_name: str,
                           bucket_owner: tuple[str, str] | None = None) -> acl.Acl:
    """The ACL a PutBucketAcl/PutObjectAcl asks for: headers or an XML body."""
    body = await ctx.read_small()
    if body.strip():
        new = acl.from_xml(body, ctx.creds.account_names())
        if new.owner_id != owner_id:
            raise errors.AccessDenied("The ACL's Owner must be the resource's owner.")
        new = acl.Acl(owner_id, owner_name, new.grants)
    elif not any(h in ctx.headers for h in ACL_HEADERS):
        raise errors.MissingSecurityHeader("Send an ACL as XML or as x-amz-acl/x-amz-grant-*.",
                                           MissingHeaderName="x-amz-acl")
    else:
        new = acl.from_request(ctx.headers, owner_id, owner_name, ctx.creds.account_names(),
                               bucket_owner)
    await access.check_new_acl(ctx, ctx.bucket, new, explicit=True)
    return new


def parse_copy_source(ctx: Ctx) -> tuple[str, str, str | None]:
    """x-amz-copy-source: `bucket/key`, URL-encoded, optionally `?versionId=`."""
    source, _, query = ctx.headers["x-amz-copy-source"].partition("?")
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument("Copy Source must mention the source bucket and key: "
                                     "sourcebucket/sourcekey",
                                     ArgumentName="x-amz-copy-source")
    version_id = None
    for param in query.split("&") if query else ():
        name, _, value = param.partition("=")
        if name == "versionId":
            version_id = unquote(value)
            check_version_id(version_id)
    return bucket, key, version_id


async def readable_source(ctx: Ctx, with_tags: bool = False) -> tuple[Object, str | None]:
    """The copy source (with its tags, if asked), if it exists and the caller may read it,
    and the version id the request named (None: the current object)."""
    bucket_name, key, version_id = parse_copy_source(ctx)
    bucket = await ctx.store.bucket(bucket_name)
    source = await ctx.store.get(bucket_name, key, with_tags=with_tags, version_id=version_id)
    action = "s3:GetObject" if version_id is None else "s3:GetObjectVersion"
    if source is None or (source.is_marker and version_id is None):
        await access.require_missing(ctx, bucket, action, key)
        if version_id is not None:
            raise errors.NoSuchVersion(Key=key, VersionId=version_id)
        raise errors.NoSuchKey(Key=key)
    await access.require(ctx, bucket, action, key, source.acl, acl.READ, source)
    if source.is_marker:
        raise errors.InvalidRequest("The source of a copy request may not specifically refer "
                                    "to a delete marker by version id.")
    conditions.check(ctx.headers, source.etag, source.last_modified, "x-amz-copy-source-")
    return source, version_id


async def upload_body(ctx: Ctx, limit: int) -> RequestBody:
    """The body of a PutObject or UploadPart, refused before a byte is read when its
    declared size exceeds `limit` or the owner's quota; a body that grows past `limit`
    anyway stops with the same EntityTooLarge."""
    body = ctx.body(max_size=limit)
    if body.length is None and "Transfer-Encoding" not in ctx.headers:
        raise errors.MissingContentLength()
    check_size(body.length, limit)
    await ctx.store.check_room(ctx.bucket.owner_id, body.length)
    return body
