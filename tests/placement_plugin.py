"""A placement policy of a user's own, named in settings as
`tests.placement_plugin:Backwards` (tests/api/test_placement_plugin.py):
the least loaded node first, the last one on a tie (no built-in does that),
and a rebalance that asks to move every guest to the first node and to power
off the nodes a test lists in POWER_OFF."""
from mallee.placement import Migrate, Policy, Power

POWER_OFF: set[str] = set()  # endpoints; the test runs in the cloud's process


class Backwards(Policy):
    def weigh(self, nodes, demand):
        return sorted(nodes, key=lambda n: (n.instances, -n.order))

    def rebalance(self, view):
        first = min(view.nodes, key=lambda n: n.order).endpoint
        moves = [Migrate(g.instance_id, first) for n in view.nodes if n.endpoint != first
                 for g in n.guests if g.state == "running"]
        return moves + [Power(endpoint, on=False) for endpoint in sorted(POWER_OFF)]
