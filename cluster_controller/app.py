"""The cluster controller: registers and polls its nodes; RPC for the CLC
(cluster_controller/rpc.py). This module only wires them together."""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from cluster_controller import rpc as cc_rpc
from cluster_controller.launches import LaunchTracker
from cluster_controller.metrics_relay import MetricsRelay
from cluster_controller.network import NetworkState
from cluster_controller.nodes import Node, NodeRegistry, add_node_gauges
from cluster_controller.placement import PowerStates, Rebalancer, command_argv
from cluster_controller.scheduler import Scheduler
from ebs.client import StorageClient
from mallee import rpc
from mallee.metrics import TierMetrics
from mallee.placement import PolicyError
from mallee.service import Site
from mallee.settings import Settings, SettingsError
from node_controller.client import NodeClient

REGISTRY = web.AppKey("registry", NodeRegistry)
LAUNCHES = web.AppKey("launches", LaunchTracker)
NETWORK = web.AppKey("network", NetworkState)
REBALANCER = web.AppKey("rebalancer", Rebalancer)


def scheduler_of(settings: Settings) -> Scheduler:
    """The configured policy, loaded at start-up (SettingsError naming the setting)."""
    try:
        scheduler = Scheduler(settings.cc.scheduler)
    except PolicyError as err:
        raise SettingsError(f"[cc] scheduler (MALLEE_CC_SCHEDULER): {err}") from err
    try:
        command_argv(settings.cc.power_command, "n", "h:1", "off")
    except (KeyError, IndexError, ValueError) as err:
        raise SettingsError(f"[cc] power_command {list(settings.cc.power_command)!r}: "
                            f"unknown placeholder {err} (use {{node}}, {{endpoint}}, "
                            "{action})") from err
    return scheduler


def create_app(settings: Settings) -> web.Application:
    metrics = TierMetrics("cc")
    app = rpc.rpc_application(metrics)
    scheduler = scheduler_of(settings)
    power = PowerStates(settings.data_dir("cc") / settings.cc.name / "power.json")
    tls = rpc.client_ssl_context(settings.pki_dir, "cc")

    async def lifecycle(app: web.Application):
        nodes = []
        for endpoint in settings.cc.nodes:
            host, port = endpoint.rsplit(":", 1)
            nodes.append(Node(endpoint, NodeClient(host, int(port), tls)))
        power.apply(nodes)
        # Fast polls while launches are in flight (launches is made below: it needs the registry).
        registry = NodeRegistry(nodes, settings.cc.poll_seconds,
                                launching=lambda: bool(launches.launches),
                                relay=MetricsRelay(settings.cc.metrics_buffer))
        network = NetworkState(settings, registry)
        storage = StorageClient(settings.cloud.host, settings.sc.port,
                                rpc.client_ssl_context(settings.pki_dir, "cc"))
        launches = LaunchTracker(registry, scheduler, network,
                                 settings.cc.unconfirmed_grace_seconds, storage)
        rebalancer = Rebalancer(scheduler.policy, registry, launches, power,
                                settings.cc.power_command,
                                settings.cc.power_command_timeout_seconds)
        registry.after_poll.append(launches.after_poll)
        registry.after_poll.append(network.after_poll)
        registry.after_poll.append(lambda node: _prune(network, launches))
        registry.round_observers.append(metrics.observe_poll)
        add_node_gauges(metrics, registry)
        app[REGISTRY], app[LAUNCHES], app[NETWORK] = registry, launches, network
        app[REBALANCER] = rebalancer
        await registry.poll_all()  # answer the first describe with real data
        tasks = [asyncio.create_task(registry.run())]
        if settings.cc.rebalance_seconds > 0:
            tasks.append(asyncio.create_task(rebalancer.run(settings.cc.rebalance_seconds)))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await network.close()
        await registry.close()
        await storage.close()

    app.cleanup_ctx.append(lifecycle)
    rpc.add_rpc_routes(app, cc_rpc.methods(settings, lambda: (
        app[REGISTRY], app[LAUNCHES], app[NETWORK], app[REBALANCER])))
    return app


async def _prune(network: NetworkState, launches: LaunchTracker) -> None:
    network.prune(set(launches.launches))


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.cc.port,
                 rpc.server_ssl_context(settings.pki_dir, "cc"))]
