"""The node controller: runs instances on this host; RPC for its CC
(node_controller/rpc.py). This module only wires them together."""
from __future__ import annotations

import asyncio

from aiohttp import web

from mallee import rpc
from mallee.files import private_dir
from mallee.iscsi import node_initiator
from mallee.metrics import TierMetrics
from mallee.service import Site
from mallee.settings import Settings
from node_controller import rpc as nc_rpc
from node_controller.guest_metrics import GuestSampler
from node_controller.hypervisor import FakeDriver, HostInfo, Hypervisor
from node_controller.imagecache import ImageCache
from node_controller.instances import InstanceManager, add_guest_gauges
from node_controller.network import DataPlane, NetworkConfig
from node_controller.network.ovn_chassis import OvnChassis
from node_controller.network.ovn_plug import OvnPlug
from node_controller.network.service import NodeNetwork
from node_controller.resources import Capacity, host_capacity
from node_controller.volumes import Attachments

MANAGER = web.AppKey("instances", InstanceManager)
ATTACHMENTS = web.AppKey("attachments", Attachments)
NETWORK = web.AppKey("network", NodeNetwork)
SAMPLER = web.AppKey("sampler", GuestSampler)


def make_driver(settings: Settings, capacity: Capacity) -> Hypervisor:
    if settings.nc.driver == "fake":
        return FakeDriver(HostInfo(capacity.cores, capacity.memory_mb, "fake"),
                          boot_seconds=settings.nc.fake_boot_seconds,
                          guest_load=settings.nc.fake_guest_load)
    if settings.nc.driver == "libvirt":
        from node_controller.hypervisor.libvirt_driver import LibvirtDriver
        return LibvirtDriver(settings.nc.libvirt_uri, domain_type=settings.nc.domain_type or None)
    raise ValueError(f"unknown hypervisor driver {settings.nc.driver!r} (libvirt or fake)")


def make_network(settings: Settings) -> NodeNetwork:
    """The EDGE data plane for real guests; with the fake driver views are only recorded."""
    if settings.nc.driver == "fake":
        return NodeNetwork(None, settings.cloud.region)
    return NodeNetwork(DataPlane(NetworkConfig.from_settings(settings),
                                 settings.nc.state_path / "network"),
                       settings.cloud.region)


def make_ovn_plug(settings: Settings) -> OvnPlug | None:
    """VPC mode with real guests: NICs on this node's br-int (the chassis that
    `mallee up` or the test cloud started, network/ovn_chassis.py)."""
    if settings.network.mode != "vpc" or settings.nc.driver == "fake":
        return None
    return OvnPlug(OvnChassis.of(settings), settings.cloud.region)


def create_app(settings: Settings) -> web.Application:
    metrics = TierMetrics("nc")
    app = rpc.rpc_application(metrics)
    nc = settings.nc
    state = nc.state_path

    async def lifecycle(app: web.Application):
        private_dir(state, 0o711)  # tenants' data below; QEMU's user and dnsmasq pass through
        capacity = host_capacity(nc, state)
        driver = make_driver(settings, capacity)
        cache = ImageCache(state / "cache", nc.image_cache_gb * 2**30,
                           settings.pki_dir / "cloud-pk.pem")
        network = make_network(settings)
        ovn = make_ovn_plug(settings)
        manager = InstanceManager(driver, cache, state / "instances", capacity, network,
                                  node_initiator(nc.name), ovn)
        cache.in_use = manager.in_use
        await manager.recover()
        await network.start(manager.network_ports())
        if ovn is not None:
            await ovn.start(manager.ovn_specs())
        manager.finish_launches()  # after the data plane: they plug their taps
        app[MANAGER], app[NETWORK] = manager, network
        add_guest_gauges(metrics, manager)
        app[ATTACHMENTS] = Attachments(manager, nc.name)
        # Learn now, not at the first launch, whether KVM works (the probe boots a guest).
        probe = asyncio.create_task(asyncio.to_thread(lambda: driver.host_info()))
        consoles = asyncio.create_task(manager.keep_consoles_bounded())
        app[SAMPLER] = GuestSampler(driver, manager.running_ids, nc.metrics_seconds,
                                    nc.metrics_ring)
        sampling = asyncio.create_task(app[SAMPLER].run())
        yield
        probe.cancel()
        consoles.cancel()
        sampling.cancel()
        await network.close()  # the data plane stays: guests keep their network
        if ovn is not None:
            await ovn.close()  # br-int and its ports stay; metadata stops, as EDGE's
        await cache.close()

    app.cleanup_ctx.append(lifecycle)
    rpc.add_rpc_routes(app, nc_rpc.methods(settings, lambda: (app[MANAGER], app[NETWORK],
                                                             app[ATTACHMENTS], app[SAMPLER])))
    return app


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.nc.port,
                 rpc.server_ssl_context(settings.pki_dir, "nc"))]
