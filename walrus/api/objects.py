"""Object calls: PutObject, CopyObject, GetObject, HeadObject, DeleteObject,
DeleteObjects and object ACLs."""
from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from walrus import acl, conditions, errors, names, s3xml
from walrus.api.buckets import read_acl_request
from walrus.context import Ctx
from walrus.store import Object

MAX_SINGLE_PUT = 5 * 1024 ** 3
STORED_HEADERS = ("Content-Type", "Content-Encoding", "Content-Disposition", "Cache-Control",
                  "Expires", "Content-Language", "x-amz-server-side-encryption",
                  "x-amz-website-redirect-location")
RESPONSE_OVERRIDES = {"response-content-type": "Content-Type",
                      "response-content-language": "Content-Language",
                      "response-expires": "Expires",
                      "response-cache-control": "Cache-Control",
                      "response-content-disposition": "Content-Disposition",
                      "response-content-encoding": "Content-Encoding"}
SEND_CHUNK = 1 << 20


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
    sse = kept.get("x-amz-server-side-encryption")
    if sse is not None and sse not in ("AES256", "aws:kms"):
        raise errors.InvalidArgument("The encryption method specified is not supported",
                                     ArgumentName="x-amz-server-side-encryption",
                                     ArgumentValue=sse)
    for name, value in headers.items():
        if name.lower().startswith("x-amz-meta-"):
            kept[name.lower()] = value
    return kept


def object_acl_for(ctx: Ctx) -> acl.Acl:
    return acl.from_request(ctx.headers, ctx.who.account_id, ctx.who.account_name,
                            ctx.creds.account_names(),
                            (ctx.bucket.owner_id, ctx.bucket.owner_name))


def _write_headers(obj: Object, checksum: bool = False) -> dict:
    out = {"ETag": f'"{obj.etag}"'}
    if "x-amz-server-side-encryption" in obj.headers:
        out["x-amz-server-side-encryption"] = obj.headers["x-amz-server-side-encryption"]
    if checksum:
        out.update({k: v for k, v in obj.headers.items() if k.startswith("x-amz-checksum-")})
    return out


async def put_object(ctx: Ctx) -> web.Response:
    if "x-amz-copy-source" in ctx.headers:
        return await copy_object(ctx)
    names.check_key(ctx.key)
    declared = ctx.body().length
    if declared is None and "Transfer-Encoding" not in ctx.headers:
        raise errors.MissingContentLength()
    if declared is not None and declared > MAX_SINGLE_PUT:
        raise errors.EntityTooLarge(ProposedSize=declared, MaxSizeAllowed=MAX_SINGLE_PUT)
    await ctx.store.check_room(ctx.bucket.owner_id, declared)
    headers = stored_headers(ctx.headers)
    obj = await ctx.store.put(ctx.bucket.name, ctx.key, ctx.body(MAX_SINGLE_PUT), ctx.who,
                              headers, object_acl_for(ctx))
    return web.Response(status=200, headers=_write_headers(obj, checksum=True))


def parse_copy_source(ctx: Ctx) -> tuple[str, str]:
    source = ctx.headers["x-amz-copy-source"]
    source = unquote(source.split("?", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument("Copy Source must mention the source bucket and key: "
                                     "sourcebucket/sourcekey",
                                     ArgumentName="x-amz-copy-source")
    return bucket, key


async def readable_source(ctx: Ctx) -> Object:
    """The copy source, if it exists and the caller may read it."""
    bucket_name, key = parse_copy_source(ctx)
    bucket = await ctx.store.bucket(bucket_name)
    source = await ctx.store.get(bucket_name, key)
    if source is None:
        if not bucket.acl.allows(ctx.who, acl.READ):
            raise errors.AccessDenied()
        raise errors.NoSuchKey(Key=key)
    if not source.acl.allows(ctx.who, acl.READ):
        raise errors.AccessDenied()
    conditions.check(ctx.headers, source.etag, source.last_modified, "x-amz-copy-source-")
    return source


async def copy_object(ctx: Ctx) -> web.Response:
    names.check_key(ctx.key)
    source = await readable_source(ctx)
    directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown metadata directive.",
                                     ArgumentName="x-amz-metadata-directive")
    same = source.bucket == ctx.bucket.name and source.key == ctx.key
    if same and directive == "COPY" and not any(
            h in ctx.headers for h in ("x-amz-server-side-encryption", "x-amz-storage-class",
                                       "x-amz-website-redirect-location")):
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.")
    headers = stored_headers(ctx.headers) if directive == "REPLACE" else dict(source.headers)
    if directive == "COPY" and "x-amz-server-side-encryption" in ctx.headers:
        headers["x-amz-server-side-encryption"] = ctx.headers["x-amz-server-side-encryption"]
    await ctx.store.check_room(ctx.bucket.owner_id, source.size)
    obj = await ctx.store.copy(source, ctx.bucket.name, ctx.key, ctx.who, headers,
                               object_acl_for(ctx))
    body = s3xml.render("CopyObjectResult", {"LastModified": s3xml.iso8601(obj.last_modified),
                                             "ETag": f'"{obj.etag}"'})
    return web.Response(body=body, content_type="application/xml", headers=_write_headers(obj))


def _read_headers(ctx: Ctx, obj: Object) -> dict:
    out = {"ETag": f'"{obj.etag}"', "Last-Modified": s3xml.http_date(obj.last_modified),
           "Accept-Ranges": "bytes", "Content-Type": "binary/octet-stream"}
    for name, value in obj.headers.items():
        if name.startswith("x-amz-checksum-"):
            continue
        out[name] = value
    for param, header in RESPONSE_OVERRIDES.items():
        if param in ctx.query:
            out[header] = ctx.query[param]
    return out


async def head_object(ctx: Ctx) -> web.StreamResponse:
    return await get_object(ctx, head=True)


async def get_object(ctx: Ctx, head: bool = False) -> web.StreamResponse:
    obj = ctx.obj
    conditions.check(ctx.headers, obj.etag, obj.last_modified)
    span = conditions.parse_range(ctx.headers.get("Range"), obj.size)
    headers = _read_headers(ctx, obj)
    if span is None:
        first, last, status = 0, obj.size - 1, 200
        if ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            headers.update({k: v for k, v in obj.headers.items()
                            if k.startswith("x-amz-checksum-")})
    else:
        (first, last), status = span, 206
        headers["Content-Range"] = f"bytes {first}-{last}/{obj.size}"
    length = last - first + 1
    if head:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(ctx.request)
        await response.write_eof()
        return response
    return await _send_blob(ctx, obj, first, length, status, headers)


async def _send_blob(ctx: Ctx, obj: Object, offset: int, length: int, status: int,
                     headers: dict) -> web.StreamResponse:
    try:
        handle = open(ctx.store.blobs.path(obj.blob), "rb")
    except FileNotFoundError:
        # Replaced between our row read and the open: serve the current version.
        fresh = await ctx.store.get(obj.bucket, obj.key)
        if fresh is None:
            raise errors.NoSuchKey(Key=obj.key)
        ctx.obj = fresh
        return await get_object(ctx)
    with handle:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(ctx.request)
        if length:
            transport = ctx.request.transport
            if transport is None:
                raise ConnectionResetError("client went away")
            try:
                await ctx.request._loop.sendfile(transport, handle, offset, length)
            except NotImplementedError:
                handle.seek(offset)
                remaining = length
                while remaining:
                    chunk = handle.read(min(SEND_CHUNK, remaining))
                    await response.write(chunk)
                    remaining -= len(chunk)
        await response.write_eof()
    return response


async def delete_object(ctx: Ctx) -> web.Response:
    await ctx.store.delete(ctx.bucket.name, [ctx.key])
    return web.Response(status=204)


async def delete_objects(ctx: Ctx) -> web.Response:
    raw = await ctx.read_small()
    if "Content-MD5" not in ctx.headers and not any(
            h.lower().startswith("x-amz-checksum-") or h.lower() == "x-amz-sdk-checksum-algorithm"
            for h in ctx.headers):
        raise errors.InvalidRequest("Missing required header for this request: Content-MD5")
    doc = s3xml.parse(raw, "Delete")
    items = s3xml.as_list(doc.get("Object"))
    if not items or len(items) > 1000:
        raise errors.MalformedXML()
    keys = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Key"), str):
            raise errors.MalformedXML()
        keys.append(item["Key"])
    quiet = str(doc.get("Quiet", "false")).lower() == "true"
    results, failures = [], []
    for key in keys:
        if len(key.encode()) > names.MAX_KEY_BYTES:
            failures.append({"Key": key, "Code": "KeyTooLongError", "Message": "Key too long"})
        else:
            results.append(key)
    await ctx.store.delete(ctx.bucket.name, results)
    body = {"Deleted": [] if quiet else [{"Key": k} for k in results], "Error": failures}
    return s3xml.response("DeleteResult", body)


async def get_object_acl(ctx: Ctx) -> web.Response:
    return s3xml.response("AccessControlPolicy", ctx.obj.acl.to_xml())


async def put_object_acl(ctx: Ctx) -> web.Response:
    obj = ctx.obj
    new = await read_acl_request(ctx, obj.owner_id, obj.owner_name,
                                 (ctx.bucket.owner_id, ctx.bucket.owner_name))
    await ctx.store.set_object_acl(obj.bucket, obj.key, new)
    return web.Response(status=200)
