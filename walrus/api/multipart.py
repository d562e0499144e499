"""Multipart uploads: create, upload part (and UploadPartCopy), complete,
abort, ListParts, ListMultipartUploads."""
from __future__ import annotations

from aiohttp import web

from walrus import checksums, conditions, errors, names, numbers, objectlock, s3xml, tags
from walrus.api import encryption
from walrus.api.common import (int_param, key_encoder, new_object_owner, owner, part_number,
                               readable_source, stored_headers, upload_body)
from walrus.api.attributes import CHECKSUM_FIELDS
from walrus.api.object_lock import lock_for_write
from walrus.api.objects import version_headers
from walrus.context import Ctx
from walrus.store import MAX_PART_NUMBER, MAX_PART_SIZE, Upload


async def create_upload(ctx: Ctx) -> web.Response:
    names.check_key(ctx.key)
    wanted = tags.from_header(ctx.headers.get(tags.HEADER))  # the object's, at complete
    headers = stored_headers(ctx.headers)
    asked = objectlock.requested(ctx.headers)
    await lock_for_write(ctx, asked)  # refused now if the bucket has no Object Lock
    if asked is not None:  # applied when the upload completes
        headers.update({h: ctx.headers[h] for h in objectlock.HEADERS if h in ctx.headers})
    algorithm = ctx.headers.get(checksums.ALGORITHM_HEADER)
    kind = ctx.headers.get(checksums.TYPE_HEADER)
    answer = None
    if algorithm is not None:
        algorithm = algorithm.lower()
        if algorithm not in checksums.ALGORITHMS:
            raise errors.InvalidRequest("Checksum algorithm provided is unsupported. Please "
                                        "try again with any of the valid types: [CRC32, "
                                        "CRC32C, CRC64NVME, SHA1, SHA256]")
        kind = checksums.upload_type(algorithm, kind)
        headers[checksums.ALGORITHM_HEADER] = algorithm
        headers[checksums.TYPE_HEADER] = kind
        answer = {checksums.ALGORITHM_HEADER: algorithm.upper(), checksums.TYPE_HEADER: kind}
    elif kind is not None:
        raise errors.InvalidRequest("The x-amz-checksum-type header can only be used with "
                                    "the x-amz-checksum-algorithm header.")
    writer, new_acl = await new_object_owner(ctx)
    sealer = await encryption.sealer_for(ctx)  # one data key for all the parts
    upload = await ctx.store.create_upload(ctx.bucket.name, ctx.key, writer, headers,
                                           new_acl, wanted,
                                           sealer.encryption.to_json() if sealer else "")
    answer = {**(answer or {}), **encryption.headers_of(upload.encryption)}
    return s3xml.response("InitiateMultipartUploadResult", {
        "Bucket": upload.bucket, "Key": upload.key, "UploadId": upload.upload_id},
        headers=answer)


async def _upload(ctx: Ctx) -> Upload:
    return await ctx.store.upload(ctx.bucket.name, ctx.key, ctx.query["uploadId"])


async def upload_part(ctx: Ctx) -> web.Response:
    number = part_number(ctx)
    upload = await _upload(ctx)
    if "x-amz-copy-source" in ctx.headers:
        return await _upload_part_copy(ctx, upload, number)
    sealer = encryption.upload_sealer(ctx, upload)
    body = await upload_body(ctx, MAX_PART_SIZE)
    part = await ctx.store.put_part(upload, number, body, sealer)
    headers = {"ETag": f'"{part.etag}"', **encryption.headers_of(upload.encryption)}
    if body.checksum:
        headers[f"x-amz-checksum-{body.checksum[0]}"] = body.checksum[1]
    return web.Response(status=200, headers=headers)


async def _upload_part_copy(ctx: Ctx, upload: Upload, number: int) -> web.Response:
    source, source_version = await readable_source(ctx)
    source_key = encryption.data_key(ctx, source, copy_source=True)
    sealer = encryption.upload_sealer(ctx, upload)
    span = (0, source.size - 1)
    text = ctx.headers.get("x-amz-copy-source-range")
    if text:
        parsed = conditions.parse_range(text, source.size)
        if parsed is None or not text.startswith("bytes=") or text.startswith("bytes=-"):
            raise errors.InvalidArgument("The x-amz-copy-source-range value must be of the "
                                         "form bytes=first-last.",
                                         ArgumentName="x-amz-copy-source-range")
        span = parsed
    length = span[1] - span[0] + 1 if source.size else 0
    await ctx.store.check_room(ctx.bucket.owner_id, length)
    part = await ctx.store.copy_part(upload, number, source, span[0], length, source_key,
                                     sealer)
    headers = encryption.headers_of(upload.encryption)
    if source_version is not None:
        headers["x-amz-copy-source-version-id"] = source.version_id
    return s3xml.response("CopyPartResult", {"LastModified": s3xml.iso8601(part.last_modified),
                                             "ETag": f'"{part.etag}"'}, headers=headers)


def _requested_parts(doc: dict) -> list[tuple[int, str, str]]:
    """(number, ETag, "algorithm:base64" or "") of each Part: a part's checksum, when
    given, must be the one it was uploaded with (InvalidPart otherwise)."""
    parts = []
    for item in s3xml.as_list(doc.get("Part")):
        if not isinstance(item, dict):
            raise errors.MalformedXML()
        text, etag = item.get("PartNumber"), item.get("ETag")
        number = numbers.decimal(text.strip()) if isinstance(text, str) else None
        if number is None or not isinstance(etag, str):
            raise errors.MalformedXML()
        sent = [(a, v) for a in checksums.ALGORITHMS
                if isinstance(v := item.get(CHECKSUM_FIELDS[a]), str)]
        parts.append((number, etag, f"{sent[0][0]}:{sent[0][1].strip()}" if sent else ""))
    if not parts:
        raise errors.MalformedXML()
    return parts


async def complete_upload(ctx: Ctx) -> web.Response:
    upload = await _upload(ctx)
    # x-amz-checksum-* of a complete is the whole object's, not its XML body's.
    raw = await ctx.read_small(checksum_header=False)
    requested = _requested_parts(s3xml.parse(raw, "CompleteMultipartUpload"))
    lock = await lock_for_write(ctx, objectlock.requested(upload.headers, future=False))
    obj = await ctx.store.complete(upload, requested, lock, _sent_checksum(ctx))
    host = ctx.request.host
    body = {"Location": f"http://{host}/{obj.bucket}/{obj.key}", "Bucket": obj.bucket,
            "Key": obj.key, "ETag": f'"{obj.etag}"'}
    found = checksums.response_headers(obj.headers)
    kind = found.pop(checksums.TYPE_HEADER, None)
    for name, value in found.items():
        body[_checksum_field(name)] = value
        body["ChecksumType"] = kind
    return s3xml.response("CompleteMultipartUploadResult", body,
                          headers={**version_headers(ctx, obj),
                                   **encryption.headers_of(obj.encryption)})


def _sent_checksum(ctx: Ctx) -> tuple[str, str] | None:
    """The object's checksum a CompleteMultipartUpload vouches for: (header, value)."""
    for name, value in ctx.headers.items():
        if checksums.algorithm_of_header(name):
            return name.lower(), value.strip()
    return None


def _checksum_field(header: str) -> str:
    """x-amz-checksum-sha256 -> ChecksumSHA256, as S3's XML names it."""
    return CHECKSUM_FIELDS[checksums.algorithm_of_header(header)]


async def abort_upload(ctx: Ctx) -> web.Response:
    await ctx.store.abort(await _upload(ctx))
    return web.Response(status=204)


async def list_parts(ctx: Ctx) -> web.Response:
    upload = await _upload(ctx)
    marker = int_param(ctx, "part-number-marker", 0, MAX_PART_NUMBER)
    max_parts = int_param(ctx, "max-parts", 1000, 1000)
    parts = await ctx.store.parts(upload.upload_id, marker, max_parts + 1)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    body = {"Bucket": upload.bucket, "Key": upload.key, "UploadId": upload.upload_id,
            "Initiator": owner(upload.owner_id, upload.owner_name),
            "Owner": owner(upload.owner_id, upload.owner_name), "StorageClass": "STANDARD",
            "PartNumberMarker": marker, "MaxParts": max_parts,
            "IsTruncated": "true" if truncated else "false"}
    if parts:
        body["NextPartNumberMarker"] = parts[-1].number
    body["Part"] = [{"PartNumber": p.number, "LastModified": s3xml.iso8601(p.last_modified),
                     "ETag": f'"{p.etag}"', "Size": p.size,
                     **({_checksum_field(checksums.HEADER_PREFIX + p.checksum.partition(":")[0]):
                         p.checksum.partition(":")[2]} if p.checksum else {})} for p in parts]
    return s3xml.response("ListPartsResult", body)


async def list_uploads(ctx: Ctx) -> web.Response:
    key_marker = ctx.query.get("key-marker", "")
    id_marker = ctx.query.get("upload-id-marker", "") if key_marker else ""
    max_uploads = int_param(ctx, "max-uploads", 1000, 1000)
    prefix = ctx.query.get("prefix", "")
    enc = key_encoder(ctx)
    found = [u for u in await ctx.store.uploads(ctx.bucket.name, key_marker, id_marker, 10000)
             if u.key.startswith(prefix)]
    truncated = len(found) > max_uploads
    found = found[:max_uploads]
    body = {"Bucket": ctx.bucket.name, "KeyMarker": enc(key_marker),
            "UploadIdMarker": id_marker, "Prefix": enc(prefix), "MaxUploads": max_uploads,
            "IsTruncated": "true" if truncated else "false"}
    if "encoding-type" in ctx.query:
        body["EncodingType"] = "url"
    if found:
        body["NextKeyMarker"] = enc(found[-1].key)
        body["NextUploadIdMarker"] = found[-1].upload_id
    body["Upload"] = [{"Key": enc(u.key), "UploadId": u.upload_id,
                       "Initiator": owner(u.owner_id, u.owner_name),
                       "Owner": owner(u.owner_id, u.owner_name), "StorageClass": "STANDARD",
                       "Initiated": s3xml.iso8601(u.initiated)} for u in found]
    return s3xml.response("ListMultipartUploadsResult", body)
