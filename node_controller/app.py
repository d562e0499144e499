"""The node controller: runs instances on this host; RPC for its CC."""
from __future__ import annotations

from aiohttp import web

from mallee import rpc
from mallee.service import Site
from mallee.settings import Settings
from node_controller.resources import free_disk_gb, host_capacity


def instance_dir(settings: Settings):
    return settings.data_dir("nc") / "instances"


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    capacity = host_capacity(settings.nc, instance_dir(settings))

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "nc", "node": settings.nc.name}

    async def describe_resource(params: dict, caller: str) -> dict:
        # Instances arrive with the compute issue; until then all capacity is free.
        disk_free = min(capacity.disk_gb, free_disk_gb(instance_dir(settings),
                                                       settings.nc.reserved_disk_gb))
        return {"name": settings.nc.name, "hypervisor": settings.nc.driver,
                "cores_total": capacity.cores, "cores_free": capacity.cores,
                "memory_total_mb": capacity.memory_mb, "memory_free_mb": capacity.memory_mb,
                "disk_total_gb": capacity.disk_gb, "disk_free_gb": disk_free,
                "instances": []}

    rpc.add_rpc_routes(app, {
        "health": rpc.method(health, "cc", "admin"),
        "describe_resource": rpc.method(describe_resource, "cc", "admin"),
    })
    return app


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.nc.port,
                 rpc.server_ssl_context(settings.pki_dir, "nc"))]
