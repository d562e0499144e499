"""EDGE networking on the node (docs/network.md): a data plane per node in
the namespace `mallee-<node>` - bridge, dnsmasq, security groups, anti-
spoofing, elastic IP NAT - and the metadata service on 169.254.169.254."""
from node_controller.network.commands import NetworkError
from node_controller.network.dataplane import DataPlane, NetworkConfig, teardown_all
from node_controller.network.port import Port
from node_controller.network.view import NetworkView, ViewError, parse_view

__all__ = ["DataPlane", "NetworkConfig", "NetworkError", "NetworkView", "Port", "ViewError",
           "parse_view", "teardown_all"]
