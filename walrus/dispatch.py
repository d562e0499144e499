"""The one table that maps an S3 request to its handler and the permission it needs.

A request is keyed by (level, method, sub-resource): level is service, bucket
or object; the sub-resource is the first query parameter that names one.
Permission is checked here, before the handler runs, against the bucket's or
the object's ACL and the bucket's policy (walrus/api/access.py), which names the
route by its IAM action (s3:GetObject, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from walrus import acl, errors, s3xml
from walrus.api import (access, attributes, bucket_config, bucket_settings, buckets, cors,
                        encryption, form_post, lifecycle, multipart, object_lock, objects, policy,
                        public_access, tagging)
from walrus.context import Ctx
from walrus.store import Object, check_version_id

Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    on: str | None = None         # "bucket" or "object": whose ACL is checked
    permission: str | None = None
    action: str = ""              # the IAM action a bucket policy names it by
    version_action: str = ""      # ... when the request names a version (?versionId=)
    owner_only: bool = False      # only the bucket owner's account, whatever the ACL

    def action_for(self, query) -> str:
        return self.version_action if self.version_action and "versionId" in query \
            else self.action


# S3's sub-resources that Walrus does not serve: any method on them answers 501
# NotImplemented (with its code), never the plain bucket or object operation
# (a listing, a CreateBucket, a GetObject) that the path alone would name.
UNSERVED_BUCKET = ("abac", "analytics", "intelligent-tiering", "inventory", "metrics",
                   "metadataAnnotationTable", "metadataConfiguration",
                   "metadataInventoryTable", "metadataJournalTable", "metadataTable",
                   "session")
UNSERVED_OBJECT = ("annotation", "encryption", "renameObject", "restore", "select",
                   "select-type", "torrent")

# The configuration documents a bucket keeps, each a kind module's Setting.
SETTINGS = (cors.SETTING, lifecycle.SETTING, policy.SETTING, public_access.BLOCK_SETTING,
            public_access.OWNERSHIP_SETTING, object_lock.SETTING, encryption.SETTING)

BUCKET_SUBRESOURCES = ("acl", "location", "versioning", "versions", "uploads", "delete",
                       "tagging", "policyStatus", *(s.kind for s in SETTINGS),
                       *bucket_config.NOT_CONFIGURED, *bucket_config.EMPTY_DOCUMENTS,
                       *UNSERVED_BUCKET)
OBJECT_SUBRESOURCES = ("acl", "uploadId", "uploads", "tagging", "attributes", "retention",
                       "legal-hold", *UNSERVED_OBJECT)

R, W, RACP, WACP = acl.READ, acl.WRITE, acl.READ_ACP, acl.WRITE_ACP
FULL = acl.FULL_CONTROL
TABLE: dict[tuple[str, str, str], Route] = {
    ("service", "GET", ""): Route(buckets.list_buckets),
    ("bucket", "PUT", ""): Route(buckets.create_bucket),
    ("bucket", "HEAD", ""): Route(buckets.head_bucket, "bucket", R, "s3:ListBucket"),
    ("bucket", "GET", ""): Route(buckets.list_objects, "bucket", R, "s3:ListBucket"),
    ("bucket", "DELETE", ""): Route(buckets.delete_bucket, "bucket", FULL, "s3:DeleteBucket"),
    ("bucket", "GET", "location"): Route(buckets.get_location, "bucket", R,
                                         "s3:GetBucketLocation"),
    ("bucket", "GET", "versions"): Route(buckets.list_object_versions, "bucket", R,
                                         "s3:ListBucketVersions"),
    ("bucket", "GET", "acl"): Route(buckets.get_bucket_acl, "bucket", RACP, "s3:GetBucketAcl"),
    ("bucket", "PUT", "acl"): Route(buckets.put_bucket_acl, "bucket", WACP, "s3:PutBucketAcl"),
    ("bucket", "GET", "versioning"): Route(buckets.get_versioning, "bucket", R,
                                           "s3:GetBucketVersioning"),
    ("bucket", "PUT", "versioning"): Route(buckets.put_versioning, "bucket", FULL,
                                           "s3:PutBucketVersioning"),
    ("bucket", "GET", "uploads"): Route(multipart.list_uploads, "bucket", R,
                                        "s3:ListBucketMultipartUploads"),
    # DeleteObjects: s3:DeleteObject(Version) is decided per key, by the handler.
    ("bucket", "POST", "delete"): Route(objects.delete_objects, "bucket"),
    # A browser upload: the form, not the request, says who sends it, so the handler
    # checks s3:PutObject on the bucket once it has read the form's signature.
    ("bucket", "POST", ""): Route(form_post.post_object),
    ("object", "PUT", ""): Route(objects.put_object, "bucket", W, "s3:PutObject"),
    ("object", "GET", ""): Route(objects.get_object, "object", R, "s3:GetObject",
                                 "s3:GetObjectVersion"),
    ("object", "HEAD", ""): Route(objects.head_object, "object", R, "s3:GetObject",
                                  "s3:GetObjectVersion"),
    ("object", "DELETE", ""): Route(objects.delete_object, "bucket", W, "s3:DeleteObject",
                                    "s3:DeleteObjectVersion"),
    ("object", "GET", "acl"): Route(objects.get_object_acl, "object", RACP, "s3:GetObjectAcl",
                                    "s3:GetObjectVersionAcl"),
    ("object", "PUT", "acl"): Route(objects.put_object_acl, "object", WACP, "s3:PutObjectAcl",
                                    "s3:PutObjectVersionAcl"),
    ("object", "POST", "uploads"): Route(multipart.create_upload, "bucket", W, "s3:PutObject"),
    ("object", "PUT", "uploadId"): Route(multipart.upload_part, "bucket", W, "s3:PutObject"),
    ("object", "POST", "uploadId"): Route(multipart.complete_upload, "bucket", W,
                                          "s3:PutObject"),
    ("object", "DELETE", "uploadId"): Route(multipart.abort_upload, "bucket", W,
                                            "s3:AbortMultipartUpload"),
    ("object", "GET", "uploadId"): Route(multipart.list_parts, "bucket", W,
                                         "s3:ListMultipartUploadParts"),
    ("bucket", "GET", "tagging"): Route(tagging.get_bucket_tagging, "bucket", RACP,
                                        "s3:GetBucketTagging"),
    ("bucket", "PUT", "tagging"): Route(tagging.put_bucket_tagging, "bucket", FULL,
                                        "s3:PutBucketTagging"),
    ("bucket", "DELETE", "tagging"): Route(tagging.delete_bucket_tagging, "bucket", FULL,
                                           "s3:PutBucketTagging"),
    ("object", "GET", "tagging"): Route(tagging.get_object_tagging, "object", RACP,
                                        "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    ("object", "PUT", "tagging"): Route(tagging.put_object_tagging, "object", WACP,
                                        "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    ("object", "DELETE", "tagging"): Route(tagging.delete_object_tagging, "object", WACP,
                                           "s3:DeleteObjectTagging",
                                           "s3:DeleteObjectVersionTagging"),
    ("object", "GET", "attributes"): Route(attributes.get_object_attributes, "object", R,
                                           "s3:GetObjectAttributes",
                                           "s3:GetObjectVersionAttributes"),
    ("bucket", "GET", "policyStatus"): Route(policy.get_policy_status, "bucket", RACP,
                                             "s3:GetBucketPolicyStatus"),
    # Retention and legal holds: like tags, no ACL permission of S3's grants them.
    ("object", "GET", "retention"): Route(object_lock.get_retention, "object", RACP,
                                          "s3:GetObjectRetention"),
    ("object", "PUT", "retention"): Route(object_lock.put_retention, "object", WACP,
                                          "s3:PutObjectRetention"),
    ("object", "GET", "legal-hold"): Route(object_lock.get_legal_hold, "object", RACP,
                                           "s3:GetObjectLegalHold"),
    ("object", "PUT", "legal-hold"): Route(object_lock.put_legal_hold, "object", WACP,
                                           "s3:PutObjectLegalHold"),
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
    _read, _write, _remove = _setting.actions
    _own = _setting.owner_only
    TABLE[("bucket", "GET", _setting.kind)] = Route(_get, "bucket", _setting.read_permission,
                                                    _read, owner_only=_own)
    TABLE[("bucket", "PUT", _setting.kind)] = Route(_put, "bucket", _setting.write_permission,
                                                    _write, owner_only=_own)
    if _setting.deletable:
        TABLE[("bucket", "DELETE", _setting.kind)] = Route(
            _delete, "bucket", _setting.write_permission, _remove, owner_only=_own)
for _sub in (*bucket_config.NOT_CONFIGURED, *bucket_config.EMPTY_DOCUMENTS):
    _read, _write = bucket_config.ACTIONS[_sub]
    TABLE[("bucket", "GET", _sub)] = Route(bucket_config.get_setting, "bucket", R, _read)
    TABLE[("bucket", "PUT", _sub)] = Route(bucket_config.put_setting, "bucket", FULL, _write)
    TABLE[("bucket", "DELETE", _sub)] = Route(bucket_config.delete_setting, "bucket", FULL,
                                              _write)


async def _object_for(ctx: Ctx, route: Route) -> Object:
    """The object (version) an object route names, once the caller may use it: the
    current one, or `?versionId=`'s. A key whose latest version is a delete marker is
    NoSuchKey with the marker's headers; a marker asked for by id is 405, as S3."""
    version_id = ctx.query.get("versionId")
    if version_id is not None:
        check_version_id(version_id)
    obj = await ctx.store.get(ctx.bucket.name, ctx.key, version_id=version_id)
    action = route.action_for(ctx.query)
    if obj is None or (obj.is_marker and version_id is None):
        await access.require_missing(ctx, ctx.bucket, action, ctx.key)
        if obj is not None:
            raise errors.with_headers(errors.NoSuchKey(Key=ctx.key), {
                "x-amz-delete-marker": "true", "x-amz-version-id": obj.version_id})
        if version_id is not None:
            raise errors.NoSuchVersion(Key=ctx.key, VersionId=version_id)
        raise errors.NoSuchKey(Key=ctx.key)
    await access.require(ctx, ctx.bucket, action, ctx.key, obj.acl, route.permission, obj)
    if obj.is_marker:
        raise errors.with_headers(
            errors.MethodNotAllowed(Method=ctx.request.method, ResourceType="DeleteMarker"),
            {"x-amz-delete-marker": "true", "x-amz-version-id": obj.version_id,
             "Last-Modified": s3xml.http_date(obj.last_modified), "Allow": "DELETE"})
    return obj


def route_key(level: str, method: str, query) -> tuple[str, str, str]:
    """The TABLE key of a request: (level, method, the sub-resource it names)."""
    subs = BUCKET_SUBRESOURCES if level == "bucket" else \
        OBJECT_SUBRESOURCES if level == "object" else ()
    sub = "" if method == "OPTIONS" else next((s for s in subs if s in query), "")
    return level, method, sub


def operation(level: str, method: str, query) -> str | None:
    """The request's TABLE row as a name ("GET object", "PUT bucket?acl"), the label
    of its metrics; None for a request no row serves."""
    key = route_key(level, method, query)
    if key not in TABLE:
        return None
    return f"{method} {level}" + (f"?{key[2]}" if key[2] else "")


def route_for(level: str, method: str, query) -> Route:
    level, method, sub = route_key(level, method, query)
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
        if route.on == "object":
            ctx.obj = await _object_for(ctx, route)
        elif route.action:  # DeleteObjects has none: it asks for each key
            key = ctx.target.key if ctx.target.level == "object" else None
            await access.require(ctx, ctx.bucket, route.action_for(ctx.query), key,
                                 ctx.bucket.acl, route.permission, owner_only=route.owner_only)
    return await route.handler(ctx)
