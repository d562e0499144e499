"""`python -m node_controller.network teardown NODE [NODE...]`: remove the
nodes' data planes (namespace, dnsmasq, rules, taps, uplink veth); for
`mallee down` and for cleaning up after a crashed test."""
from __future__ import annotations

import sys

from node_controller.network.commands import NetworkError
from node_controller.network.dataplane import teardown_all


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "teardown":
        print("usage: python -m node_controller.network teardown NODE [NODE...]", file=sys.stderr)
        return 2
    for node in argv[1:]:
        try:
            teardown_all(node)
        except NetworkError as exc:
            print(f"mallee: {node}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
