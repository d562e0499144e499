"""The one-host cloud's outside world: the uplink namespace with its bridge and
the gateway address, where elastic IPs answer. Made by `mallee up` (and the
test harness) when [network] make_outside is set, removed by `mallee down`."""
from __future__ import annotations

from mallee.settings import NetworkSettings
from node_controller.network.commands import run
from node_controller.network.namespace import delete_namespace, ensure_namespace, link_exists


def ensure_outside(n: NetworkSettings) -> str | None:
    """Make the outside namespace if the settings ask for it; its name, or None."""
    if not (n.make_outside and n.uplink_netns and n.uplink_bridge and n.uplink_gateway):
        return None
    ensure_namespace(n.uplink_netns)
    if not link_exists(n.uplink_bridge, n.uplink_netns):
        run("ip", "-n", n.uplink_netns, "link", "add", n.uplink_bridge, "type", "bridge",
            "forward_delay", "0", "stp_state", "0")
    prefix = n.uplink_address.split("/")[1] if "/" in n.uplink_address else "24"
    run("ip", "-n", n.uplink_netns, "addr", "replace", f"{n.uplink_gateway}/{prefix}",
        "dev", n.uplink_bridge)
    run("ip", "-n", n.uplink_netns, "link", "set", n.uplink_bridge, "up")
    return n.uplink_netns


def remove_outside(n: NetworkSettings) -> None:
    if n.make_outside and n.uplink_netns:
        delete_namespace(n.uplink_netns)
