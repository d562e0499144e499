"""The storage controller (SC). Volumes arrive with the EBS issue; for now it
answers its health check over mutual TLS so the cloud's topology is complete."""
from __future__ import annotations

from aiohttp import web

from mallee import rpc
from mallee.service import Site
from mallee.settings import Settings


def create_app(settings: Settings) -> web.Application:
    app = rpc.rpc_application()

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "sc", "volumes": 0}

    rpc.add_rpc_routes(app, {"health": rpc.method(health, "clc", "cc", "admin")})
    return app


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.sc.port,
                 rpc.server_ssl_context(settings.pki_dir, "sc"))]
