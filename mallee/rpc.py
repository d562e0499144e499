"""Inter-tier RPC: `POST /rpc/v1/<method>` with a JSON body over mutual TLS, and a
few binary routes (`add_binary_route`: raw bytes, such as the SC's snapshot chunks).

Both ends present component certificates from the cloud's CA (mallee.pki),
each bound to one role (clc, cc, nc, walrus, sc, admin, monitor). The server knows its
caller by that role and each method names the callers it accepts; the client
names the role it means to reach and refuses, during the handshake, a server
whose certificate carries another. Tenants' certificates come from another CA
and serve as neither end. Errors travel as
{"error": {"code", "message"}} and come back out of the client as the same
ApiError class. Each tier wraps RpcClient in one typed client for the tier
below, so no handler builds URLs by hand.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from cryptography import x509

from mallee import errors
from mallee.metrics import ACTION, UNKNOWN, TierMetrics
from mallee.pki import component_role, role_host

log = logging.getLogger(__name__)

Handler = Callable[[dict, str], Awaitable[Any]]


@dataclass(frozen=True)
class RpcMethod:
    handler: Handler
    callers: frozenset[str]


def method(handler: Handler, *callers: str) -> RpcMethod:
    return RpcMethod(handler, frozenset(callers))


class RpcError(errors.ApiError):
    """An error from the far side whose code we have no class for."""


class Unreachable(RpcError):
    code = "Unreachable"
    status = 503


_BY_CODE = {cls.code: cls for cls in vars(errors).values()
            if isinstance(cls, type) and issubclass(cls, errors.ApiError)}


def _own_identity(ctx: ssl.SSLContext, pki_dir: Path, component: str) -> None:
    cert = pki_dir / f"{component}.pem"
    if component_role(x509.load_pem_x509_certificate(cert.read_bytes())) != component:
        raise errors.Unavailable(f"{cert} is not bound to its role (made before roles were): "
                                 "run `mallee init` to reissue it, then copy it to its host")
    ctx.load_cert_chain(cert, pki_dir / f"{component}-key.pem")


def server_ssl_context(pki_dir: Path, component: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki_dir / "ca.pem"))
    _own_identity(ctx, pki_dir, component)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ssl_context(pki_dir: Path, component: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki_dir / "ca.pem"))
    _own_identity(ctx, pki_dir, component)
    # The name checked is the peer's role (RpcClient sends role_host as the
    # server name), not its address: nodes are reached by bare IPs that change.
    ctx.check_hostname = True
    return ctx


@functools.lru_cache(maxsize=256)
def _role_of(der: bytes) -> str | None:
    return component_role(x509.load_der_x509_certificate(der))


def peer_name(request: web.Request) -> str | None:
    """The caller's role, or None when its certificate is not a component's."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    return _role_of(der) if der else None


def _error_response(err: errors.ApiError) -> web.Response:
    return web.json_response({"error": {"code": err.code, "message": err.message}},
                             status=err.status)


# RPC bodies carry whole launch batches and network views: well past aiohttp's 1 MiB.
MAX_BODY = 64 * 2**20


def rpc_application(metrics: TierMetrics | None = None,
                    serve_metrics: bool = True) -> web.Application:
    """An RPC server app: big bodies allowed, one log line per call with its request id;
    with `metrics`, each call counted by method, and (`serve_metrics`) GET /metrics
    answered to any caller with a component certificate of this cloud (docs/metrics.md)."""
    from mallee.service import request_id_middleware
    middlewares = [request_id_middleware] + ([metrics.middleware] if metrics else [])
    app = web.Application(client_max_size=MAX_BODY, middlewares=middlewares)
    if metrics is not None and serve_metrics:
        metrics.serve(app, allowed=lambda request: peer_name(request) is not None)
    return app


async def _guarded(request: web.Request, name: str, callers: frozenset[str],
                   run: Callable[[str], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Run `run(caller)` if the caller's role is one of `callers`; any error becomes
    the RPC error reply (the JSON methods and the binary routes share this)."""
    request[ACTION] = name  # a method of the tier's table: a bounded label
    caller = peer_name(request)
    if caller not in callers:
        return _error_response(errors.UnauthorizedOperation(
            f"{caller or 'a peer without a component certificate'} may not call {name}."))
    try:
        return await run(caller)
    except errors.ApiError as err:
        return _error_response(err)
    except Exception:
        log.exception("rpc %s failed", name)
        return _error_response(errors.InternalError())


def add_rpc_routes(app: web.Application, methods: dict[str, RpcMethod]) -> None:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        entry = methods.get(name)
        if entry is None:
            request[ACTION] = UNKNOWN
            return _error_response(errors.InvalidAction(f"No RPC method {name!r}."))

        async def run(caller: str) -> web.Response:
            try:
                params = await request.json() if request.can_read_body else {}
            except json.JSONDecodeError:
                raise errors.InvalidParameterValue("RPC body is not JSON.") from None
            if not isinstance(params, dict):
                raise errors.InvalidParameterValue("RPC body must be a JSON object.")
            return web.json_response({"result": await entry.handler(params, caller)})
        return await _guarded(request, name, entry.callers, run)

    app.router.add_post("/rpc/v1/{method}", dispatch)


BinaryHandler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


def add_binary_route(app: web.Application, verb: str, path: str, handler: BinaryHandler,
                     *callers: str) -> None:
    """A route under /rpc/v1/ whose bodies are raw bytes, not JSON (chunks of data):
    the same callers' check and error replies as the JSON methods. `handler(request,
    caller)` answers bytes (`binary_response`) or a JSON result (`result_response`)."""
    allowed = frozenset(callers)
    name = f"{verb} {path}"

    async def serve(request: web.Request) -> web.StreamResponse:
        return await _guarded(request, name, allowed, lambda caller: handler(request, caller))
    app.router.add_route(verb, "/rpc/v1/" + path, serve)


def binary_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/octet-stream")


def result_response(result: Any) -> web.Response:
    return web.json_response({"result": result})


class RpcClient:
    """Calls one peer's RPC methods; one connection pool per peer. `role` is the
    component it means to reach (each typed client sets it): a server whose
    certificate is not that role's is refused before anything is sent."""

    role: str | None = None

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext,
                 timeout: float = 30.0, role: str | None = None):
        self.role = role or self.role
        if self.role is None:
            raise TypeError("an RpcClient must name the role it means to reach")
        self.host, self.port = host, port
        self.endpoint = f"https://{host}:{port}"
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _request(self, verb: str, path: str, timeout: float | None,
                       **kwargs) -> tuple[aiohttp.ClientResponse, bytes]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl), timeout=self._timeout)
        if timeout:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        kwargs["server_hostname"] = role_host(self.role)
        try:
            async with self._session.request(verb, f"{self.endpoint}/rpc/v1/{path}",
                                             **kwargs) as resp:
                return resp, await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise Unreachable(f"{self.endpoint}: {describe_failure(exc)}") from exc

    def _result(self, name: str, resp: aiohttp.ClientResponse, raw: bytes) -> Any:
        """The reply's result, or its error raised as the same ApiError class."""
        try:
            body = json.loads(raw)
        except ValueError:
            raise Unreachable(f"{self.endpoint}: {name} answered HTTP {resp.status} with no "
                              f"RPC reply: {raw[:200]!r}") from None
        if "error" in body:
            code, message = body["error"]["code"], body["error"]["message"]
            cls = _BY_CODE.get(code)
            if cls is None:
                err = RpcError(message)
                err.code, err.status = code, resp.status
                raise err
            raise cls(message)
        return body["result"]

    async def call(self, name: str, timeout: float | None = None, **params) -> Any:
        resp, raw = await self._request("POST", name, timeout, json=params)
        return self._result(name, resp, raw)

    async def put_bytes(self, path: str, body: bytes, timeout: float | None = None) -> Any:
        """PUT raw bytes to a binary route (add_binary_route); its JSON result."""
        resp, raw = await self._request("PUT", path, timeout, data=body, headers={
            "Content-Type": "application/octet-stream"})
        return self._result(path, resp, raw)

    async def get_bytes(self, path: str, timeout: float | None = None) -> bytes:
        """GET a binary route's bytes (an error reply raises as `call`'s do)."""
        resp, raw = await self._request("GET", path, timeout)
        if resp.status == 200 and resp.content_type == "application/octet-stream":
            return raw
        return self._result(path, resp, raw)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"certificate rejected ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    return f"{type(exc).__name__}: {exc}"
