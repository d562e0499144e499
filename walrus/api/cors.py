"""CORS: Put/Get/DeleteBucketCors (a bucket setting), the OPTIONS preflight (unauthenticated, as in S3)
and the CORS headers of actual requests, all answered from walrus/cors.py's rules."""
from __future__ import annotations

from aiohttp import web

from walrus import cors, errors
from walrus.api.bucket_settings import Setting, xml_answer
from walrus.context import Ctx

CORS_HEADERS = web.RequestKey("walrus_cors_headers", dict)

SETTING = Setting(
    "cors", parse=lambda raw: cors.to_json(cors.parse(raw)),
    answer=xml_answer("CORSConfiguration", lambda stored: cors.document(cors.from_json(stored))),
    missing=errors.NoSuchCORSConfiguration, max_bytes=64 * 1024,  # S3's limit
    actions=("s3:GetBucketCORS", "s3:PutBucketCORS", "s3:PutBucketCORS"))


def _forbidden(message: str, method: str, resource_type: str) -> errors.AccessForbidden:
    return errors.AccessForbidden(message, Method=method, ResourceType=resource_type)


async def preflight(ctx: Ctx) -> web.Response:
    """OPTIONS: S3 answers it without authentication, from the bucket's rules only (the
    key is not looked up)."""
    origin = ctx.headers.get("Origin")
    if origin is None:
        raise errors.BadRequest("Insufficient information. Origin request header needed.")
    method = ctx.headers.get("Access-Control-Request-Method")
    try:
        stored = await ctx.store.bucket_setting(ctx.target.bucket, "cors")
        await ctx.store.bucket(ctx.target.bucket)
    except errors.NoSuchBucket:
        raise _forbidden("CORSResponse: Bucket not found", method or "OPTIONS", "BUCKET")
    if stored is None:
        raise _forbidden("CORSResponse: CORS is not enabled for this bucket.",
                         method or "OPTIONS", "BUCKET")
    if method is None:
        raise errors.BadRequest("Invalid Access-Control-Request-Method: null")
    headers = cors.preflight(cors.from_json(stored), origin, method,
                             cors.requested_headers(
                                 ctx.headers.get("Access-Control-Request-Headers")))
    if headers is None:
        raise _forbidden("CORSResponse: This CORS request is not allowed. This is usually "
                         "because the evalution of Origin, request method / "
                         "Access-Control-Request-Method or Access-Control-Request-Headers "
                         "are not whitelisted by the resource's CORS spec.", method,
                         ctx.target.level.upper())
    return web.Response(status=200, headers=headers)


async def headers_for(request: web.Request, store, bucket: str | None) -> None:
    """Note the CORS headers an actual request from an Origin gets (on its answer, error
    answers too, as S3 sends them); walrus/app.py adds them as the response is prepared.
    The request-method header, when sent, decides the match, as on S3."""
    origin = request.headers.get("Origin")
    if origin is None or not bucket or request.method == "OPTIONS":
        return
    stored = await store.bucket_setting(bucket, "cors")
    if stored is None:
        return
    method = request.headers.get("Access-Control-Request-Method", request.method)
    found = cors.actual(cors.from_json(stored), origin, method)
    if found:
        request[CORS_HEADERS] = found


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the headers headers_for chose, on whatever answer goes out."""
    found = request.get(CORS_HEADERS)
    if found:
        response.headers.update(found)
