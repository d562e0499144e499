"""Names the CLC writes into OVN and the nodes bind to, for VPC mode
(docs/vpc.md): shared so the two tiers agree without importing each other."""
from __future__ import annotations

import hashlib

METADATA_IP = "169.254.169.254"
# The physical network of internet gateways' localnet ports; each chassis maps it to
# its outside bridge (ovn-bridge-mappings=mallee-outside:br-ex).
OUTSIDE_NETWORK = "mallee-outside"


def metadata_port_name(subnet_id: str) -> str:
    """The subnet's metadata localport (each node with guests there plugs its own)."""
    return f"mallee-md-{subnet_id}"


def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC, stable for the id it is made from."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "0a:" + ":".join(f"{b:02x}" for b in digest[:5])


def metadata_mac(subnet_id: str) -> str:
    """A MAC for the subnet's metadata port, stable for the subnet."""
    return stable_mac(f"metadata/{subnet_id}")
