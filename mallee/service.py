"""Running a component: its listening sites, logging, and the health check.

Every component package has `sites(settings) -> list[Site]`; `mallee serve X`
and the in-process test cloud both start those sites the same way.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from mallee import errors, ids
from mallee.settings import Settings

log = logging.getLogger(__name__)

REQUEST_ID = web.RequestKey("request_id", str)


@dataclass
class Site:
    app: web.Application
    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None


async def start_sites(sites: list[Site]) -> list[web.AppRunner]:
    runners = []
    for site in sites:
        runner = web.AppRunner(site.app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, site.host, site.port, ssl_context=site.ssl_context,
                          reuse_address=True).start()
        runners.append(runner)
    return runners


async def stop_sites(runners: list[web.AppRunner]) -> None:
    for runner in reversed(runners):
        await runner.cleanup()


def setup_logging(settings: Settings, component: str, to_file: bool = True) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if to_file:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(settings.log_dir / f"{component}.log")]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format=f"%(asctime)s {component} %(levelname)s %(name)s: %(message)s")


def serve_forever(sites_factory: Callable[[Settings], list[Site]], settings: Settings) -> None:
    async def main():
        runners = await start_sites(sites_factory(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("listening on %s", ", ".join(
            f"{r.addresses[0][0]}:{r.addresses[0][1]}" for r in runners if r.addresses))
        await stop.wait()
        log.info("stopping")
        await stop_sites(runners)
    asyncio.run(main())


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    """First middleware: every request gets an id, logged with its outcome."""
    rid = ids.request_id()
    request[REQUEST_ID] = rid
    started = time.monotonic()
    response = None
    try:
        response = await handler(request)
        return response
    finally:
        status = response.status if response is not None else 500
        log.info("%s %s %s %s %.1fms", rid, request.method, request.path_qs[:200], status,
                 (time.monotonic() - started) * 1000)
        if response is not None and not response.prepared:
            response.headers.setdefault("x-amzn-RequestId", rid)


def internal_error(request: web.Request, exc: BaseException) -> errors.ApiError:
    log.error("%s unhandled error", request.get(REQUEST_ID), exc_info=exc)
    return errors.InternalError(
        f"An internal error occurred; quote request id {request.get(REQUEST_ID)} to the operator.")
