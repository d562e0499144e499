"""VPC mode on the node: a guest NIC whose logical switch port lives in OVN
(docs/vpc.md). The NC's only network work for it is this: a fresh tap for
QEMU to open (as for EDGE, `managed='no'`, checksum offload off on the host
side: DESIGN.md "VPC on OVN"), made a port of br-int with
`external_ids:iface-id` = the logical port's name while the guest is still
paused, and removed again when the guest ends. Addresses, DHCP, routing and
isolation are OVN's (ovn-controller programs br-int); no EDGE tap, lease or
iptables rule is made for such a guest. Metadata for it: network/ovn_metadata.py."""
from __future__ import annotations

import asyncio
from pathlib import Path

from node_controller.network import namespace
from node_controller.network.commands import run
from node_controller.network.names import MAX_NICS, nic_tap_name
from node_controller.network.ovn_chassis import OvnChassis
from node_controller.network.ovn_metadata import OvnMetadata


def vpc_port(spec: dict) -> dict | None:
    """The launch spec's primary OVN port ({"name", "mac", "private_ip", "subnet_id"}),
    if any."""
    return spec.get("vpc_port") or None


def vpc_ports(spec: dict) -> list[dict]:
    """Every NIC's OVN port, in device-index order (a spec from before several NICs
    carries only its primary one)."""
    ports = spec.get("vpc_ports")
    if ports:
        return sorted(ports, key=lambda p: p.get("device_index") or 0)
    port = vpc_port(spec)
    return [{**port, "device_index": 0}] if port else []


def nic_taps(spec: dict) -> list[tuple[str, dict]]:
    """(tap, port) of each NIC, in device-index order: the domain's interfaces."""
    return [(nic_tap_name(spec["instance_id"], p.get("device_index") or 0), p)
            for p in vpc_ports(spec)]


class OvnPlug:
    def __init__(self, chassis: OvnChassis, region: str):
        self.chassis = chassis
        self.metadata = OvnMetadata(chassis, region)  # per subnet with guests here

    async def start(self, specs: list[dict]) -> None:
        """NC start: metadata again for the guests that still run on br-int."""
        for spec in specs:
            await self.metadata.add(spec)

    async def close(self) -> None:
        await self.metadata.close()

    async def create_taps(self, spec: dict) -> list[str]:
        """A fresh tap for each NIC, in device-index order (QEMU opens them)."""
        taps = [tap for tap, _ in nic_taps(spec)]
        for tap in taps:
            await asyncio.to_thread(namespace.create_tap, tap, None)
        return taps

    def _plug(self, spec: dict) -> None:
        for tap, port in nic_taps(spec):
            run("ip", "link", "set", tap, "up")
            self.chassis.plug(tap, port["name"], port["mac"])

    async def plug(self, spec: dict) -> None:
        await self.metadata.add(spec)  # before the guest asks for it
        await asyncio.to_thread(self._plug, spec)

    def _unplug(self, instance_id: str) -> None:
        """Every NIC the instance may have had (its spec may be gone after a restart)."""
        taps = [nic_tap_name(instance_id, i) for i in range(MAX_NICS)]
        on_bridge = set(self.chassis.ports())
        for tap in taps:
            if tap in on_bridge:
                self.chassis.unplug(tap)
            if tap == taps[0] or Path("/sys/class/net", tap).exists():
                namespace.remove_link(tap, None)

    async def unplug(self, instance_id: str) -> None:
        await asyncio.to_thread(self._unplug, instance_id)
        await self.metadata.remove(instance_id)
