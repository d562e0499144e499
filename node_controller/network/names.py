"""Names of the kernel objects the data plane owns, all derived from stable ids
so that a restarted NC finds (and a cleanup removes) exactly its own."""
from __future__ import annotations

import hashlib

NAMESPACE_PREFIX = "mallee-"
BRIDGE = "br0"       # inside the node's namespace, so it needs no unique name
UPLINK = "uplink"    # the namespace's end of the uplink veth
CLUSTER_PORT = "l2"  # the node bridge's port onto the cluster's shared L2 segment
CLUSTER_BRIDGE = "br0"  # the shared bridge inside a one-host cluster namespace
METADATA_IP = "169.254.169.254"
IFNAME_MAX = 15      # IFNAMSIZ - 1


def namespace_name(node: str) -> str:
    return f"{NAMESPACE_PREFIX}{node}"


def _short(prefix: str, key: str) -> str:
    name = prefix + key
    if len(name) <= IFNAME_MAX:
        return name
    return prefix + hashlib.sha1(key.encode()).hexdigest()[:IFNAME_MAX - len(prefix)]


def tap_name(instance_id: str) -> str:
    """`vn` + the instance id's last 13 characters (i-0123456789abcdef0 -> vn456789abcdef0)."""
    return "vn" + instance_id.removeprefix("i-")[-(IFNAME_MAX - 2):]


MAX_NICS = 8  # network interfaces per instance (VPC mode): device indexes 0 to 7


def nic_tap_name(instance_id: str, device_index: int) -> str:
    """The tap of an instance's NIC at `device_index`: the primary one (0) is
    `tap_name`, another `v<index>` + the same 13 characters (vn4567... -> v14567...)."""
    if device_index == 0:
        return tap_name(instance_id)
    return f"v{device_index}" + instance_id.removeprefix("i-")[-(IFNAME_MAX - 2):]


def uplink_outer_name(node: str) -> str:
    """The uplink veth's other end, in the uplink namespace (or the root one)."""
    return _short("mu-", node)


def outside_port_name(node: str) -> str:
    """VPC mode: the veth end that is a port of the chassis' outside bridge br-ex."""
    return _short("mx-", node)


def outside_peer_name(node: str) -> str:
    """Its other end, on the outside world's bridge (uplink_bridge in uplink_netns)."""
    return _short("my-", node)


def cluster_port_outer_name(node: str) -> str:
    """The cluster veth's other end, on the bridge of the cluster namespace."""
    return _short("ml-", node)


def cluster_namespace_name(cluster: str) -> str:
    return f"{NAMESPACE_PREFIX}{cluster}-l2"


def gateway_mac(subnet: str) -> str:
    """One locally administered MAC per cluster subnet, the same on every
    node's bridge (an anycast gateway): a guest's ARP cache stays right
    whichever node answers, and the bridge's MAC no longer follows its ports."""
    digest = hashlib.sha1(f"mallee-gateway {subnet}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


# iptables chains (<= 28 chars) and ipsets (<= 31 chars), per group / instance.
def group_set(group_id: str) -> str:
    return f"g-{group_id}"


def group_swap_set(group_id: str) -> str:
    return f"t-{group_id}"


def group_ingress_chain(group_id: str) -> str:
    return f"in-{group_id}"


def group_egress_chain(group_id: str) -> str:
    return f"out-{group_id}"


def instance_ingress_chain(instance_id: str) -> str:
    return f"to-{instance_id}"


def instance_egress_chain(instance_id: str) -> str:
    return f"from-{instance_id}"
