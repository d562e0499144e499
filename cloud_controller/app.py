"""The cloud controller: the EC2 Query API on :8773 and the authoritative DB."""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from cloud_controller import rpc as clc_rpc
from cloud_controller.api import frontdoor
from cloud_controller.bootstrap import database_path
from cloud_controller.db import open_database
from cloud_controller.db.instances import InstanceRepository
from cloud_controller.services.accounts import AccountService
from cloud_controller.services.addresses import AddressService
from cloud_controller.services.boot_volumes import BootVolumes
from cloud_controller.services.image_capture import ImageCapture
from cloud_controller.services.attachments import AttachmentService, VolumeAttacher
from cloud_controller.services.cloud import Cloud
from cloud_controller.services.clusters import ClusterMonitor, ClusterState
from cloud_controller.services.images import ImageService
from cloud_controller.services.instance_attributes import InstanceAttributeService
from cloud_controller.services.instances import InstanceService
from cloud_controller.services.keypairs import KeyPairService
from cloud_controller.services.metrics import MetricsService
from cloud_controller.services.launcher import Launcher
from cloud_controller.services.lifecycle import TRANSITIONS
from cloud_controller.services.network_view import NetworkViews
from cloud_controller.services.notify import ChangeNotifier
from cloud_controller.services.network_acls import NetworkAclService
from cloud_controller.services.network_interfaces import NetworkInterfaceService
from cloud_controller.services.ovn_security import OvnSecurity
from cloud_controller.services.ovn_sync import OvnSync
from cloud_controller.services.vpc_attributes import VpcAttributeService
from cloud_controller.services.vpc_parts import VpcParts
from cloud_controller.services.vpc_routing_model import VpcRoutingModel
from cloud_controller.ovn.northbound import AsyncNorthbound
from cloud_controller.services.reconcile import Reconciler
from cloud_controller.services.security_groups import SecurityGroupService
from cloud_controller.services.storage import ObjectStore
from cloud_controller.services.tags import TagService
from cloud_controller.services.snapshots import SnapshotService
from cloud_controller.services.volumes import VolumeService
from cloud_controller.services.vpcs import VpcService
from cloud_controller.services.walrus_sync import WalrusSync
from cluster_controller.client import ClusterClient
from ebs.client import StorageClient
from mallee.metrics import TierMetrics
from mallee.ovn_central import OvnCentral
from mallee.pki import SecretBox
from mallee.rpc import add_rpc_routes, client_ssl_context, rpc_application, server_ssl_context
from mallee.service import Site, request_id_middleware
from mallee.settings import Settings
from walrus.rpc_client import WalrusClient


async def open_cloud(settings: Settings) -> Cloud:
    """Every CLC service, each built from the ones it uses (in that order)."""
    db = await open_database(database_path(settings))
    tls = client_ssl_context(settings.pki_dir, "clc")
    # What changed, for those who must learn it: Walrus the keys, the nodes the network.
    credentials_changed = ChangeNotifier("credentials")
    network_changed = ChangeNotifier("network")
    vpcs_changed = ChangeNotifier("vpcs")  # VPC mode: OVN's NB database follows

    accounts = AccountService(db, SecretBox(settings.pki_dir), settings.pki_dir,
                              credentials_changed)
    walrus = WalrusSync(accounts, WalrusClient(settings.cloud.host, settings.walrus.rpc_port, tls),
                        settings.clc.poll_seconds, credentials_changed)
    clusters = ClusterMonitor(
        [ClusterState(ref, ClusterClient(ref.host, ref.port, tls)) for ref in settings.clusters],
        settings.clc.poll_seconds)
    store = ObjectStore(f"http://{settings.cloud.host}:{settings.walrus.port}", settings.cloud.region)
    tags = TagService(db)
    keypairs = KeyPairService(db, tags)
    storage = StorageClient(settings.cloud.host, settings.sc.port, tls)
    snapshots = SnapshotService(db, settings, tags, storage)
    volumes = VolumeService(db, settings, clusters, tags, storage, snapshots)
    images = ImageService(db, store, accounts, snapshots)
    vpcs = VpcService(db, settings, clusters, tags, vpcs_changed)
    security_groups = SecurityGroupService(db, vpcs, tags, network_changed)
    network_acls = NetworkAclService(db, vpcs, tags)  # own VPCs' (vpc mode)
    vpc_attributes = VpcAttributeService(db, vpcs)
    addresses = AddressService(db, settings, clusters, tags, network_changed)
    interfaces = NetworkInterfaceService(db, vpcs, security_groups, tags)  # own subnets'
    vpc_parts = VpcParts.build(db, settings, vpcs, tags, addresses, interfaces)
    ovn = None
    if settings.network.mode == "vpc":  # the NB database of the central `mallee up` runs
        central = OvnCentral.of(settings)
        ovn = OvnSync(vpcs, AsyncNorthbound(central.nb.remote, sb_remote=central.sb.remote),
                      settings.network.ovn_reconcile_seconds, vpcs_changed,
                      security=OvnSecurity(vpcs, security_groups, network_acls,
                                           ports_of=vpcs.group_ports),
                      routing=VpcRoutingModel(settings, vpcs, vpc_parts))
    launcher = Launcher(db, settings, clusters, store, images, accounts.system_credential,
                        BootVolumes(db, volumes))
    instances = InstanceService(db, settings, images=images, keypairs=keypairs, tags=tags,
                                security_groups=security_groups, addresses=addresses,
                                clusters=clusters, launcher=launcher,
                                network_changed=network_changed, vpcs=vpcs,
                                interfaces=interfaces)
    attachments = AttachmentService(db, volumes, VolumeAttacher(clusters, storage))
    network = NetworkViews(db, settings, clusters, instances=instances,
                           security_groups=security_groups, network_changed=network_changed)
    instance_attributes = InstanceAttributeService(
        db, settings, instances=instances, images=images, security_groups=security_groups,
        attachments=attachments, network_changed=network_changed, vpcs=vpcs)

    # After each poll of a CC, in this order: instance rows follow what the nodes report,
    # ended instances give their addresses back, then the view is pushed if it changed.
    clusters.after_poll.append(Reconciler(
        db, launcher, clusters, settings.clc.resend_after_seconds,
        settings.clc.unknown_grace_seconds, stop_on_shutdown=instances.stop_on_shutdown,
        stopped=attachments.end_exports).reconcile)
    clusters.after_poll.append(addresses.sweep)
    clusters.after_poll.append(attachments.sweep)
    clusters.after_poll.append(interfaces.sweep)
    clusters.after_poll.append(network.after_poll)
    metrics = MetricsService(db, settings)
    clusters.after_poll.append(metrics.after_poll)
    return Cloud(settings, db, accounts, keypairs, tags, clusters, walrus, images, instances,
                 launcher, vpcs=vpcs, security_groups=security_groups, addresses=addresses,
                 network=network, volumes=volumes, attachments=attachments,
                 snapshots=snapshots, instance_attributes=instance_attributes,
                 image_capture=ImageCapture(instances, images, snapshots, attachments, volumes),
                 ovn=ovn, network_acls=network_acls,
                 vpc_attributes=vpc_attributes, vpc_parts=vpc_parts,
                 network_interfaces=interfaces, metrics=metrics)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "component": "clc"})


METRICS = web.AppKey("metrics", TierMetrics)


def add_instance_gauges(metrics: TierMetrics, cloud: Cloud) -> None:
    """Instances by state, every account's together (no tenant label), counted by
    the database at each scrape (aiosqlite's thread: the loop does not wait on it)."""
    repo = InstanceRepository(cloud.db)

    async def sample():
        counts = dict.fromkeys(TRANSITIONS, 0) | await repo.count_by_state()
        return {"mallee_clc_instances": {(state,): n for state, n in counts.items()}}
    metrics.add_gauges((("mallee_clc_instances", "Instances by state", ("state",)),), sample)


def create_app(settings: Settings) -> web.Application:
    metrics = TierMetrics("clc")
    app = web.Application(
        middlewares=[request_id_middleware, metrics.middleware, frontdoor.error_middleware,
                     frontdoor.auth_middleware],
        client_max_size=settings.cloud.max_request_bytes + 1,
        # Bodies as sent: SigV4 signs the compressed bytes; the front door inflates.
        handler_args={"auto_decompress": False})
    app[METRICS] = metrics
    app[frontdoor.LIMITER] = frontdoor.RateLimiter(settings.clc.rate_limit_per_second)

    async def lifecycle(app: web.Application):
        cloud = await open_cloud(settings)
        app[frontdoor.CLOUD] = cloud
        cloud.clusters.round_observers.append(metrics.observe_poll)
        add_instance_gauges(metrics, cloud)
        await cloud.volumes.resume()  # what a CLC that stopped left half done
        await cloud.snapshots.resume()
        await cloud.attachments.resume()
        await cloud.image_capture.resume()
        tasks = [asyncio.create_task(cloud.clusters.run()), asyncio.create_task(cloud.walrus.run())]
        if cloud.ovn is not None:
            tasks.append(asyncio.create_task(cloud.ovn.run()))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await cloud.launcher.close()
        await cloud.image_capture.close()
        await cloud.attachments.close()
        await cloud.snapshots.close()
        await cloud.volumes.close()  # and the SC's client, which snapshots share
        await cloud.network.close()
        if cloud.ovn is not None:
            await cloud.ovn.close()
        await cloud.clusters.close()
        await cloud.walrus.client.close()
        await cloud.db.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", health)
    metrics.serve(app)  # unsigned: aggregates only (docs/metrics.md, "Who may read")
    for path in frontdoor.EC2_PATHS:
        for variant in {path, path.rstrip("/") + "/"}:
            app.router.add_route("GET", variant, frontdoor.handle)
            app.router.add_route("POST", variant, frontdoor.handle)
    return app


def create_rpc_app(ec2_app: web.Application) -> web.Application:
    """The admin RPC site; it serves the cloud that the EC2 app opened."""
    app = rpc_application(ec2_app[METRICS], serve_metrics=False)  # counted, served by EC2's
    add_rpc_routes(app, clc_rpc.methods(lambda: ec2_app[frontdoor.CLOUD].accounts))
    return app


def sites(settings: Settings) -> list[Site]:
    ec2 = create_app(settings)  # started first: its start-up opens the cloud
    return [Site(ec2, settings.cloud.host, settings.clc.port),
            Site(create_rpc_app(ec2), settings.cloud.host, settings.clc.rpc_port,
                 server_ssl_context(settings.pki_dir, "clc"))]
