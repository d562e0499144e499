"""The cluster's shared L2 segment: each node's bridge gets one port, `l2`,
onto it, so guests on different nodes share the private subnet and reach
each other directly (their own node enforces egress, the peer's node
ingress). Two ways to build the segment, one contract for the rest of the
data plane (a bridge port named `l2`):

- "netns" (several NCs on one host): a cluster namespace `mallee-<cluster>-l2`
  holding a plain bridge; each node joins it with a veth (`l2` on the node's
  br0, `ml-<node>` on the cluster bridge). The first node makes the
  namespace, the last one to leave removes it.
- "vxlan" (several hosts): a VXLAN device `l2` in the node's namespace over
  its uplink, flooding to the other nodes' uplink addresses (head-end
  replication to static peers; MACs are learned from traffic). It costs 50
  bytes of each frame, so guests are told a smaller MTU by DHCP.

A one-host cluster could run VXLAN over the outside bridge as well; the
namespace form just needs no addresses and no MTU change.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from node_controller.network import names, namespace
from node_controller.network.commands import NetworkError, run
from node_controller.network.names import BRIDGE, CLUSTER_BRIDGE, CLUSTER_PORT, UPLINK

MODES = ("none", "netns", "vxlan")
VXLAN_OVERHEAD = 50  # outer Ethernet + IPv4 + UDP + VXLAN headers
FLOOD_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class ClusterLink:
    """ClusterLink() is "no link"; the values of a real one come from settings."""
    mode: str = "none"
    netns: str = ""                 # "netns": the cluster namespace
    vxlan_id: int = 0               # "vxlan": [network] vxlan_id and vxlan_port
    vxlan_port: int = 0
    peers: tuple[str, ...] = ()     # "vxlan": the other nodes' uplink addresses

    def __post_init__(self):
        if self.mode not in MODES:
            raise NetworkError(f"[network] cluster_link {self.mode!r} is not one of "
                               f"{', '.join(MODES)}")
        if self.mode == "vxlan" and not (self.vxlan_id and self.vxlan_port):
            raise NetworkError("[network] cluster_link = \"vxlan\" needs vxlan_id and vxlan_port")
        if self.mode == "netns" and not self.netns:
            raise NetworkError("[network] cluster_link = \"netns\" needs a cluster namespace name")

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    @property
    def guest_mtu(self) -> int | None:
        """The MTU guests must use (told by DHCP), or None for the default 1500."""
        return 1500 - VXLAN_OVERHEAD if self.mode == "vxlan" else None


def ensure(link: ClusterLink, node: str, node_namespace: str, uplink_address: str) -> None:
    """Give the node's bridge its port onto the cluster segment (kept if present)."""
    if link.mode == "netns":
        _ensure_veth(link.netns, node, node_namespace)
    elif link.mode == "vxlan":
        _ensure_vxlan(link, node_namespace, uplink_address)
    else:
        return
    run("ip", "-n", node_namespace, "link", "set", CLUSTER_PORT, "master", BRIDGE)
    run("ip", "-n", node_namespace, "link", "set", CLUSTER_PORT, "up")


def _ensure_veth(cluster_ns: str, node: str, node_namespace: str) -> None:
    namespace.ensure_namespace(cluster_ns, router=False)
    namespace.make_bridge(cluster_ns, CLUSTER_BRIDGE)
    outer = names.cluster_port_outer_name(node)
    if not namespace.link_exists(CLUSTER_PORT, node_namespace):
        if namespace.link_exists(outer, cluster_ns):  # a half-made pair from a crash
            run("ip", "-n", cluster_ns, "link", "del", outer)
        run("ip", "link", "add", outer, "netns", cluster_ns, "type", "veth",
            "peer", "name", CLUSTER_PORT, "netns", node_namespace)
    run("ip", "-n", cluster_ns, "link", "set", outer, "master", CLUSTER_BRIDGE)
    run("ip", "-n", cluster_ns, "link", "set", outer, "up")


def _ensure_vxlan(link: ClusterLink, node_namespace: str, uplink_address: str) -> None:
    if not uplink_address:
        raise NetworkError("[network] cluster_link = \"vxlan\" needs uplink_address: the "
                           "tunnel runs between the nodes' uplink addresses")
    local = str(ipaddress.IPv4Interface(uplink_address).ip)
    if not namespace.link_exists(CLUSTER_PORT, node_namespace):
        run("ip", "-n", node_namespace, "link", "add", CLUSTER_PORT, "type", "vxlan",
            "id", str(link.vxlan_id), "local", local, "dstport", str(link.vxlan_port),
            "dev", UPLINK)
    flood = json.loads(run("bridge", "-n", node_namespace, "-j", "fdb", "show", "dev",
                           CLUSTER_PORT) or "[]")
    have = {entry.get("dst") for entry in flood if entry.get("mac") == FLOOD_MAC}
    for peer in link.peers:
        peer = str(ipaddress.IPv4Address(peer))
        if peer != local and peer not in have:
            run("bridge", "-n", node_namespace, "fdb", "append", FLOOD_MAC, "dev",
                CLUSTER_PORT, "dst", peer)


def remove(link: ClusterLink, node: str, node_namespace: str) -> None:
    """Take the node off the segment; the last node out removes the cluster
    namespace. (A VXLAN device goes with the node's namespace.)"""
    if link.mode != "netns":
        return
    if namespace.exists(node_namespace) and namespace.link_exists(CLUSTER_PORT, node_namespace):
        # Deleting our end removes the peer now, not when the namespace's last user goes.
        run("ip", "-n", node_namespace, "link", "del", CLUSTER_PORT, check=False)
    outer = names.cluster_port_outer_name(node)
    if namespace.exists(link.netns):
        if namespace.link_exists(outer, link.netns):
            run("ip", "-n", link.netns, "link", "del", outer, check=False)
        if not cluster_ports(link.netns):
            namespace.delete_namespace(link.netns)


def cluster_ports(cluster_ns: str) -> list[str]:
    """The nodes' veth ends still on the cluster bridge."""
    links = json.loads(run("ip", "-n", cluster_ns, "-j", "link", "show", "master",
                           CLUSTER_BRIDGE, check=False) or "[]")
    return sorted(entry["ifname"] for entry in links)
