"""The polled set both tiers use for the peers below them (the CLC's clusters,
the CC's nodes): errors logged once per change, after-poll steps per member,
fast rounds while busy, wake."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from cluster_controller.nodes import Node, NodeRegistry
from mallee import errors
from mallee.polling import FAST_POLL, PolledSet
from mallee.rpc import Unreachable


class Client:
    def __init__(self):
        self.closed = False

    async def close(self):
        self.closed = True


@dataclass
class Peer:
    name: str
    answers: list = field(default_factory=list)  # what the next polls get: a value or an error
    client: Client = field(default_factory=Client)
    error: str | None = "not polled yet"
    polled_at: float = 0.0
    seen: object = None

    @property
    def label(self) -> str:
        return f"peer {self.name}"


async def ask(peer: Peer) -> None:
    answer = peer.answers.pop(0)
    if isinstance(answer, BaseException):
        raise answer
    if isinstance(answer, float):
        await asyncio.sleep(answer)
    peer.seen = answer


def test_errors_are_recorded_and_logged_once_per_change(caplog):
    peer = Peer("a", ["up", Unreachable("gone"), Unreachable("gone"),
                      errors.UnauthorizedOperation("no"), "back"])
    polled = PolledSet([peer], ask, 60)
    caplog.set_level(logging.INFO, logger="mallee.polling")

    async def main():
        errors_seen = []
        for _ in range(5):
            await polled.poll_all()
            errors_seen.append(peer.error)
        return errors_seen

    assert asyncio.run(main()) == [None, "gone", "gone", "no", None]
    assert peer.seen == "back" and peer.polled_at > 0
    assert [r.getMessage() for r in caplog.records] == [
        "peer a is up", "peer a unreachable: gone", "peer a unreachable: no", "peer a is up"]


def test_steps_run_for_each_member_after_its_own_poll_answered_or_not(caplog):
    slow, dead = Peer("slow", [0.3]), Peer("dead", [Unreachable("down")])
    polled = PolledSet([slow, dead], ask, 60)
    order = []

    async def broken(peer):
        raise RuntimeError("bug")

    async def record(peer):
        order.append((peer.name, peer.error))

    polled.after_poll += [broken, record]
    asyncio.run(polled.poll_all())
    # The dead peer's steps did not wait for the slow one; the broken step stopped nothing.
    assert order == [("dead", "down"), ("slow", None)]
    assert sum("after-poll step failed for peer" in r.getMessage() for r in caplog.records) == 2


def test_rounds_are_fast_while_busy_and_at_once_after_wake():
    busy = [True]
    peer = Peer("a", ["x"] * 1000)
    polled = PolledSet([peer], ask, 60, busy=lambda: busy[0])

    async def main():
        task = asyncio.create_task(polled.run())
        await asyncio.sleep(FAST_POLL * 2.5)
        fast = 1000 - len(peer.answers)
        busy[0] = False
        await asyncio.sleep(FAST_POLL * 2)  # the last fast sleep ends, then the 60 s one starts
        idle = 1000 - len(peer.answers)
        await asyncio.sleep(FAST_POLL * 2)
        still = 1000 - len(peer.answers)
        polled.wake()
        await asyncio.sleep(0.05)
        woken = 1000 - len(peer.answers)
        task.cancel()
        await polled.close()
        return fast, idle, still, woken

    fast, idle, still, woken = asyncio.run(main())
    assert fast >= 3 and still == idle and woken == idle + 1
    assert peer.client.closed


def test_node_registry_is_busy_while_launching_or_an_instance_is_changing():
    class NodeClient(Client):
        def __init__(self, state):
            super().__init__()
            self.state = state

        async def describe_resource(self, metrics_ack=None):
            if self.state is None:
                raise Unreachable("no route")
            return {"instances": [{"instance_id": "i-1", "state": self.state}]}

    client = NodeClient("running")
    launching = [False]
    registry = NodeRegistry([Node("n0", client)], 60, launching=lambda: launching[0])
    node = registry.nodes[0]
    assert (node.status, node.reason) == ("unknown", "not polled yet")
    asyncio.run(registry.poll_all())
    assert (node.status, node.reason) == ("up", None) and not registry.in_flight()
    launching[0] = True
    assert registry.in_flight()
    launching[0] = False
    client.state = "shutting-down"
    asyncio.run(registry.poll_all())
    assert registry.in_flight()
    client.state = None
    asyncio.run(registry.poll_all())
    assert (node.status, node.reason) == ("unreachable", "no route")
    assert node.describe()["status"] == "unreachable" and node.describe()["reason"] == "no route"
