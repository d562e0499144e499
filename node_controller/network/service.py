"""The NC's network service: the data plane plus the metadata responder, in
async form, and the status `describe_resource` reports.

Without a data plane (driver "fake", or [network] mode = "none") views are
only recorded: the CC side can be tested without namespaces.
NC shutdown stops the metadata responder but leaves the namespace, dnsmasq
and rules in place, so running guests keep their network across an NC
restart; `teardown_all(node)` (for `mallee down`) removes everything.
"""
from __future__ import annotations

import asyncio
import logging

from mallee import errors
from node_controller.network import namespace
from node_controller.network.commands import NetworkError
from node_controller.network.dataplane import DataPlane
from node_controller.network.metadata import (HOP_LIMIT, Caller, MetadataServer,
                                              create_metadata_app)
from node_controller.network.names import METADATA_IP, tap_name
from node_controller.network.port import Port
from node_controller.network.view import NetworkView, ViewError, parse_view

log = logging.getLogger(__name__)


class NodeNetwork:
    def __init__(self, plane: DataPlane | None, region: str = "mallee"):
        self.plane = plane
        self.region = region
        self.held: NetworkView | None = None  # the last view applied (or saved)
        self.error: str | None = None
        self._metadata: MetadataServer | None = None

    @property
    def version(self) -> int:
        return self.held.version if self.held else 0

    @property
    def enforcing(self) -> bool:
        return self.plane is not None

    def status(self) -> dict:
        return {"version": self.version, "epoch": self.held.epoch if self.held else "",
                "error": self.error}

    async def start(self, ports: list[Port] = ()) -> None:
        """Build (or adopt) the data plane, re-plug the guests that still run,
        re-apply the last view, and serve metadata."""
        if self.plane is None:
            return
        plane = self.plane
        try:
            await asyncio.to_thread(plane.ensure)
            saved = await asyncio.to_thread(plane.load_saved_view)
            await asyncio.to_thread(plane.rebuild, list(ports), saved)
            self.held = saved
            sock = await asyncio.to_thread(namespace.socket_in_namespace, plane.config.namespace,
                                           METADATA_IP, 80, HOP_LIMIT)
        except (NetworkError, OSError) as exc:
            # The NC still serves (terminate, console); launches with an
            # address fail with this reason, and `mallee status` shows it.
            self.error = f"data plane: {exc}"
            log.error("network data plane not ready: %s", exc)
            return
        self._metadata = MetadataServer(create_metadata_app(self._caller))
        await self._metadata.start(sock)
        log.info("data plane %s ready (%d guest(s), view %d)", plane.config.namespace,
                 len(ports), self.version)

    def _caller(self, ip: str) -> Caller | None:
        port = self.plane.port_by_ip(ip) if self.plane else None
        if port is None:
            return None
        return Caller(port.spec, port.private_ip, port.public_ip, self.plane.config.subnet,
                      self.region, port.tokens_required, port.hop_limit)

    async def close(self) -> None:
        if self._metadata is not None:
            await self._metadata.close()

    # -- the CC's view --------------------------------------------------------
    async def apply(self, raw: dict) -> dict:
        try:
            view = parse_view(raw)
        except ViewError as exc:
            raise errors.InvalidParameterValue(f"network view: {exc}") from None
        if not view.supersedes(self.held):
            return {"version": self.version, "applied": False}
        if self.held is not None and view.epoch != self.held.epoch:
            log.warning("network view %d of another cloud (epoch %s) replaces view %d of "
                        "epoch %s", view.version, view.epoch or "-", self.held.version,
                        self.held.epoch or "-")
        if self.plane is not None:
            try:
                seconds = await asyncio.to_thread(self.plane.apply_view, view, raw)
            except NetworkError as exc:
                self.error = f"view {view.version}: {exc}"
                log.error("network view %d not applied: %s", view.version, exc)
                raise errors.InternalError(f"Network view {view.version} could not be "
                                           f"applied on this node: {exc}") from None
            log.info("network view %d applied in %.3fs", view.version, seconds)
        self.held, self.error = view, None
        return {"version": self.version, "applied": True}

    # -- guests ---------------------------------------------------------------
    async def create_tap(self, instance_id: str) -> str:
        tap = tap_name(instance_id)
        await asyncio.to_thread(namespace.create_tap, tap, self.plane.config.namespace)
        return tap

    async def plug(self, spec: dict) -> None:
        await asyncio.to_thread(self.plane.plug, Port.from_spec(spec))

    async def unplug(self, instance_id: str) -> None:
        if self.plane is not None:
            await asyncio.to_thread(self.plane.unplug, instance_id)
