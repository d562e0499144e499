"""iSCSI names every tier agrees on: a node's initiator IQN is made from its name,
so the CLC can ask the SC to export a volume to the node an instance runs on and
the NC logs in with the same name (the target's ACL admits only it)."""
from __future__ import annotations

INITIATOR_PREFIX = "iqn.2026-12.org.mallee:node."


def node_initiator(node_name: str) -> str:
    return INITIATOR_PREFIX + node_name
