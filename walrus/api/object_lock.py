"""Object Lock: Put/GetObjectLockConfiguration (`?object-lock`, a bucket setting),
Put/GetObjectRetention (`?retention`), Put/GetObjectLegalHold (`?legal-hold`), and
the lock a write's x-amz-object-lock-* headers (or the bucket's default retention)
give a new version. The rules are walrus/objectlock.py's; the store enforces them
on deletes."""
from __future__ import annotations

import time

from aiohttp import web

from walrus import errors, objectlock, s3xml
from walrus.api.bucket_settings import Setting, xml_answer
from walrus.api.common import require_integrity_header
from walrus.context import Ctx
from walrus.objectlock import Lock

SETTING = Setting(
    objectlock.KIND, parse=objectlock.parse_configuration,
    answer=xml_answer("ObjectLockConfiguration", objectlock.configuration_xml),
    missing=errors.ObjectLockConfigurationNotFoundError,
    actions=("s3:GetBucketObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration", ""),
    deletable=False)  # S3 has no DeleteObjectLockConfiguration: lock is never turned off

ENABLE_HEADER = "x-amz-bucket-object-lock-enabled"


def bypass(ctx: Ctx) -> bool:
    """x-amz-bypass-governance-retention, honoured for the bucket's owner (the only one
    s3:BypassGovernanceRetention is granted to without bucket policies)."""
    return ctx.headers.get(objectlock.BYPASS_HEADER, "").lower() == "true" \
        and ctx.who.account_id == ctx.bucket.owner_id


async def lock_for_write(ctx: Ctx, asked: Lock | None) -> Lock:
    """The lock of the version a PUT, copy or completed upload makes: `asked`
    (objectlock.requested of its headers) or the bucket's default retention."""
    stored = await ctx.store.bucket_setting(ctx.bucket.name, objectlock.KIND)
    return objectlock.for_new_version(asked, stored, time.time())


async def require_lock_bucket(ctx: Ctx) -> None:
    if await ctx.store.bucket_setting(ctx.bucket.name, objectlock.KIND) is None:
        raise objectlock.missing_configuration()


async def _body(ctx: Ctx) -> bytes:
    raw = await ctx.read_small()
    require_integrity_header(ctx)
    await require_lock_bucket(ctx)
    return raw


def _version_headers(ctx: Ctx) -> dict:
    version_id = ctx.query.get("versionId")
    return {"x-amz-version-id": version_id} if version_id else {}


async def get_retention(ctx: Ctx) -> web.Response:
    await require_lock_bucket(ctx)
    lock = ctx.obj.lock
    if not lock.mode:
        raise errors.NoSuchObjectLockConfiguration()
    return s3xml.response("Retention", {"Mode": lock.mode,
                                        "RetainUntilDate": s3xml.iso8601(lock.until)})


async def put_retention(ctx: Ctx) -> web.Response:
    new = objectlock.parse_retention(await _body(ctx))
    now, may_bypass = time.time(), bypass(ctx)

    def change(old: Lock) -> Lock:
        objectlock.check_retention_change(old, new, now, may_bypass)
        return Lock(new.mode, new.until, old.legal_hold)
    await ctx.store.change_lock(ctx.bucket.name, ctx.key, ctx.query.get("versionId"), change)
    return web.Response(status=200, headers=_version_headers(ctx))


async def get_legal_hold(ctx: Ctx) -> web.Response:
    await require_lock_bucket(ctx)
    if not ctx.obj.lock.legal_hold:
        raise errors.NoSuchObjectLockConfiguration()
    return s3xml.response("LegalHold", {"Status": ctx.obj.lock.legal_hold})


async def put_legal_hold(ctx: Ctx) -> web.Response:
    status = objectlock.parse_legal_hold(await _body(ctx))
    await ctx.store.change_lock(ctx.bucket.name, ctx.key, ctx.query.get("versionId"),
                                lambda old: Lock(old.mode, old.until, status))
    return web.Response(status=200, headers=_version_headers(ctx))
