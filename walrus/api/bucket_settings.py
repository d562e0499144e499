"""The Put/Get/Delete trio every bucket configuration document has (CORS, lifecycle,
and those to come), made once from what differs between kinds: the parser, how the
stored document is answered, the error for "none", the size limit. Documents live
in the store's bucket_settings table, one per bucket and kind.

A kind module declares its `Setting`; walrus/dispatch.py routes `?<kind>` to the
three handlers `handlers()` makes for it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from mallee.errors import ApiError
from walrus import acl, s3xml
from walrus.api.common import require_integrity_header
from walrus.context import Ctx

Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Setting:
    kind: str                             # the sub-resource, and the stored kind
    parse: Callable[[bytes], str]         # request body -> document to store (or raises)
    answer: Callable[[str], web.Response]  # stored document -> the Get answer
    missing: type[ApiError]         # Get of a bucket without one
    max_bytes: int = 64 * 1024
    needs_integrity: bool = True          # S3 wants Content-MD5 or a checksum on the Put
    put_status: int = 200
    read_permission: str = acl.READ_ACP   # reading: READ_ACP; changing: FULL_CONTROL
    write_permission: str = acl.FULL_CONTROL
    # the IAM actions of Get, Put and Delete, as a bucket policy names them
    actions: tuple[str, str, str] = ("", "", "")
    owner_only: bool = False              # only the owner's account (a bucket policy)
    # checks a parsed document against the bucket (its name, its other settings)
    accept: Callable[[Ctx, str], Awaitable[None]] | None = None
    deletable: bool = True                # S3 has a Delete call for it


def xml_answer(root: str, render: Callable[[str], dict]) -> Callable[[str], web.Response]:
    """An `answer` for a document S3 returns as XML under `root`."""
    return lambda stored: s3xml.response(root, render(stored))


async def document(ctx: Ctx, setting: Setting) -> str | None:
    """The request's bucket's document of this kind, None when it has none."""
    return await ctx.store.bucket_setting(ctx.bucket.name, setting.kind)


def handlers(setting: Setting) -> tuple[Handler, Handler, Handler]:
    """(get, put, delete) for one kind of document (dispatch routes no delete for a kind
    that is not `deletable`)."""
    async def get(ctx: Ctx) -> web.Response:
        stored = await document(ctx, setting)
        if stored is None:
            raise setting.missing(BucketName=ctx.bucket.name)
        return setting.answer(stored)

    async def put(ctx: Ctx) -> web.Response:
        raw = await ctx.read_small(setting.max_bytes)
        if setting.needs_integrity:
            require_integrity_header(ctx)
        parsed = setting.parse(raw)
        if setting.accept is not None:
            await setting.accept(ctx, parsed)
        await ctx.store.set_bucket_setting(ctx.bucket.name, setting.kind, parsed)
        return web.Response(status=setting.put_status)

    async def delete(ctx: Ctx) -> web.Response:
        await ctx.store.set_bucket_setting(ctx.bucket.name, setting.kind, None)
        return web.Response(status=204)

    return get, put, delete
