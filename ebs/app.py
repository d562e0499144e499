"""The storage controller (SC): block volumes as sparse files exported over iSCSI by
a tgtd it starts and watches, and their snapshots in Walrus (docs/ebs.md); RPC in
ebs/rpc.py. This module only wires them together."""
from __future__ import annotations

import asyncio

from aiohttp import web

from ebs import rpc as sc_rpc
from ebs.metadata import Metadata
from ebs.snapshots import Snapshots
from ebs.tgt import Tgt
from ebs.volumes import Volumes
from mallee import rpc
from mallee.files import private_dir
from mallee.metrics import TierMetrics
from mallee.pki import SecretBox
from mallee.service import Site
from mallee.settings import Settings
from walrus.rpc_client import WalrusClient

VOLUMES = web.AppKey("volumes", Volumes)
SNAPSHOTS = web.AppKey("snapshots", Snapshots)
TGTD_WATCH_SECONDS = 2.0


def make_volumes(settings: Settings, meta: Metadata) -> Volumes:
    sc = settings.sc
    data = settings.data_dir("sc")
    portal = f"{sc.iscsi_host or settings.cloud.host}:{sc.iscsi_port}"
    tgt = Tgt(portal, sc.tgt_control_port, settings.log_dir / "tgtd.log", sc.target_prefix)
    return Volumes(meta, tgt, data / "volumes", SecretBox(settings.pki_dir), sc.target_prefix)


VOLUME_STATES = ("creating", "available", "error")  # Volume.state
SNAPSHOT_STATES = ("pending", "completed", "error")  # Snapshot.state
SC_GAUGES = (
    ("mallee_sc_volumes", "Volumes by state", ("state",)),
    ("mallee_sc_volume_bytes", "Provisioned size of the volumes, by state", ("state",)),
    ("mallee_sc_snapshots", "Snapshots by state", ("state",)),
    ("mallee_sc_exports", "Volume exports to nodes (iSCSI targets' initiator ACLs)", ()),
)


def add_storage_gauges(metrics: TierMetrics, meta: Metadata) -> None:
    async def sample():
        volumes, snapshots, exports = await meta.totals()
        volumes = {s: (0, 0) for s in VOLUME_STATES} | volumes
        snapshots = dict.fromkeys(SNAPSHOT_STATES, 0) | snapshots
        return {"mallee_sc_volumes": {(s,): n for s, (n, _) in volumes.items()},
                "mallee_sc_volume_bytes": {(s,): gib * 2**30 for s, (_, gib) in volumes.items()},
                "mallee_sc_snapshots": {(s,): n for s, n in snapshots.items()},
                "mallee_sc_exports": {(): exports}}
    metrics.add_gauges(SC_GAUGES, sample)


def create_app(settings: Settings) -> web.Application:
    metrics = TierMetrics("sc")
    app = rpc.rpc_application(metrics)

    async def lifecycle(app: web.Application):
        data = private_dir(settings.data_dir("sc"))
        meta = Metadata(data / "sc.db")
        await meta.open()
        add_storage_gauges(metrics, meta)
        volumes = make_volumes(settings, meta)
        await volumes.start()
        app[VOLUMES] = volumes
        # Snapshot chunks go to Walrus's RPC port as role sc (docs/ebs.md, "Snapshots").
        walrus = WalrusClient(settings.cloud.host, settings.walrus.rpc_port,
                              rpc.client_ssl_context(settings.pki_dir, "sc"))
        snapshots = Snapshots(meta, volumes, walrus, data / "snapshots")
        await snapshots.start()
        app[SNAPSHOTS] = snapshots
        watch = asyncio.create_task(volumes.watch_tgtd(TGTD_WATCH_SECONDS))
        yield
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await snapshots.stop()
        await meta.close()  # tgtd stays: guests keep their disks through an SC restart

    app.cleanup_ctx.append(lifecycle)
    rpc.add_rpc_routes(app, sc_rpc.methods(lambda: app[VOLUMES], lambda: app[SNAPSHOTS]))
    return app


def sites(settings: Settings) -> list[Site]:
    return [Site(create_app(settings), settings.cloud.host, settings.sc.port,
                 rpc.server_ssl_context(settings.pki_dir, "sc"))]
