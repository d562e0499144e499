"""`python -m node_controller.network teardown [--cluster-netns NS] NODE [NODE...]`:
remove the nodes' data planes (namespace, dnsmasq, rules, taps, uplink veth)
and their ports on the cluster namespace NS (removed with the last one); for
`mallee down` and for cleaning up after a crashed test."""
from __future__ import annotations

import sys

from node_controller.network.cluster_link import ClusterLink
from node_controller.network.commands import NetworkError
from node_controller.network.dataplane import teardown_all

USAGE = "usage: python -m node_controller.network teardown [--cluster-netns NS] NODE [NODE...]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "teardown":
        print(USAGE, file=sys.stderr)
        return 2
    nodes, link = argv[1:], ClusterLink()
    if nodes[:1] == ["--cluster-netns"]:
        if len(nodes) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        link, nodes = ClusterLink("netns", nodes[1]), nodes[2:]
    if not nodes:
        print(USAGE, file=sys.stderr)
        return 2
    for node in nodes:
        try:
            teardown_all(node, link)
        except NetworkError as exc:
            print(f"mallee: {node}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
