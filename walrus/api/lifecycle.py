"""Put/Get/DeleteBucketLifecycleConfiguration (`?lifecycle`), answered from
walrus/lifecycle.py's rules; walrus/expiry.py applies them. Also the
x-amz-expiration header of PUT, GET and HEAD."""
from __future__ import annotations

from aiohttp import web

from walrus import errors, lifecycle, s3xml
from walrus.api.common import require_integrity_header
from walrus.context import Ctx
from walrus.store import Object

MAX_CONFIG_BYTES = 1024 * 1024  # 1,000 rules with long filters fit


async def put_bucket_lifecycle(ctx: Ctx) -> web.Response:
    raw = await ctx.read_small(MAX_CONFIG_BYTES)
    require_integrity_header(ctx)
    rules = lifecycle.parse(raw)
    await ctx.store.set_bucket_lifecycle(ctx.bucket.name, lifecycle.to_json(rules))
    return web.Response(status=200)


async def get_bucket_lifecycle(ctx: Ctx) -> web.Response:
    stored = await ctx.store.bucket_lifecycle(ctx.bucket.name)
    if stored is None:
        raise errors.NoSuchLifecycleConfiguration(BucketName=ctx.bucket.name)
    return s3xml.response("LifecycleConfiguration",
                          lifecycle.document(lifecycle.from_json(stored)))


async def delete_bucket_lifecycle(ctx: Ctx) -> web.Response:
    await ctx.store.set_bucket_lifecycle(ctx.bucket.name, None)
    return web.Response(status=204)


async def expiration_headers(ctx: Ctx, obj: Object) -> dict:
    """x-amz-expiration for the current version of an object a rule will expire."""
    if not obj.is_latest or obj.is_marker:
        return {}
    stored = await ctx.store.bucket_lifecycle(obj.bucket)
    if stored is None:
        return {}
    rules = lifecycle.from_json(stored)
    tags = obj.tags
    if tags is None and lifecycle.needs_tags(rules):
        tags = (await ctx.store.get(obj.bucket, obj.key, with_tags=True,
                                    version_id=obj.version_id) or obj).tags
    found = lifecycle.expiration_header(rules, obj.key, obj.size, tags, obj.last_modified,
                                        ctx.settings.walrus.lifecycle_day_seconds)
    return {"x-amz-expiration": found} if found else {}
