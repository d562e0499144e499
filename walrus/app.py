"""Walrus's two sites: the S3 API (plain HTTP) and its RPC port (mutual TLS).

Middleware order, as everywhere in Mallee: request id, then error rendering,
then authentication (in the S3 entry handler, after routing, since SigV2
signs the bucket the Host header names).
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from mallee import errors as mallee_errors
from mallee import metrics, rpc
from mallee.pki import SecretBox
from mallee.service import REQUEST_ID, Site, internal_error, request_id_middleware
from mallee.settings import Settings, SettingsError
from walrus import names, routing, s3xml
from walrus import rpc as walrus_rpc
from walrus.acl import ANONYMOUS
from walrus.api import cors as cors_api
from walrus.auth import Authenticated, authenticate
from walrus.blobs import SMALL_BLOB, BlobStore
from walrus.chunks import ChunkStore
from walrus.context import Ctx
from walrus.credstore import CredentialStore
from walrus.db import Database
from walrus.dispatch import dispatch, operation
from walrus.expiry import LifecycleWorker
from walrus.sse import MasterKey
from walrus.store import Store

log = logging.getLogger(__name__)

STATE = web.AppKey("walrus_state", dict)
CLIENT_ERRORS = (ConnectionResetError,)


def _render_error(request: web.Request, err: mallee_errors.ApiError) -> web.Response:
    rid = request.get(REQUEST_ID, "")
    headers = {"x-amz-request-id": rid, **getattr(err, "headers", {})}
    if err.status == 304:
        return web.Response(status=304, headers=headers)
    body = b"" if request.method == "HEAD" else s3xml.error_body(err, request.path, rid)
    return web.Response(status=err.status, body=body or None, headers=headers,
                        content_type="application/xml")


@web.middleware
async def s3_errors(request: web.Request, handler):
    try:
        response = await handler(request)
    except mallee_errors.ApiError as err:
        if err.status >= 500:
            log.warning("%s %s: %s", request.get(REQUEST_ID), err.code, err.message)
        return _render_error(request, err)
    except web.HTTPException:
        raise
    except CLIENT_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - the client gets a request id, the log the trace
        return _render_error(request, internal_error(request, exc))
    if not response.prepared:
        response.headers.setdefault("x-amz-request-id", request.get(REQUEST_ID, ""))
    return response


def service_hosts(settings: Settings) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in (settings.cloud.host, "localhost") if h))


async def s3_entry(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    settings: Settings = state["settings"]
    routing.check_utf8(request.headers, request.raw_path)
    target = routing.resolve(request.headers.get("Host", ""),
                             request.raw_path.split("?", 1)[0], state["hosts"])
    request[metrics.ACTION] = operation(target.level, request.method, request.query) \
        or metrics.UNKNOWN
    await cors_api.headers_for(request, state["store"], target.bucket)
    if request.method == "OPTIONS":
        auth = Authenticated(ANONYMOUS)  # a preflight is never signed: S3 answers it from CORS
    else:
        auth = await authenticate(request, target, state["creds"].lookup,
                                  settings.cloud.clock_skew_seconds)
    ctx = Ctx(request, target, auth, state["store"], state["creds"], settings, state["master"])
    return await dispatch(ctx)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _resources(settings: Settings, state: dict):
    async def ctx(app: web.Application):
        if state.get("db") is None:
            data = settings.data_dir("walrus")
            data.mkdir(parents=True, exist_ok=True)
            db = Database(data / "walrus.db")
            await db.open()
            blobs = BlobStore(data, db, settings.walrus.inline_max_bytes)
            blobs.setup()
            chunks = ChunkStore(data)
            await asyncio.to_thread(chunks.setup)
            store = Store(db, blobs, settings.walrus.max_buckets_per_account,
                          settings.walrus.max_bytes_per_account)
            removed = await store.sweep_orphans()
            if removed:
                log.info("removed %d unreferenced blobs left by an interrupted write", removed)
            box = SecretBox(settings.pki_dir)
            creds = CredentialStore(db, box)
            await creds.load()
            master = MasterKey.load(data, box)
            worker = LifecycleWorker(store, settings.walrus.lifecycle_day_seconds,
                                     settings.walrus.lifecycle_interval_seconds)
            worker.start()
            state.update(db=db, store=store, creds=creds, master=master, chunks=chunks, users=0,
                         lifecycle=worker)
        state["users"] += 1
        yield
        state["users"] -= 1
        if state["users"] == 0:
            await state.pop("lifecycle").stop()
            await state["store"].close()
            await state.pop("db").close()
    return ctx


STORE_GAUGES = (
    ("mallee_walrus_stored_bytes", "Bytes stored: objects, their versions, parts uploaded", ()),
    ("mallee_walrus_objects", "Objects: current versions, as ListObjects counts them", ()),
    ("mallee_walrus_buckets", "Buckets", ()),
)


def add_store_gauges(tier_metrics: metrics.TierMetrics, state: dict) -> None:
    """Walrus's totals at each scrape: three cheap reads (Store.totals), no object scan."""
    async def sample():
        totals = await state["store"].totals() if state.get("db") is not None else (0, 0, 0)
        return {name: {(): value} for (name, _, _), value in zip(STORE_GAUGES, totals)}
    tier_metrics.add_gauges(STORE_GAUGES, sample)


def create_apps(settings: Settings) -> tuple[web.Application, web.Application]:
    if settings.walrus.bucket_naming not in names.NAMING_RULES:
        raise SettingsError(f"[walrus] bucket_naming = {settings.walrus.bucket_naming!r} is "
                            f"not one of {', '.join(names.NAMING_RULES)}")
    if not 0 <= settings.walrus.inline_max_bytes <= SMALL_BLOB:
        raise SettingsError(f"[walrus] inline_max_bytes = {settings.walrus.inline_max_bytes} "
                            f"is not between 0 and {SMALL_BLOB}")
    # Both apps share one database and store, opened by whichever starts first.
    state = dict(settings=settings, hosts=service_hosts(settings), db=None)
    # auto_decompress off: S3 stores the bytes sent and keeps Content-Encoding (gzip...)
    # as the object's metadata; aiohttp would inflate them, or fail on a body that is not.
    # One registry for both sites; /metrics only on the RPC site (mutual TLS), since on
    # the S3 port every path is a bucket's or a key's: GET /metrics lists bucket "metrics".
    tier_metrics = metrics.TierMetrics("walrus")
    s3 = web.Application(middlewares=[request_id_middleware, tier_metrics.middleware, s3_errors],
                         client_max_size=1024 ** 4,
                         handler_args={"max_field_size": 65536, "auto_decompress": False})
    s3[STATE] = state
    s3.on_response_prepare.append(cors_api.add_headers)
    s3.cleanup_ctx.append(_resources(settings, state))
    s3.router.add_get("/healthz", healthz)
    # [\s\S], not ".": aiohttp matches the decoded path, and "." stops at a newline, so a
    # key holding "%0A" was aiohttp's bare 404 instead of an object.
    s3.router.add_route("*", r"/{tail:[\s\S]*}", s3_entry)

    rpc_app = rpc.rpc_application(tier_metrics)
    rpc_app.cleanup_ctx.append(_resources(settings, state))
    add_store_gauges(tier_metrics, state)
    resources = lambda: (state["creds"], state["store"], state["chunks"])  # noqa: E731
    rpc.add_rpc_routes(rpc_app, walrus_rpc.methods(resources))
    walrus_rpc.add_chunk_routes(rpc_app, resources)
    return s3, rpc_app


def sites(settings: Settings) -> list[Site]:
    s3, rpc_app = create_apps(settings)
    host = settings.cloud.host
    return [Site(s3, host, settings.walrus.port),
            Site(rpc_app, host, settings.walrus.rpc_port,
                 rpc.server_ssl_context(settings.pki_dir, "walrus"))]
