"""Tag sets: Put/Get/DeleteBucketTagging and Put/Get/DeleteObjectTagging.

Tags are kept in the store with the bucket or the object row they belong to
(walrus/store.py); the rules for a tag set are in walrus/tags.py. Reading
tags takes READ_ACP and changing an object's WRITE_ACP (walrus/dispatch.py):
no ACL permission of S3's grants tagging (AWS leaves it to policies, and by
default to the owner), and READ alone must not show a public object's tags.
"""
from __future__ import annotations

from aiohttp import web

from walrus import errors, s3xml, tags
from walrus.api.common import require_integrity_header
from walrus.api.objects import version_headers
from walrus.context import Ctx


async def get_bucket_tagging(ctx: Ctx) -> web.Response:
    found = await ctx.store.bucket_tags(ctx.bucket.name)
    if not found:
        raise errors.NoSuchTagSet(BucketName=ctx.bucket.name)
    return s3xml.response("Tagging", tags.to_xml(found))


async def put_bucket_tagging(ctx: Ctx) -> web.Response:
    require_integrity_header(ctx)
    wanted = tags.from_xml(await ctx.read_small(), bucket=True)
    await ctx.store.set_bucket_tags(ctx.bucket.name, wanted)
    return web.Response(status=204)


async def delete_bucket_tagging(ctx: Ctx) -> web.Response:
    await ctx.store.set_bucket_tags(ctx.bucket.name, ())
    return web.Response(status=204)


def _version(ctx: Ctx) -> str | None:
    """The version dispatch found (?versionId=), or None for the current object."""
    return ctx.obj.version_id if "versionId" in ctx.query else None


async def get_object_tagging(ctx: Ctx) -> web.Response:
    found = await ctx.store.object_tags(ctx.bucket.name, ctx.key, _version(ctx))
    return s3xml.response("Tagging", tags.to_xml(found),
                          headers=version_headers(ctx, ctx.obj))


async def put_object_tagging(ctx: Ctx) -> web.Response:
    require_integrity_header(ctx)
    wanted = tags.from_xml(await ctx.read_small(), bucket=False)
    await ctx.store.set_object_tags(ctx.bucket.name, ctx.key, wanted, _version(ctx))
    return web.Response(status=200, headers=version_headers(ctx, ctx.obj))


async def delete_object_tagging(ctx: Ctx) -> web.Response:
    await ctx.store.set_object_tags(ctx.bucket.name, ctx.key, (), _version(ctx))
    return web.Response(status=204, headers=version_headers(ctx, ctx.obj))
