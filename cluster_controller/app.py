"""The cluster controller: registers and polls its nodes; RPC for the CLC."""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from cluster_controller.nodes import Node, NodeRegistry
from mallee import rpc
from mallee.service import Site
from mallee.settings import Settings
from node_controller.client import NodeClient

REGISTRY = web.AppKey("registry", NodeRegistry)


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    tls = rpc.client_ssl_context(settings.pki_dir, "cc")

    async def lifecycle(app: web.Application):
        nodes = []
        for endpoint in settings.cc.nodes:
            host, port = endpoint.rsplit(":", 1)
            nodes.append(Node(endpoint, NodeClient(host, int(port), tls)))
        registry = NodeRegistry(nodes, settings.cc.poll_seconds)
        app[REGISTRY] = registry
        await registry.poll_all()  # answer the first describe with real data
        task = asyncio.create_task(registry.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await registry.close()

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "cc", "cluster": settings.cc.name}

    async def describe_resources(params: dict, caller: str) -> dict:
        return {"cluster": settings.cc.name, "zone": settings.cc.zone,
                "nodes": [n.describe() for n in app[REGISTRY].nodes]}

    app.cleanup_ctx.append(lifecycle)
    rpc.add_rpc_routes(app, {
        "health": rpc.method(health, "clc", "admin"),
        "describe_resources": rpc.method(describe_resources, "clc", "admin"),
    })
    return app


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.cc.port,
                 rpc.server_ssl_context(settings.pki_dir, "cc"))]
