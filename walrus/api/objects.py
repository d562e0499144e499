"""Object calls: PutObject, CopyObject, GetObject, HeadObject, DeleteObject,
DeleteObjects and object ACLs."""
from __future__ import annotations

import asyncio
import re

from aiohttp import web

from walrus import acl, checksums, conditions, errors, names, objectlock, s3xml, sse, tags
from walrus.api import access, encryption
from walrus.api.attributes import parts_count
from walrus.api.common import (new_object_owner, part_number, read_acl_request,
                               readable_source, require_integrity_header, stored_headers,
                               upload_body)
from walrus.api.lifecycle import expiration_headers
from walrus.api.object_lock import bypass, lock_for_write
from walrus.context import Ctx
from walrus.store import (MAX_SINGLE_PUT, NULL_VERSION, DIRECT_ABOVE, Object, ObjectContent,
                          check_version_id)

RESPONSE_OVERRIDES = {"response-content-type": "Content-Type",
                      "response-content-language": "Content-Language",
                      "response-expires": "Expires",
                      "response-cache-control": "Cache-Control",
                      "response-content-disposition": "Content-Disposition",
                      "response-content-encoding": "Content-Encoding"}


def version_headers(ctx: Ctx, obj: Object) -> dict:
    """x-amz-version-id, which S3 sends only for a bucket that has (had) versioning."""
    if ctx.bucket.versioning or obj.version_id != NULL_VERSION:
        return {"x-amz-version-id": obj.version_id}
    return {}


def write_headers(ctx: Ctx, obj: Object, checksum: bool = False) -> dict:
    out = {"ETag": f'"{obj.etag}"', **version_headers(ctx, obj),
           **encryption.headers_of(obj.encryption)}
    if checksum:
        out.update(checksums.response_headers(obj.headers))
    return out


async def put_object(ctx: Ctx) -> web.Response:
    if "x-amz-copy-source" in ctx.headers:
        return await copy_object(ctx)
    names.check_key(ctx.key)
    wanted = tags.from_header(ctx.headers.get(tags.HEADER))
    writer, new_acl = await new_object_owner(ctx)
    lock = await lock_for_write(ctx, objectlock.requested(ctx.headers))
    if lock != objectlock.NO_LOCK:
        require_integrity_header(ctx, "Content-MD5 OR x-amz-checksum- HTTP header is required "
                                      "for Put Object requests with Object Lock parameters")
    sealer = await encryption.sealer_for(ctx)
    body = await upload_body(ctx, MAX_SINGLE_PUT)
    obj = await ctx.store.put(ctx.bucket.name, ctx.key, body, writer,
                              stored_headers(ctx.headers), new_acl, wanted, lock, sealer)
    return web.Response(status=200, headers={**write_headers(ctx, obj, checksum=True),
                                             **await expiration_headers(ctx, obj)})


async def copy_object(ctx: Ctx) -> web.Response:
    names.check_key(ctx.key)
    directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown metadata directive.",
                                     ArgumentName="x-amz-metadata-directive")
    tagging = ctx.headers.get("x-amz-tagging-directive", "COPY").upper()
    if tagging not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown tagging directive.",
                                     ArgumentName="x-amz-tagging-directive")
    wanted = tags.from_header(ctx.headers.get(tags.HEADER)) if tagging == "REPLACE" else None
    lock = await lock_for_write(ctx, objectlock.requested(ctx.headers))  # not the source's
    source, source_version = await readable_source(ctx, with_tags=wanted is None)
    # Copying a given version onto its own key is how an old version is restored.
    same = source.bucket == ctx.bucket.name and source.key == ctx.key and source_version is None
    if same and directive == "COPY" and not any(
            h in ctx.headers for h in (sse.HEADER, sse.CUSTOMER_ALGORITHM, "x-amz-storage-class",
                                       "x-amz-website-redirect-location")):
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.")
    headers = stored_headers(ctx.headers) if directive == "REPLACE" else dict(source.headers)
    # The copy is decrypted with the source's key and sealed as its own request (or its
    # bucket's default) asks, as S3 does: it never inherits the source's encryption.
    source_key = encryption.data_key(ctx, source, copy_source=True)
    sealer = await encryption.sealer_for(ctx)
    await ctx.store.check_room(ctx.bucket.owner_id, source.size)
    writer, new_acl = await new_object_owner(ctx)
    obj = await ctx.store.copy(source, ctx.bucket.name, ctx.key, writer, headers, new_acl,
                               source.tags if wanted is None else wanted, lock, source_key,
                               sealer)
    body = s3xml.render("CopyObjectResult", {"LastModified": s3xml.iso8601(obj.last_modified),
                                             "ETag": f'"{obj.etag}"'})
    out = write_headers(ctx, obj)
    if source_version is not None or (await ctx.store.bucket(source.bucket)).versioning:
        out["x-amz-copy-source-version-id"] = source.version_id
    return web.Response(body=body, content_type="application/xml", headers=out)


def _read_headers(ctx: Ctx, obj: Object, count_tags: bool) -> dict:
    out = {"ETag": f'"{obj.etag}"', "Last-Modified": s3xml.http_date(obj.last_modified),
           "Accept-Ranges": "bytes", "Content-Type": "binary/octet-stream",
           **version_headers(ctx, obj)}
    for name, value in obj.headers.items():
        if name.startswith("x-amz-checksum-"):
            continue
        out[name] = value
    for param, header in RESPONSE_OVERRIDES.items():
        if param in ctx.query:
            out[header] = ctx.query[param]
    if count_tags:
        out["x-amz-tagging-count"] = str(obj.tag_count)
    out.update(objectlock.headers_of(obj.lock))
    return out


# What no header value may hold (RFC 9110 5.5); aiohttp refuses to write them.
_HEADER_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _check_overrides(ctx: Ctx) -> None:
    """S3 honours response-* overrides only on signed (or presigned) requests, so a
    public object cannot be served under a type or disposition its owner did not set;
    a value that cannot be a header (CR, LF, NUL...) is refused, not a 500."""
    asked = [p for p in RESPONSE_OVERRIDES if p in ctx.query]
    if asked and ctx.who.anonymous:
        raise errors.InvalidRequest("Request specific response headers cannot be used for "
                                    "anonymous GET requests.")
    for param in asked:
        if _HEADER_CONTROLS.search(ctx.query[param]):
            raise errors.InvalidArgument(f"{param} holds a control character.",
                                         ArgumentName=param)


async def head_object(ctx: Ctx) -> web.StreamResponse:
    _check_overrides(ctx)
    encryption.data_key(ctx, ctx.obj)  # an SSE-C object's HEAD needs its key too
    return await _respond(ctx, None)


async def get_object(ctx: Ctx) -> web.StreamResponse:
    _check_overrides(ctx)
    # Open first: the bytes sent are those of the version the headers describe.
    pinned = "versionId" in ctx.query
    with await ctx.store.open(ctx.obj, pinned=pinned) as content:
        if content.obj is not ctx.obj:  # replaced since dispatch read it: its own ACL rules
            await access.require(ctx, ctx.bucket, "s3:GetObject", ctx.key, content.obj.acl,
                                 acl.READ, content.obj)
            ctx.obj = content.obj
        return await _respond(ctx, content, encryption.data_key(ctx, content.obj))


async def _respond(ctx: Ctx, content: ObjectContent | None,
                   key: bytes | None = None) -> web.StreamResponse:
    """GET (with the object's open content) or HEAD (None): conditions, range, headers."""
    obj = ctx.obj
    conditions.check(ctx.headers, obj.etag, obj.last_modified)
    # S3 counts the tags for those who may read them (GetObjectTagging's permission).
    count_tags = bool(obj.tag_count) and await access.allowed(
        ctx, ctx.bucket, "s3:GetObjectTagging", obj.key, obj.acl, acl.READ_ACP, obj)
    headers = _read_headers(ctx, obj, count_tags)
    if "partNumber" in ctx.query:
        span, count = await _part_span(ctx, obj)
        if count is not None:
            headers["x-amz-mp-parts-count"] = str(count)
    else:
        span = conditions.parse_range(ctx.headers.get("Range"), obj.size)
    headers.update(await expiration_headers(ctx, obj))
    headers.update(encryption.headers_of(obj.encryption))
    if span is None:
        first, last, status = 0, obj.size - 1, 200
        if ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            headers.update(checksums.response_headers(obj.headers))
    else:
        (first, last), status = span, 206
        headers["Content-Range"] = f"bytes {first}-{last}/{obj.size}"
    length = last - first + 1
    # Sealed bytes are decrypted a run of chunks at a time (never sendfile); the first
    # run before the status is sent, so a damaged blob is an error, not a short body.
    plain = encryption.decrypted(content, key, first, length) \
        if content is not None and length and obj.encryption else None
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    await response.prepare(ctx.request)
    if plain is not None:
        await encryption.send_decrypted(ctx.request, response, plain)
    elif content is not None and length:
        await _send(ctx.request, response, content, first, length)
    await response.write_eof()
    return response


async def _part_span(ctx: Ctx, obj: Object) -> tuple[tuple[int, int], int | None]:
    """GetObject/HeadObject `partNumber`: the bytes of that part of a multipart object
    (from the parts its upload kept) and the part count; part 1 of any other object is
    all of it. Range beside it is refused, as S3 does."""
    if "Range" in ctx.headers:
        raise errors.InvalidRequest("Cannot specify both Range header and partNumber query "
                                    "parameter")
    number = part_number(ctx)
    count = parts_count(obj.etag)
    parts = await ctx.store.object_parts(obj.id) if count is not None else []
    sizes = [p.size for p in parts] or [obj.size]
    if number > len(sizes):
        raise errors.InvalidPartNumber()
    first = sum(sizes[:number - 1])
    return (first, first + sizes[number - 1] - 1), count if parts else None


async def _send(request: web.Request, response: web.StreamResponse, content: ObjectContent,
                offset: int, length: int) -> None:
    """Bodies above DIRECT_ABOVE from O_DIRECT reads on reader threads (content.send);
    smaller ones by sendfile(2) where the transport allows it (plain TCP), else in chunks;
    an inline blob's bytes, already in memory, in one write."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    if content.in_memory:
        await response.write(content.span(offset, length))
        return
    if content.obj.size > DIRECT_ABOVE:
        await content.send(offset, length, response.write)
        return
    try:
        # asyncio itself falls back to reads and writes where sendfile(2) cannot serve
        # (TLS); a loop without sendfile at all raises NotImplementedError.
        await asyncio.get_running_loop().sendfile(transport, content.file, offset, length)
    except NotImplementedError:
        for chunk in content.chunks(offset, length):
            await response.write(chunk)


def _version_param(ctx: Ctx) -> str | None:
    version_id = ctx.query.get("versionId")
    if version_id is not None:
        check_version_id(version_id)
    return version_id


async def delete_object(ctx: Ctx) -> web.Response:
    [done] = await ctx.store.delete(ctx.bucket.name, [(ctx.key, _version_param(ctx))], ctx.who,
                                    bypass(ctx))
    if done.refused:
        raise errors.AccessDenied()  # Object Lock keeps this version
    headers = {}
    if done.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    if done.version_id is not None:
        headers["x-amz-version-id"] = done.version_id
    elif done.marker_version_id is not None:
        headers["x-amz-version-id"] = done.marker_version_id
    return web.Response(status=204, headers=headers)


def _deleted_entry(done) -> dict:
    entry = {"Key": done.key}
    if done.version_id is not None:
        entry["VersionId"] = done.version_id
    if done.delete_marker:
        entry["DeleteMarker"] = "true"
        entry["DeleteMarkerVersionId"] = done.marker_version_id
    return entry


async def delete_objects(ctx: Ctx) -> web.Response:
    raw = await ctx.read_small()
    require_integrity_header(ctx)
    doc = s3xml.parse(raw, "Delete")
    items = s3xml.as_list(doc.get("Object"))
    if not items or len(items) > 1000:
        raise errors.MalformedXML()
    wanted = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Key"), str):
            raise errors.MalformedXML()
        version_id = item.get("VersionId")
        if version_id is not None and not isinstance(version_id, str):
            raise errors.MalformedXML()
        wanted.append((item["Key"], version_id))
    quiet = str(doc.get("Quiet", "false")).lower() == "true"
    if not await access.could_allow(ctx, ctx.bucket, ctx.bucket.acl, acl.WRITE,
                                    ("s3:DeleteObject", "s3:DeleteObjectVersion")):
        raise errors.AccessDenied()  # neither the ACL nor a policy could grant any key
    results, failures = [], []
    for key, version_id in wanted:
        if len(key.encode()) > names.MAX_KEY_BYTES:
            failures.append({"Key": key, "Code": "KeyTooLongError", "Message": "Key too long"})
            continue
        action = "s3:DeleteObject" if version_id is None else "s3:DeleteObjectVersion"
        if not await access.allowed(ctx, ctx.bucket, action, key, ctx.bucket.acl, acl.WRITE):
            failures.append({"Key": key, **({"VersionId": version_id} if version_id else {}),
                             "Code": "AccessDenied", "Message": "Access Denied"})
            continue
        if version_id is not None:
            try:
                check_version_id(version_id)
            except errors.InvalidArgument:
                failures.append({"Key": key, "VersionId": version_id, "Code": "NoSuchVersion",
                                 "Message": "The specified version does not exist."})
                continue
        results.append((key, version_id))
    done = await ctx.store.delete(ctx.bucket.name, results, ctx.who, bypass(ctx))
    failures += [{"Key": d.key, "VersionId": d.version_id, "Code": "AccessDenied",
                  "Message": "Access Denied because object protected by object lock."}
                 for d in done if d.refused]
    body = {"Deleted": [] if quiet else [_deleted_entry(d) for d in done if not d.refused],
            "Error": failures}
    return s3xml.response("DeleteResult", body)


async def get_object_acl(ctx: Ctx) -> web.Response:
    return s3xml.response("AccessControlPolicy", ctx.obj.acl.to_xml(),
                          headers=version_headers(ctx, ctx.obj))


async def put_object_acl(ctx: Ctx) -> web.Response:
    obj = ctx.obj
    new = await read_acl_request(ctx, obj.owner_id, obj.owner_name,
                                 (ctx.bucket.owner_id, ctx.bucket.owner_name))
    await ctx.store.set_object_acl(obj.bucket, obj.key, new, ctx.query.get("versionId"))
    return web.Response(status=200, headers=version_headers(ctx, obj))
