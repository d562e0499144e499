"""docs/placement.md's example policy is complete, under 50 lines, and works:
loaded by name as the CC loads [cc] scheduler, it filters, orders and
proposes what the page says."""
import re
import sys
from pathlib import Path

from cluster_controller.scheduler import Scheduler
from mallee.placement import Demand, NodeView, Power, View, load_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "placement.md"


def node(endpoint, order, memory_free, instances=0, powered_on=True):
    return NodeView(endpoint, order, 8, memory_free, 200, 8, instances, 8192, 200, powered_on)


def test_the_documented_policy(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    assert len(code.splitlines()) < 50
    (tmp_path / "mypolicies.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        policy = load_policy("mypolicies:Headroom")
        nodes = [node("a", 0, 4000), node("b", 1, 6000), node("tight", 2, 1000)]
        # 1000 - 256 leaves less than a tenth of 8192: filtered out
        assert [n.endpoint for n in Scheduler(policy).rank(nodes, Demand(1, 256, 5))] == [
            "b", "a"]
        idle = View(tuple(node(f"n{i}", i, 8192) for i in range(4)))
        assert policy.rebalance(idle) == [Power("n2", False), Power("n3", False)]
        short = View((node("n0", 0, 100, 3), node("n1", 1, 8192),
                      node("n2", 2, 8192, powered_on=False)))
        assert policy.rebalance(short) == [Power("n2", True)]
    finally:
        sys.modules.pop("mypolicies", None)
