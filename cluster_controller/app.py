"""The cluster controller: registers and polls its nodes; RPC for the CLC."""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from cluster_controller.launches import LaunchTracker
from cluster_controller.network import NetworkState
from cluster_controller.nodes import Node, NodeRegistry
from cluster_controller.scheduler import Scheduler
from mallee import errors
from mallee import rpc
from mallee.service import Site
from mallee.settings import Settings
from node_controller.client import NodeClient

REGISTRY = web.AppKey("registry", NodeRegistry)
LAUNCHES = web.AppKey("launches", LaunchTracker)
NETWORK = web.AppKey("network", NetworkState)


def create_app(settings: Settings) -> web.Application:
    app = rpc.rpc_application()
    tls = rpc.client_ssl_context(settings.pki_dir, "cc")

    async def lifecycle(app: web.Application):
        nodes = []
        for endpoint in settings.cc.nodes:
            host, port = endpoint.rsplit(":", 1)
            nodes.append(Node(endpoint, NodeClient(host, int(port), tls)))
        registry = NodeRegistry(nodes, settings.cc.poll_seconds)
        network = NetworkState(settings, registry)
        launches = LaunchTracker(registry, Scheduler(settings.cc.scheduler), network)
        registry.after_poll.append(launches.after_poll)
        registry.after_poll.append(network.after_poll)
        registry.after_poll.append(lambda: _prune(network, launches))
        registry.busy = lambda: bool(launches.launches)
        app[REGISTRY], app[LAUNCHES], app[NETWORK] = registry, launches, network
        await registry.poll_all()  # answer the first describe with real data
        task = asyncio.create_task(registry.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await network.close()
        await registry.close()

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "cc", "cluster": settings.cc.name}

    async def describe_resources(params: dict, caller: str) -> dict:
        network = app[NETWORK]
        return {"cluster": settings.cc.name, "zone": settings.cc.zone,
                "network": network.summary(),
                "nodes": [{**n.describe(), "network": network.node_state(n)}
                          for n in app[REGISTRY].nodes]}

    async def describe_instances(params: dict, caller: str) -> list[dict]:
        return app[LAUNCHES].describe()

    async def run_instances(params: dict, caller: str) -> list[dict]:
        return await app[LAUNCHES].run(params["instances"])

    async def terminate_instances(params: dict, caller: str) -> list[dict]:
        return await app[LAUNCHES].terminate(params["instance_ids"])

    async def apply_network(params: dict, caller: str) -> dict:
        return await app[NETWORK].apply(params.get("view"))

    async def describe_network(params: dict, caller: str) -> dict:
        return app[NETWORK].describe()

    def node_of(instance_id: str):
        node = app[LAUNCHES].node_of(instance_id)
        if node is None:
            raise errors.InvalidInstanceIDNotFound(f"No node runs {instance_id}.")
        return node

    async def reboot_instances(params: dict, caller: str) -> list[dict]:
        for instance_id in params["instance_ids"]:
            await node_of(instance_id).client.reboot_instance(instance_id)
        return [{"instance_id": i} for i in params["instance_ids"]]

    async def get_console_output(params: dict, caller: str) -> dict:
        return await node_of(params["instance_id"]).client.get_console_output(
            params["instance_id"])

    app.cleanup_ctx.append(lifecycle)
    rpc.add_rpc_routes(app, {
        "health": rpc.method(health, "clc", "admin"),
        "describe_resources": rpc.method(describe_resources, "clc", "admin"),
        "describe_instances": rpc.method(describe_instances, "clc", "admin"),
        "run_instances": rpc.method(run_instances, "clc"),
        "terminate_instances": rpc.method(terminate_instances, "clc", "admin"),
        "reboot_instances": rpc.method(reboot_instances, "clc"),
        "get_console_output": rpc.method(get_console_output, "clc", "admin"),
        "apply_network": rpc.method(apply_network, "clc"),
        "describe_network": rpc.method(describe_network, "clc", "admin"),
    })
    return app


async def _prune(network: NetworkState, launches: LaunchTracker) -> None:
    network.prune(set(launches.launches))


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.cc.port,
                 rpc.server_ssl_context(settings.pki_dir, "cc"))]
