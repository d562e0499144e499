"""The one table that maps an S3 request to its handler and the permission it needs.

A request is keyed by (level, method, sub-resource): level is service, bucket
or object; the sub-resource is the first query parameter that names one.
Permission is checked here, before the handler runs, against the bucket's
or the object's ACL.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from walrus import acl, errors, s3xml
from walrus.api import (attributes, bucket_config, bucket_settings, buckets, cors, encryption,
                        form_post, lifecycle, multipart, objects, tagging)
from walrus.context import Ctx
from walrus.store import Object, check_version_id

Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    on: str | None = None         # "bucket" or "object": whose ACL is checked
    permission: str | None = None


# S3's sub-resources that Walrus does not serve: any method on them answers 501
# NotImplemented (with its code), never the plain bucket or object operation
# (a listing, a CreateBucket, a GetObject) that the path alone would name.
UNSERVED_BUCKET = ("abac", "analytics", "intelligent-tiering", "inventory", "metrics",
                   "metadataAnnotationTable", "metadataConfiguration",
                   "metadataInventoryTable", "metadataJournalTable", "metadataTable",
                   "policyStatus", "session")
UNSERVED_OBJECT = ("annotation", "encryption", "legal-hold", "renameObject", "restore",
                   "retention", "select", "select-type", "torrent")

# The configuration documents a bucket keeps, each a kind module's Setting.
SETTINGS = (cors.SETTING, lifecycle.SETTING, encryption.SETTING)

BUCKET_SUBRESOURCES = ("acl", "location", "versioning", "versions", "uploads", "delete",
                       "tagging", *(s.kind for s in SETTINGS), *bucket_config.NOT_CONFIGURED,
                       *bucket_config.EMPTY_DOCUMENTS, *UNSERVED_BUCKET)
OBJECT_SUBRESOURCES = ("acl", "uploadId", "uploads", "tagging", "attributes", *UNSERVED_OBJECT)

R, W, RACP, WACP = acl.READ, acl.WRITE, acl.READ_ACP, acl.WRITE_ACP
TABLE: dict[tuple[str, str, str], Route] = {
    ("service", "GET", ""): Route(buckets.list_buckets),
    ("bucket", "PUT", ""): Route(buckets.create_bucket),
    ("bucket", "HEAD", ""): Route(buckets.head_bucket, "bucket", R),
    ("bucket", "GET", ""): Route(buckets.list_objects, "bucket", R),
    ("bucket", "DELETE", ""): Route(buckets.delete_bucket, "bucket", acl.FULL_CONTROL),
    ("bucket", "GET", "location"): Route(buckets.get_location, "bucket", R),
    ("bucket", "GET", "versions"): Route(buckets.list_object_versions, "bucket", R),
    ("bucket", "GET", "acl"): Route(buckets.get_bucket_acl, "bucket", RACP),
    ("bucket", "PUT", "acl"): Route(buckets.put_bucket_acl, "bucket", WACP),
    ("bucket", "GET", "versioning"): Route(buckets.get_versioning, "bucket", R),
    ("bucket", "PUT", "versioning"): Route(buckets.put_versioning, "bucket",
                                           acl.FULL_CONTROL),
    ("bucket", "GET", "uploads"): Route(multipart.list_uploads, "bucket", R),
    ("bucket", "POST", "delete"): Route(objects.delete_objects, "bucket", W),
    # A browser upload: the form, not the request, says who sends it, so the handler
    # checks WRITE on the bucket once it has read the form's signature.
    ("bucket", "POST", ""): Route(form_post.post_object),
    ("object", "PUT", ""): Route(objects.put_object, "bucket", W),
    ("object", "GET", ""): Route(objects.get_object, "object", R),
    ("object", "HEAD", ""): Route(objects.head_object, "object", R),
    ("object", "DELETE", ""): Route(objects.delete_object, "bucket", W),
    ("object", "GET", "acl"): Route(objects.get_object_acl, "object", RACP),
    ("object", "PUT", "acl"): Route(objects.put_object_acl, "object", WACP),
    ("object", "POST", "uploads"): Route(multipart.create_upload, "bucket", W),
    ("object", "PUT", "uploadId"): Route(multipart.upload_part, "bucket", W),
    ("object", "POST", "uploadId"): Route(multipart.complete_upload, "bucket", W),
    ("object", "DELETE", "uploadId"): Route(multipart.abort_upload, "bucket", W),
    ("object", "GET", "uploadId"): Route(multipart.list_parts, "bucket", W),
    ("bucket", "GET", "tagging"): Route(tagging.get_bucket_tagging, "bucket", RACP),
    ("bucket", "PUT", "tagging"): Route(tagging.put_bucket_tagging, "bucket", acl.FULL_CONTROL),
    ("bucket", "DELETE", "tagging"): Route(tagging.delete_bucket_tagging, "bucket",
                                           acl.FULL_CONTROL),
    ("object", "GET", "tagging"): Route(tagging.get_object_tagging, "object", RACP),
    ("object", "PUT", "tagging"): Route(tagging.put_object_tagging, "object", WACP),
    ("object", "DELETE", "tagging"): Route(tagging.delete_object_tagging, "object", WACP),
    ("object", "GET", "attributes"): Route(attributes.get_object_attributes, "object", R),
    # The preflight: unauthenticated, whatever the query names (browsers preflight
    # POST ?uploads, PUT ?partNumber&uploadId...); no ACL, only the bucket's CORS rules.
    ("bucket", "OPTIONS", ""): Route(cors.preflight),
    ("object", "OPTIONS", ""): Route(cors.preflight),
}
# Bucket configuration documents (walrus/api/bucket_settings.py). Reading one takes
# READ_ACP and changing it FULL_CONTROL unless its kind says otherwise (no ACL
# permission of S3's grants them; AWS leaves them to the owner and policies).
for _setting in SETTINGS:
    _get, _put, _delete = bucket_settings.handlers(_setting)
    TABLE[("bucket", "GET", _setting.kind)] = Route(_get, "bucket", _setting.read_permission)
    TABLE[("bucket", "PUT", _setting.kind)] = Route(_put, "bucket", _setting.write_permission)
    TABLE[("bucket", "DELETE", _setting.kind)] = Route(_delete, "bucket",
                                                       _setting.write_permission)
for _sub in (*bucket_config.NOT_CONFIGURED, *bucket_config.EMPTY_DOCUMENTS):
    TABLE[("bucket", "GET", _sub)] = Route(bucket_config.get_setting, "bucket", R)
    TABLE[("bucket", "PUT", _sub)] = Route(bucket_config.put_setting, "bucket", acl.FULL_CONTROL)
    TABLE[("bucket", "DELETE", _sub)] = Route(bucket_config.delete_setting, "bucket",
                                              acl.FULL_CONTROL)


async def _object_for(ctx: Ctx, permission: str) -> Object:
    """The object (version) an object route names, once the caller may use it: the
    current one, or `?versionId=`'s. A key whose latest version is a delete marker is
    NoSuchKey with the marker's headers; a marker asked for by id is 405, as S3."""
    version_id = ctx.query.get("versionId")
    if version_id is not None:
        check_version_id(version_id)
    obj = await ctx.store.get(ctx.bucket.name, ctx.key, version_id=version_id)
    if obj is None or (obj.is_marker and version_id is None):
        if not ctx.bucket.acl.allows(ctx.who, acl.READ):
            raise errors.AccessDenied()  # do not reveal which keys exist
        if obj is not None:
            raise errors.with_headers(errors.NoSuchKey(Key=ctx.key), {
                "x-amz-delete-marker": "true", "x-amz-version-id": obj.version_id})
        if version_id is not None:
            raise errors.NoSuchVersion(Key=ctx.key, VersionId=version_id)
        raise errors.NoSuchKey(Key=ctx.key)
    if not obj.acl.allows(ctx.who, permission):
        raise errors.AccessDenied()
    if obj.is_marker:
        raise errors.with_headers(
            errors.MethodNotAllowed(Method=ctx.request.method, ResourceType="DeleteMarker"),
            {"x-amz-delete-marker": "true", "x-amz-version-id": obj.version_id,
             "Last-Modified": s3xml.http_date(obj.last_modified), "Allow": "DELETE"})
    return obj


def route_for(level: str, method: str, query) -> Route:
    subs = BUCKET_SUBRESOURCES if level == "bucket" else \
        OBJECT_SUBRESOURCES if level == "object" else ()
    sub = "" if method == "OPTIONS" else next((s for s in subs if s in query), "")
    route = TABLE.get((level, method, sub))
    if route is None:
        if sub:
            raise errors.NotImplemented_(f"{method} ?{sub} is not implemented by Walrus.")
        raise errors.MethodNotAllowed(Method=method, ResourceType=level.upper())
    return route


async def dispatch(ctx: Ctx) -> web.StreamResponse:
    route = route_for(ctx.target.level, ctx.request.method, ctx.query)
    if ctx.target.bucket and route.on is not None:
        ctx.bucket = await ctx.store.bucket(ctx.target.bucket)
        if route.on == "bucket":
            if not ctx.bucket.acl.allows(ctx.who, route.permission):
                raise errors.AccessDenied()
        else:
            ctx.obj = await _object_for(ctx, route.permission)
    return await route.handler(ctx)
