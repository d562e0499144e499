"""The EC2 Query front door: read parameters, authenticate, dispatch, render.

Middleware order (DESIGN.md): request id -> error rendering -> authentication.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
import zlib
from datetime import datetime, timezone
from urllib.parse import parse_qsl, unquote

import botocore.loaders
from aiohttp import web

from cloud_controller.api.actions import ACTIONS, Action
from cloud_controller.api.context import RequestContext
from mallee import errors
from mallee.bodies import read_bounded
from mallee.metrics import set_action
from cloud_controller.api import query, sigv2
from mallee.auth import sigv4
from mallee.service import REQUEST_ID, internal_error
from cloud_controller.api import cloudwatch
from cloud_controller.api.cloudwatch import JSON_TARGET_PREFIX
from cloud_controller.api.render import render, render_ec2_error, render_json_error

log = logging.getLogger(__name__)
PARAMS = web.RequestKey("params", dict)
JSON_BODY = web.RequestKey("json_body", dict)  # a JSON-protocol request's (CloudWatch)
CREDENTIAL = web.RequestKey("credential", object)
CLOUD = web.AppKey("cloud", object)
EC2_PATHS = ("/", "/services/compute", "/services/Eucalyptus")


@functools.cache
def ec2_operations() -> frozenset[str]:
    """Every action of EC2's API (botocore's model, installed with boto3): one this
    cloud does not implement is UnsupportedOperation (400), as EC2 answers an operation
    it does not offer somewhere; any other name is InvalidAction (400)."""
    model = botocore.loaders.create_loader().load_service_model("ec2", "service-2")
    return frozenset(model["operations"])


def is_ec2_path(path: str) -> bool:
    return (path.rstrip("/") or "/") in EC2_PATHS


def _raw_query_pairs(request: web.Request) -> list[tuple[str, str]]:
    raw = request.rel_url.raw_query_string
    pairs = []
    for part in raw.split("&") if raw else []:
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


async def _read_params(request: web.Request) -> tuple[list[tuple[str, str]], bytes, bytes]:
    """The query's and the form body's parameters, the body as sent (what SigV4
    signs) and decoded (Content-Encoding: gzip, as botocore compresses large
    PutMetricData requests; the app reads bodies raw, create_app)."""
    limit = request.app[CLOUD].settings.cloud.max_request_bytes
    if (request.content_length or 0) > limit:
        raise errors.RequestEntityTooLarge(f"Requests are limited to {limit} bytes.")
    raw = body = b""
    if request.can_read_body:
        raw = await read_bounded(request.content, limit)
        if len(raw) > limit:
            raise errors.RequestEntityTooLarge(f"Requests are limited to {limit} bytes.")
        body = _decoded(raw, request.headers.get("Content-Encoding", "identity"), limit)
    pairs = _raw_query_pairs(request)
    if body and request.content_type in ("application/x-www-form-urlencoded", ""):
        try:
            pairs += await _off_loop_if(len(body) > OFF_LOOP_BODY_BYTES, parse_qsl,
                                        body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise errors.InvalidParameterValue("The request body is not UTF-8 form data.")
    return pairs, raw, body


def _decoded(raw: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise errors.InvalidParameterValue(
            f"The Content-Encoding {encoding} is not supported (gzip or identity).")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflate.decompress(raw, limit + 1)
    except zlib.error:
        body = None
    if body is None or not inflate.eof:
        if body is not None and len(body) > limit:
            raise errors.RequestEntityTooLarge(f"Requests are limited to {limit} bytes.")
        raise errors.InvalidParameterValue(
            f"The request body cannot be decoded as its Content-Encoding ({encoding}) says.")
    return body


# A request near the size limit has ~55,000 parameters: parsing them takes
# about half a second of CPU, which on the loop would hold every other request.
OFF_LOOP_BODY_BYTES = 64 * 1024
OFF_LOOP_PARAMS = 1000


async def _off_loop_if(big: bool, fn, *args, **kwargs):
    """fn(*args) on a worker thread when the input is big, else here (cheaper)."""
    if big:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except errors.ApiError as err:
        return _error(request, err)
    except web.HTTPException:
        raise
    except Exception as exc:  # a bug of ours: the client gets a 500 with a request id
        return _error(request, internal_error(request, exc))


def json_target(request: web.Request) -> str | None:
    """The action of a JSON-protocol request (`X-Amz-Target: Service.Action`), else None."""
    target = request.headers.get("X-Amz-Target")
    if target is None or not is_ec2_path(request.path):
        return None
    return target[len(JSON_TARGET_PREFIX):] if target.startswith(JSON_TARGET_PREFIX) else ""


def _error(request: web.Request, err: errors.ApiError) -> web.Response:
    if json_target(request) is not None:
        body, headers = render_json_error(err, request[REQUEST_ID])
        return web.Response(body=body, status=err.status, headers=headers,
                            content_type="application/x-amz-json-1.0")
    return web.Response(body=render_ec2_error(err, request[REQUEST_ID]), status=err.status,
                        content_type="text/xml", charset="utf-8")


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if not is_ec2_path(request.path):
        return await handler(request)
    cloud = request.app[CLOUD]
    pairs, raw, body = await _read_params(request)
    params = dict(pairs)
    target = json_target(request)
    if target is not None:  # the JSON protocol (CloudWatch): the action is in the header
        params["Action"] = target
        try:
            request[JSON_BODY] = json.loads(body or b"{}")
        except (UnicodeDecodeError, ValueError):
            raise errors.SerializationException("The request body is not valid JSON.")
        if not isinstance(request[JSON_BODY], dict):
            raise errors.SerializationException("The request body must be a JSON object.")
    request[PARAMS] = params
    set_action(request, params.get("Action"), ACTIONS)
    now = datetime.now(timezone.utc)
    skew = cloud.settings.cloud.clock_skew_seconds
    lookup = cloud.accounts.lookup
    parsed = sigv4.parse(request.headers, params)
    if parsed is not None:
        verified = await sigv4.verify(
            parsed=parsed, method=request.method, raw_path=request.rel_url.raw_path,
            query_pairs=_raw_query_pairs(request), headers=request.headers,
            payload_hash=hashlib.sha256(raw).hexdigest(), lookup=lookup, now=now,
            max_skew=skew, services=("ec2", "sts", "iam", "monitoring"), s3=False)
        credential = verified.credential
    elif sigv2.is_sigv2(params):
        credential = await sigv2.verify(
            method=request.method, host=request.host, path=request.rel_url.raw_path,
            params=params, pairs=pairs, lookup=lookup, now=now, max_skew=skew)
    else:
        raise errors.MissingAuthenticationToken()
    request[CREDENTIAL] = credential
    return await handler(request)


class RateLimiter:
    """A token bucket per access key: RequestLimitExceeded past the rate."""

    def __init__(self, per_second: int):
        self.rate, self.burst = per_second, per_second * 2
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            raise errors.RequestLimitExceeded()
        self.buckets[key] = (tokens - 1, now)


LIMITER = web.AppKey("limiter", RateLimiter)


async def handle(request: web.Request) -> web.Response:
    params = request[PARAMS]
    name = params.get("Action")
    if not name:
        raise errors.MissingAction()
    action: Action | None = ACTIONS.get(name)
    if action is not None and action.vpc_mode and \
            request.app[CLOUD].settings.network.mode != "vpc":
        action = None  # EDGE mode answers as it did before VPC mode existed
    as_json = JSON_BODY in request
    if action is not None and as_json and not action.json:
        raise errors.UnknownOperation(f"The operation {name} is not served by the JSON "
                                      "protocol here.")
    if action is None and as_json:
        raise errors.UnknownOperation(f"The operation {name or '(none)'} is not supported.")
    if action is None:
        # The model is read once; that first read (~0.1 s of JSON) runs off the loop.
        operations = ec2_operations() if ec2_operations.cache_info().currsize \
            else await asyncio.to_thread(ec2_operations)
        if name in operations:
            raise errors.UnsupportedOperation(
                f"The operation {name} is not supported by this cloud.")
        raise errors.InvalidAction(f"The action {name} is not valid for this web service.")
    credential = request[CREDENTIAL]
    request.app[LIMITER].take(credential.access_key_id)
    if action.admin_only and not credential.is_admin:
        raise errors.UnauthorizedOperation(f"You are not authorized to perform {name}.")
    if action.json:  # CloudWatch: its JSON protocol, or its Query protocol (older SDKs)
        ctx = RequestContext(credential, request[REQUEST_ID], request.app[CLOUD], request.host)
        if as_json:
            req = action.request.from_json(request[JSON_BODY])
            return web.Response(body=json.dumps(await action.handler(ctx, req)).encode(),
                                content_type="application/x-amz-json-1.0",
                                headers={"x-amzn-RequestId": request[REQUEST_ID]})
        shape = (await cloudwatch.loaded_model()).operation_model(name).input_shape
        req = action.request.from_json(await _off_loop_if(
            len(params) > OFF_LOOP_PARAMS, cloudwatch.from_query, params, shape))
        return web.Response(body=cloudwatch.render_query(
            name, await action.handler(ctx, req), request[REQUEST_ID]),
            content_type="text/xml", charset="utf-8")
    req = await _off_loop_if(len(params) > OFF_LOOP_PARAMS, query.parse, action.request, params)
    if getattr(req, "dry_run", False):
        raise errors.DryRunOperation()
    ctx = RequestContext(credential, request[REQUEST_ID], request.app[CLOUD], request.host)
    if ctx.cloud.vpcs.vpc_mode:  # the account's default VPC is real from its first call
        try:
            await ctx.cloud.vpcs.ensure(ctx.account_id)
        except errors.ApiError as err:  # the calls that need it ask again and answer this
            log.warning("default VPC of %s not made: %s", ctx.account_id, err)
    body = await action.handler(ctx, req)
    xml = render(f"{name}Response", body, request[REQUEST_ID]) if action.render is None \
        else action.render(name, body, request[REQUEST_ID])
    return web.Response(body=xml, content_type="text/xml", charset="utf-8")
