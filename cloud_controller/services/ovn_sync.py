"""VPC mode: OVN's northbound database follows the CLC's (docs/vpc.md).

One loop makes OVN hold exactly the VPCs and subnets the database records
(`Northbound.converge`: add what is missing, remove Mallee-tagged rows
nothing records). It runs at start, after every change (`vpcs_changed`) and
every `[network] ovn_reconcile_seconds`, so a crash between the CLC's COMMIT
and its OVN write, an NB database that lost rows, or a row someone deleted
or added by hand are all put right by the same code. Changes that arrive
during a pass are handled by one more pass, not one each.
"""
from __future__ import annotations

import asyncio
import logging

from cloud_controller.ovn.northbound import AsyncNorthbound, Changes

log = logging.getLogger("mallee.clc.ovn")


class OvnSync:
    def __init__(self, vpcs, northbound: AsyncNorthbound, interval: float, vpcs_changed,
                 security=None, routing=None):
        self.vpcs = vpcs  # VpcService: the model
        self.security = security  # OvnSecurity: groups and network ACLs (ovn/security.py)
        self.routing = routing  # VpcRoutingModel: gateways, route tables, NAT, DHCP options
        self.northbound = northbound
        self.interval = interval
        self._wake = asyncio.Event()
        self._wake.set()  # the first pass at once
        self._started = 0  # passes begun
        self._waiting: list[tuple[int, asyncio.Future]] = []
        self.last_error: str | None = None
        self.last_changes = Changes()
        vpcs_changed.subscribe(self.kick)

    def kick(self) -> asyncio.Future:
        """Ask for a pass; the future is done (True if it succeeded) once a pass
        that began after this call has ended."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((self._started + 1, future))
        self._wake.set()
        return future

    async def run(self) -> None:
        # a node's chassis that comes or goes (SB) changes the gateways' chassis: a pass now
        loop = asyncio.get_running_loop()
        self.northbound.on_chassis_change(lambda: loop.call_soon_threadsafe(self.kick))
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            self._started += 1
            done = await self.converge_once()
            ready = [f for n, f in self._waiting if n <= self._started]
            self._waiting = [(n, f) for n, f in self._waiting if n > self._started]
            for future in ready:
                if not future.done():
                    future.set_result(done)

    async def converge_once(self) -> bool:
        try:
            routers, switches = await self.vpcs.ovn_model()
            security = await self.security.ovn_model() if self.security is not None else None
            routing = await self.routing.ovn_model() if self.routing is not None else None
            ports = await self.vpcs.ovn_ports()
            self.last_changes = await self.northbound.converge(routers, switches, security,
                                                               routing=routing, ports=ports)
        except Exception as exc:  # OVN away or refusing: the next pass tries again
            if self.last_error is None:
                log.warning("ovn: could not converge the NB database: %r", exc)
            self.last_error = repr(exc)
            return False
        if self.last_error is not None:
            log.info("ovn: the NB database follows again")
        self.last_error = None
        return True

    async def close(self) -> None:
        await self.northbound.close()
