"""GetObjectAttributes (`GET /bucket/key?attributes`): the attributes named in
x-amz-object-attributes (ETag, Checksum, ObjectParts, StorageClass, ObjectSize)
of the object dispatch has read, without its bytes. ObjectParts lists a multipart
object's parts (x-amz-part-number-marker, x-amz-max-parts) from what its upload
kept."""
from __future__ import annotations

from aiohttp import web

from walrus import checksums, errors, numbers, s3xml
from walrus.api import encryption
from walrus.context import Ctx
from walrus.store import Object

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
CHECKSUM_FIELDS = {"crc32": "ChecksumCRC32", "crc32c": "ChecksumCRC32C",
                   "crc64nvme": "ChecksumCRC64NVME", "sha1": "ChecksumSHA1",
                   "sha256": "ChecksumSHA256"}


def _asked(ctx: Ctx) -> list[str]:
    names = [n.strip() for v in ctx.headers.getall("x-amz-object-attributes", [])
             for n in v.split(",") if n.strip()]
    if not names:
        raise errors.InvalidArgument("The x-amz-object-attributes header specifying the "
                                     "attributes to be retrieved is either missing or empty",
                                     ArgumentName="x-amz-object-attributes")
    for name in names:
        if name not in ATTRIBUTES:
            raise errors.InvalidArgument("Invalid attribute name specified.",
                                         ArgumentName="x-amz-object-attributes",
                                         ArgumentValue=name)
    return names


def parts_count(etag: str) -> int | None:
    """A multipart object's part count, from its ETag (MD5 of the parts' MD5s + `-N`)."""
    _, dash, count = etag.rpartition("-")
    return int(count) if dash and count.isdigit() else None


def _header_int(ctx: Ctx, name: str, default: int) -> int:
    text = ctx.headers.get(name)
    if text is None:
        return default
    value = numbers.decimal(text.strip())
    if value is None:
        raise errors.InvalidArgument(f"{name} must be a non-negative integer.",
                                     ArgumentName=name, ArgumentValue=text)
    return value


async def _object_parts(ctx: Ctx, obj: Object, count: int) -> dict:
    marker = _header_int(ctx, "x-amz-part-number-marker", 0)
    max_parts = min(_header_int(ctx, "x-amz-max-parts", 1000), 1000)
    parts = await ctx.store.object_parts(obj.id, marker, max_parts + 1)
    out: dict = {"PartsCount": count}
    if not parts and not marker:
        return out  # completed before Walrus kept its parts: the count alone
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    out.update(PartNumberMarker=marker, MaxParts=max_parts,
               IsTruncated="true" if truncated else "false")
    if parts:
        out["NextPartNumberMarker"] = parts[-1].number
    entries = []
    for part in parts:
        entry = {"PartNumber": part.number, "Size": part.size}
        algorithm, _, value = part.checksum.partition(":")
        if value:
            entry[CHECKSUM_FIELDS[algorithm]] = value
        entries.append(entry)
    out["Part"] = entries
    return out


async def get_object_attributes(ctx: Ctx) -> web.Response:
    asked = _asked(ctx)
    obj = ctx.obj
    encryption.data_key(ctx, obj)  # an SSE-C object's attributes need its key, as on S3
    body: dict = {}
    if "ETag" in asked:
        body["ETag"] = obj.etag  # S3 writes it here without quotes
    if "Checksum" in asked:
        found = checksums.response_headers(obj.headers)
        if found:
            kind = found.pop("x-amz-checksum-type")
            body["Checksum"] = {CHECKSUM_FIELDS[checksums.algorithm_of_header(k)]: v
                                for k, v in found.items()}
            body["Checksum"]["ChecksumType"] = kind
    parts = parts_count(obj.etag)
    if "ObjectParts" in asked and parts is not None:
        body["ObjectParts"] = await _object_parts(ctx, obj, parts)  # botocore: TotalPartsCount
    if "StorageClass" in asked:
        body["StorageClass"] = "STANDARD"
    if "ObjectSize" in asked:
        body["ObjectSize"] = obj.size
    return s3xml.response("GetObjectAttributesResponse", body,
                          headers={"Last-Modified": s3xml.http_date(obj.last_modified),
                                   **encryption.headers_of(obj.encryption)})
