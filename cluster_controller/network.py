"""The CC's part of EDGE networking (docs/network.md).

- Private addresses: each instance gets one from the cluster's subnet when it
  is first placed. The choice is deterministic (a hash of the instance id,
  then the next free address), so a launch sent again after a restart gets
  the same address; addresses that nodes report, that in-flight launches
  hold, or that the CLC's view names are never handed out twice.
- The network view: the CLC pushes the cluster's whole view (`apply_network`);
  the CC keeps the newest and forwards it to every node at once, and again to
  any node whose `describe_resource` reports an older version or an error.
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from typing import Iterable

from cluster_controller.nodes import Node, NodeRegistry
from mallee import errors
from mallee.netnames import private_dns_name
from mallee.settings import Settings

log = logging.getLogger(__name__)


class PrivateAddresses:
    def __init__(self, subnet: str):
        self.network = ipaddress.IPv4Network(subnet, strict=False)
        if self.network.num_addresses < 4:
            raise ValueError(f"private subnet {subnet} is too small")
        self.gateway = str(self.network.network_address + 1)
        self._first = int(self.network.network_address) + 2  # after the gateway
        self._count = self.network.num_addresses - 3  # no network, gateway, broadcast

    def usable(self, ip: str | None) -> bool:
        try:
            value = int(ipaddress.IPv4Address(ip))
        except (ipaddress.AddressValueError, ValueError, TypeError):
            return False
        return self._first <= value < self._first + self._count

    def choose(self, instance_id: str, used: set[str], hint: str | None = None) -> str:
        if hint and self.usable(hint) and hint not in used:
            return hint
        start = int.from_bytes(hashlib.sha256(instance_id.encode()).digest()[:8], "big")
        for step in range(self._count):
            candidate = str(ipaddress.IPv4Address(self._first + (start + step) % self._count))
            if candidate not in used:
                return candidate
        raise errors.InsufficientInstanceCapacity(
            f"The private subnet {self.network} has no free address.")


def _valid_view(view) -> dict:
    if not isinstance(view, dict) or not isinstance(view.get("version"), int) or \
            not isinstance(view.get("instances"), list) or \
            not isinstance(view.get("groups"), list):
        raise errors.InvalidParameterValue("A network view needs version, instances, groups.")
    return view


def _replaces(view: dict, held: dict | None) -> bool:
    """A view of another cloud (epoch) replaces what is held; of the same, a newer one."""
    return (held is None or view.get("epoch", "") != held.get("epoch", "")
            or view["version"] >= held["version"])


class NetworkState:
    def __init__(self, settings: Settings, registry: NodeRegistry):
        net = settings.network
        self.region = settings.cloud.region
        self.addresses = PrivateAddresses(net.private_subnet)
        self.public_ips = list(net.public_ips)
        self.registry = registry
        self.view: dict | None = None
        self.assigned: dict[str, str] = {}  # instance id -> private ip, handed out here
        self.nodes: dict[str, dict] = {}  # endpoint -> {"version", "error"} of the last push
        self._pushing: dict[str, asyncio.Task] = {}

    @property
    def version(self) -> int:
        return self.view["version"] if self.view else 0

    # --- private addresses ---------------------------------------------------------
    def reported(self) -> dict[str, str]:
        """Instance id -> private ip, as nodes report them (if they do)."""
        found = {}
        for node in self.registry.nodes:
            for info in node.resource.get("instances", []):
                if info.get("private_ip") and info.get("state") != "terminated":
                    found[info["instance_id"]] = info["private_ip"]
        return found

    def private_ip(self, instance_id: str) -> str | None:
        return self.assigned.get(instance_id) or self.reported().get(instance_id) or next(
            (i.get("private_ip") for i in (self.view or {}).get("instances", [])
             if i.get("instance_id") == instance_id), None)

    def assign(self, spec: dict, in_flight: Iterable[dict]) -> None:
        """Give a spec its private address, host name and the metadata that depends on them."""
        instance_id = spec["instance_id"]
        taken: dict[str, str] = {}
        view = self.view or {}
        # "reserved": stopped instances' addresses, theirs again when they start
        for info in view.get("instances", []) + view.get("reserved", []):
            if info.get("private_ip"):
                taken[info["instance_id"]] = info["private_ip"]
        taken.update(self.reported())
        taken.update(self.assigned)
        for other in in_flight:
            if other.get("private_ip"):
                taken[other["instance_id"]] = other["private_ip"]
        mine = taken.pop(instance_id, None)
        used = set(taken.values())
        ip = self.addresses.choose(instance_id, used, mine or spec.get("private_ip"))
        self.assigned[instance_id] = ip
        hostname = private_dns_name(ip, self.region)
        spec["private_ip"], spec["hostname"] = ip, hostname
        metadata = spec.setdefault("metadata", {})
        metadata.update({"local-ipv4": ip, "local-hostname": hostname, "hostname": hostname})

    def forget(self, instance_id: str) -> None:
        self.assigned.pop(instance_id, None)

    # --- the view ------------------------------------------------------------------
    async def apply(self, view) -> dict:
        view = _valid_view(view)
        if _replaces(view, self.view):
            self.view = view
        self.push_all()
        return {"version": self.version, "applied": self.version == view["version"]}

    def prune(self, in_flight: set[str]) -> None:
        """Forget addresses of instances that no node, launch or view knows any more."""
        present = set(in_flight) | {i.get("instance_id") for i in
                                    (self.view or {}).get("instances", [])}
        for node in self.registry.nodes:
            present |= {i["instance_id"] for i in node.resource.get("instances", [])
                        if i.get("state") != "terminated"}
        for instance_id in list(self.assigned):
            if instance_id not in present:
                del self.assigned[instance_id]

    def push_all(self) -> None:
        for node in self.registry.nodes:
            if node.status == "up" or node.status == "unknown":
                self._push(node)

    def _push(self, node: Node) -> None:
        if self.view is None:
            return
        running = self._pushing.get(node.endpoint)
        if running and not running.done():
            running.add_done_callback(lambda _: self._push_if_behind(node))
            return
        task = asyncio.create_task(self._send(node, self.view))
        self._pushing[node.endpoint] = task

    def _push_if_behind(self, node: Node) -> None:
        if self.nodes.get(node.endpoint, {}).get("version", 0) < self.version:
            self._push(node)

    async def _send(self, node: Node, view: dict) -> None:
        try:
            answer = await node.client.apply_network(view)
            self.nodes[node.endpoint] = {"version": answer.get("version", view["version"]),
                                         "error": None}
        except errors.ApiError as err:
            if self.nodes.get(node.endpoint, {}).get("error") != err.message:
                log.warning("network view %d on %s failed: %s", view["version"],
                            node.endpoint, err.message)
            self.nodes[node.endpoint] = {
                "version": self.nodes.get(node.endpoint, {}).get("version", 0),
                "error": f"{err.code}: {err.message}"}

    async def after_poll(self, node: Node) -> None:
        """Send the view again to this node if it reports an older one or an error."""
        if node.status != "up" or self.view is None:
            return
        reported = node.resource.get("network") or {}
        behind = (reported.get("epoch", "") != self.view.get("epoch", "")
                  or reported.get("version", 0) < self.version or reported.get("error"))
        if behind and not (self._pushing.get(node.endpoint)
                           and not self._pushing[node.endpoint].done()):
            self._push(node)

    def node_state(self, node: Node) -> dict:
        """What the node reports of its network, or what our last push learned."""
        reported = node.resource.get("network")
        if reported is not None:
            return {"version": reported.get("version", 0), "error": reported.get("error")}
        return self.nodes.get(node.endpoint, {"version": 0, "error": None})

    def summary(self) -> dict:
        return {"subnet": str(self.addresses.network), "gateway": self.addresses.gateway,
                "public_ips": self.public_ips, "version": self.version}

    def describe(self) -> dict:
        return {**self.summary(), "view": self.view,
                "assigned": dict(sorted(self.assigned.items())),
                "nodes": [{"endpoint": n.endpoint, **self.node_state(n),
                           "pushed": self.nodes.get(n.endpoint)}
                          for n in self.registry.nodes]}

    async def close(self) -> None:
        for task in self._pushing.values():
            task.cancel()
