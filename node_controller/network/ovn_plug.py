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

from node_controller.network import namespace
from node_controller.network.commands import run
from node_controller.network.names import tap_name
from node_controller.network.ovn_chassis import OvnChassis
from node_controller.network.ovn_metadata import OvnMetadata


def vpc_port(spec: dict) -> dict | None:
    """The launch spec's OVN port ({"name", "mac", "private_ip", "subnet_id"}), if any."""
    return spec.get("vpc_port") or None


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

    async def create_tap(self, instance_id: str) -> str:
        tap = tap_name(instance_id)
        await asyncio.to_thread(namespace.create_tap, tap, None)
        return tap

    def _plug(self, instance_id: str, port: dict) -> None:
        tap = tap_name(instance_id)
        run("ip", "link", "set", tap, "up")
        self.chassis.plug(tap, port["name"], port["mac"])

    async def plug(self, spec: dict) -> None:
        await self.metadata.add(spec)  # before the guest asks for it
        await asyncio.to_thread(self._plug, spec["instance_id"], vpc_port(spec))

    def _unplug(self, instance_id: str) -> None:
        tap = tap_name(instance_id)
        self.chassis.unplug(tap)
        namespace.remove_link(tap, None)

    async def unplug(self, instance_id: str) -> None:
        await asyncio.to_thread(self._unplug, instance_id)
        await self.metadata.remove(instance_id)
