"""Names of the kernel objects the data plane owns, all derived from stable ids
so that a restarted NC finds (and a cleanup removes) exactly its own."""
from __future__ import annotations

import hashlib

NAMESPACE_PREFIX = "mallee-"
BRIDGE = "br0"       # inside the node's namespace, so it needs no unique name
UPLINK = "uplink"    # the namespace's end of the uplink veth
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


def uplink_outer_name(node: str) -> str:
    """The uplink veth's other end, in the uplink namespace (or the root one)."""
    return _short("mu-", node)


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
