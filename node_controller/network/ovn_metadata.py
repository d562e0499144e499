"""Instance metadata for guests in own subnets (VPC mode, docs/vpc.md).

Each own subnet has a logical localport `mallee-md-<subnet>` answering for
169.254.169.254, which OVN's DHCP tells guests is on the link. On a node
with guests in that subnet the NC plugs a namespace of its own as that port
(every chassis binds its own copy of a localport, so a request never leaves
the node) and serves the same metadata app as EDGE's in it. A namespace
serves one subnet only, and port security keeps a guest from sending with
another's address, so the caller's source address in that subnet names it.
The namespace goes with the subnet's last guest on the node."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from mallee.ovn_names import METADATA_IP, metadata_mac, metadata_port_name

from node_controller.network import namespace
from node_controller.network.commands import run
from node_controller.network.metadata import HOP_LIMIT, Caller, MetadataServer, create_metadata_app
from node_controller.network.ovn_chassis import OvnChassis

log = logging.getLogger(__name__)

NAMESPACE_PREFIX = "mmd-"


@dataclass
class Served:
    namespace: str
    outer: str
    server: MetadataServer


class OvnMetadata:
    def __init__(self, chassis: OvnChassis, region: str):
        self.chassis = chassis
        self.region = region
        self.specs: dict[str, dict] = {}  # instance id -> spec, of guests on br-int here
        self._served: dict[str, Served] = {}
        self._lock = asyncio.Lock()

    def _names(self, subnet_id: str) -> tuple[str, str]:
        key = hashlib.sha1(f"{self.chassis.node}/{subnet_id}".encode()).hexdigest()
        return f"{NAMESPACE_PREFIX}{self.chassis.node}-{key[:8]}", f"mm{key[:13]}"

    def _caller(self, subnet_id: str):
        def resolve(ip: str) -> Caller | None:
            for spec in self.specs.values():
                port = spec["vpc_port"]
                if port["subnet_id"] == subnet_id and port["private_ip"] == ip:
                    return Caller(spec, ip, None, port.get("cidr", ""), self.region,
                                  (spec.get("metadata_options") or {}).get("http_tokens")
                                  == "required",
                                  int((spec.get("metadata_options") or {}).get(
                                      "http_put_response_hop_limit") or HOP_LIMIT))
            return None
        return resolve

    def _build(self, subnet_id: str, netns: str, outer: str):
        """The namespace, its veth on br-int as the subnet's localport, its socket."""
        namespace.remove_link(outer, None)
        namespace.ensure_namespace(netns, router=False)
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", netns)
        run("ip", "-n", netns, "link", "set", "eth0", "address", metadata_mac(subnet_id))
        namespace.tx_checksum_off("eth0", netns)
        run("ip", "-n", netns, "addr", "add", f"{METADATA_IP}/32", "dev", "eth0")
        run("ip", "-n", netns, "link", "set", "eth0", "up")
        run("ip", "link", "set", outer, "up")
        run("ip", "-n", netns, "route", "add", "default", "dev", "eth0")  # the subnet, on-link
        self.chassis.plug(outer, metadata_port_name(subnet_id), metadata_mac(subnet_id))
        return namespace.socket_in_namespace(netns, METADATA_IP, 80, HOP_LIMIT)

    async def add(self, spec: dict) -> None:
        """A guest of this node on br-int: its subnet's metadata is served here."""
        self.specs[spec["instance_id"]] = spec
        subnet_id = spec["vpc_port"]["subnet_id"]
        async with self._lock:
            if subnet_id in self._served:
                return
            netns, outer = self._names(subnet_id)
            sock = await asyncio.to_thread(self._build, subnet_id, netns, outer)
            server = MetadataServer(create_metadata_app(self._caller(subnet_id)))
            await server.start(sock)
            self._served[subnet_id] = Served(netns, outer, server)
            log.info("metadata for %s served in %s", subnet_id, netns)

    async def remove(self, instance_id: str) -> None:
        spec = self.specs.pop(instance_id, None)
        if spec is None:
            return
        subnet_id = spec["vpc_port"]["subnet_id"]
        if any(s["vpc_port"]["subnet_id"] == subnet_id for s in self.specs.values()):
            return
        async with self._lock:
            served = self._served.pop(subnet_id, None)
            if served is not None:
                await self._end(served)

    async def _end(self, served: Served) -> None:
        await served.server.close()
        await asyncio.to_thread(self._unbuild, served.namespace, served.outer)

    def _unbuild(self, netns: str, outer: str) -> None:
        self.chassis.unplug(outer)
        namespace.remove_link(outer, None)
        namespace.delete_namespace(netns)

    async def close(self) -> None:
        """NC shutdown: the namespaces go (they are made again at start)."""
        async with self._lock:
            for served in self._served.values():
                await self._end(served)
            self._served.clear()


def remove_leftovers(node: str) -> list[str]:
    """The node's metadata namespaces that a killed NC left (its veths go with
    them; br-int's ports of them go with the chassis's database); their names."""
    prefix = f"{NAMESPACE_PREFIX}{node}-"
    found = [line.split()[0] for line in run("ip", "netns", "list", check=False).splitlines()
             if line.startswith(prefix)]
    for netns in found:
        namespace.delete_namespace(netns)
    return found
