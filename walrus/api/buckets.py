"""Service and bucket calls: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation, ListObjects (v1 and v2), ListObjectVersions, bucket ACLs."""
from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web

from mallee.xmlwrite import Raw
from walrus import acl, errors, listing, names, s3xml
from walrus.api import access, public_access
from walrus.api.common import int_param, key_encoder, owner, read_acl_request
from walrus.api.object_lock import ENABLE_HEADER
from walrus.context import Ctx
from walrus.store import Bucket, Listed, check_version_id


async def list_buckets(ctx: Ctx) -> web.Response:
    ctx.require_signed()
    buckets = await ctx.store.list_buckets(ctx.who)
    return s3xml.response("ListAllMyBucketsResult", {
        "Owner": owner(ctx.who.account_id, ctx.who.account_name),
        "Buckets": {"Bucket": [{"Name": b.name, "CreationDate": s3xml.iso8601(b.created)}
                               for b in buckets]}})


async def create_bucket(ctx: Ctx) -> web.Response:
    ctx.require_signed()
    name = ctx.target.bucket
    names.check_bucket_name(name, ctx.settings.walrus.bucket_naming)
    region = ctx.settings.cloud.region
    body = await ctx.read_small()
    if body.strip():
        config = s3xml.parse(body, "CreateBucketConfiguration")
        constraint = config.get("LocationConstraint")
        if constraint is not None and not isinstance(constraint, str):
            raise errors.MalformedXML()
        # Any region name is accepted (euca2ools and awscli send their own);
        # the bucket remembers it for GetBucketLocation.
        region = constraint or region
    bucket_acl = acl.from_request(ctx.headers, ctx.who.account_id, ctx.who.account_name,
                                  ctx.creds.account_names())
    settings = {}
    ownership = ctx.headers.get("x-amz-object-ownership")
    if ownership is not None:
        if ownership not in public_access.OWNERSHIPS:
            raise errors.InvalidArgument("Invalid x-amz-object-ownership header",
                                         ArgumentName="x-amz-object-ownership",
                                         ArgumentValue=ownership)
        if ownership == access.ENFORCED and not access.only_owner_full_control(
                bucket_acl, ctx.who.account_id):
            raise errors.InvalidBucketAclWithObjectOwnership()
        settings[access.OWNERSHIP] = public_access.ownership_document(ownership)
    lock = ctx.headers.get(ENABLE_HEADER, "").lower() == "true"
    await ctx.store.create_bucket(ctx.who, name, region, bucket_acl, settings,
                                  object_lock=lock)
    return web.Response(status=200, headers={"Location": f"/{name}"})


async def head_bucket(ctx: Ctx) -> web.Response:
    return web.Response(status=200, headers={"x-amz-bucket-region": ctx.bucket.region})


async def delete_bucket(ctx: Ctx) -> web.Response:
    await ctx.store.delete_bucket(ctx.bucket.name)
    return web.Response(status=204)


async def get_location(ctx: Ctx) -> web.Response:
    region = ctx.bucket.region
    body = s3xml.render("LocationConstraint", {"#text": region} if region != "us-east-1" else {})
    return web.Response(body=body, content_type="application/xml")


# Listing entries are written as markup directly (mallee.xmlwrite.Raw): a 1,000-entry
# page through the general writer spent most of its time there. ETags are hex and
# version ids hex or `null`, so only keys and owners need escaping.
def _owner_xml(o: Listed, owners: dict) -> str:
    """<Owner> of `o`, written once per owner a page (`owners` remembers them)."""
    xml = owners.get((o.owner_id, o.owner_name))
    if xml is None:
        xml = owners[(o.owner_id, o.owner_name)] = (
            f"<Owner><ID>{escape(o.owner_id)}</ID>"
            f"<DisplayName>{escape(o.owner_name)}</DisplayName></Owner>")
    return xml


def _object_tail(o: Listed) -> str:
    return (f'<ETag>"{o.etag}"</ETag><Size>{o.size}</Size>'
            "<StorageClass>STANDARD</StorageClass>")


def object_entry(o: Listed, enc, owners: dict | None) -> Raw:
    """ListObjects(V2)'s <Contents>, with <Owner> unless `owners` is None."""
    return Raw(f"<Contents><Key>{escape(enc(o.key))}</Key>"
               f"<LastModified>{s3xml.iso8601(o.last_modified)}</LastModified>"
               f"{_object_tail(o)}{'' if owners is None else _owner_xml(o, owners)}</Contents>")


def version_entry(o: Listed, enc, owners: dict) -> Raw:
    """ListObjectVersions' <Version> or <DeleteMarker>: one f-string, the most common
    markup of a version listing."""
    owner = owners.get((o.owner_id, o.owner_name)) or _owner_xml(o, owners)
    if o.is_marker:
        return Raw(f"<DeleteMarker><Key>{escape(enc(o.key))}</Key><VersionId>{o.version_id}"
                   f"</VersionId><IsLatest>{'true' if o.is_latest else 'false'}</IsLatest>"
                   f"<LastModified>{s3xml.iso8601(o.last_modified)}</LastModified>{owner}"
                   "</DeleteMarker>")
    return Raw(f"<Version><Key>{escape(enc(o.key))}</Key><VersionId>{o.version_id}</VersionId>"
               f"<IsLatest>{'true' if o.is_latest else 'false'}</IsLatest>"
               f"<LastModified>{s3xml.iso8601(o.last_modified)}</LastModified>"
               f'<ETag>"{o.etag}"</ETag><Size>{o.size}</Size>'
               f"<StorageClass>STANDARD</StorageClass>{owner}</Version>")


async def list_objects(ctx: Ctx) -> web.Response:
    v2 = ctx.query.get("list-type") == "2"
    if ctx.query.get("list-type") not in (None, "2"):
        raise errors.InvalidArgument("list-type must be 2.", ArgumentName="list-type")
    enc = key_encoder(ctx)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    max_keys = int_param(ctx, "max-keys", 1000, 1000)
    bucket: Bucket = ctx.bucket

    async def fetch(start, inclusive, limit):
        return await ctx.store.list_page(bucket.name, start, inclusive, limit)

    if v2:
        token = ctx.query.get("continuation-token")
        start_after = listing.decode_token(token) if token is not None \
            else ctx.query.get("start-after", "")
    else:
        start_after = ctx.query.get("marker", "")
    found = await listing.list_keys(fetch, prefix, delimiter, start_after, max_keys)
    with_owner = not v2 or ctx.query.get("fetch-owner") == "true"
    body = {"Name": bucket.name, "Prefix": enc(prefix)}
    if v2:
        if "continuation-token" in ctx.query:
            body["ContinuationToken"] = ctx.query["continuation-token"]
        if "start-after" in ctx.query:
            body["StartAfter"] = enc(ctx.query["start-after"])
        body["KeyCount"] = len(found.contents) + len(found.common_prefixes)
    else:
        body["Marker"] = enc(start_after)
    body["MaxKeys"] = max_keys
    if delimiter:
        body["Delimiter"] = enc(delimiter)
    if "encoding-type" in ctx.query:
        body["EncodingType"] = "url"
    body["IsTruncated"] = "true" if found.truncated else "false"
    if found.truncated:
        if v2:
            body["NextContinuationToken"] = listing.encode_token(found.next_marker)
        else:
            body["NextMarker"] = enc(found.next_marker)
    owners = {} if with_owner else None
    body["Contents"] = [object_entry(o, enc, owners) for o in found.contents]
    body["CommonPrefixes"] = [{"Prefix": enc(p)} for p in found.common_prefixes]
    return s3xml.response("ListBucketResult", body)


async def list_object_versions(ctx: Ctx) -> web.Response:
    """ListObjectVersions: every version and delete marker, by key and newest first; an
    object written while the bucket was unversioned is its `null` version. Ansible's
    s3_bucket and AWS's own "empty the bucket" loops delete from this listing."""
    enc = key_encoder(ctx)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    key_marker = ctx.query.get("key-marker", "")
    version_marker = ctx.query.get("version-id-marker", "")
    max_keys = int_param(ctx, "max-keys", 1000, 1000)
    bucket: Bucket = ctx.bucket
    seq_below = None
    if version_marker:
        if not key_marker:
            raise errors.InvalidArgument("A version-id marker cannot be specified without a "
                                         "key marker.", ArgumentName="version-id-marker",
                                         ArgumentValue=version_marker)
        check_version_id(version_marker)
        seq_below = await ctx.store.version_seq(bucket.name, key_marker, version_marker)
        # A `null` marker that was deleted meanwhile: go on from the key's newest version
        # (what was listed before it is gone or listed again, never skipped).

    async def fetch(start, inclusive, below, limit):
        if below is None and start == key_marker and version_marker and seq_below is None:
            return await ctx.store.version_page(bucket.name, start, True, None, limit)
        return await ctx.store.version_page(bucket.name, start, inclusive, below, limit)

    found = await listing.list_versions(fetch, prefix, delimiter, key_marker, seq_below,
                                        max_keys)
    body = {"Name": bucket.name, "Prefix": enc(prefix), "KeyMarker": enc(key_marker),
            "VersionIdMarker": version_marker if key_marker else "", "MaxKeys": max_keys}
    if delimiter:
        body["Delimiter"] = enc(delimiter)
    if "encoding-type" in ctx.query:
        body["EncodingType"] = "url"
    body["IsTruncated"] = "true" if found.truncated else "false"
    if found.truncated:
        body["NextKeyMarker"] = enc(found.next_marker)
        if found.next_version_id is not None:
            body["NextVersionIdMarker"] = found.next_version_id
    # Versions and markers interleaved in listing order, as S3 writes them (minio-go
    # reads them back in document order).
    owners: dict = {}
    body["Versions"] = [version_entry(o, enc, owners) for o in found.contents]
    body["CommonPrefixes"] = [{"Prefix": enc(p)} for p in found.common_prefixes]
    return s3xml.response("ListVersionsResult", body)


async def get_versioning(ctx: Ctx) -> web.Response:
    """GetBucketVersioning: no Status for a bucket that was never versioned, as S3."""
    status = ctx.bucket.versioning
    return s3xml.response("VersioningConfiguration", {"Status": status} if status else {})


async def put_versioning(ctx: Ctx) -> web.Response:
    doc = await ctx.read_xml("VersioningConfiguration")
    status = doc.get("Status")
    mfa = doc.get("MfaDelete")
    if status not in ("Enabled", "Suspended") or mfa not in (None, "Enabled", "Disabled"):
        raise errors.IllegalVersioningConfigurationException(
            "The Versioning element must be specified" if status is None
            else "The versioning configuration specified in the request is invalid.")
    if mfa == "Enabled":
        # S3 wants the root account's MFA device (x-amz-mfa); Walrus has none.
        raise errors.NotImplemented_("Walrus does not support MFA delete.")
    await ctx.store.set_bucket_versioning(ctx.bucket.name, status)
    return web.Response(status=200)


async def get_bucket_acl(ctx: Ctx) -> web.Response:
    return s3xml.response("AccessControlPolicy", ctx.bucket.acl.to_xml())


async def put_bucket_acl(ctx: Ctx) -> web.Response:
    new = await read_acl_request(ctx, ctx.bucket.owner_id, ctx.bucket.owner_name)
    await ctx.store.set_bucket_acl(ctx.bucket.name, new)
    return web.Response(status=200)
