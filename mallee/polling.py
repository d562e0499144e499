"""State flows upward by polling: a loop that does one round of work, then
sleeps until its interval passes or someone asks for a round now (a change a
tier asked for is polled at once), and the polled set every tier keeps of the
peers below it (the CLC's clusters, the CC's nodes)."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Generic, Protocol, TypeVar

from mallee.errors import ApiError

log = logging.getLogger(__name__)

FAST_POLL = 0.25  # seconds between rounds while a change is under way


class Poller:
    def __init__(self, round_: Callable[[], Awaitable[None]], interval: Callable[[], float]):
        self._round = round_
        self._interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()  # a wake during the round below starts the next at once
            try:
                await self._round()
            except Exception:  # one bad round must not end the loop
                log.exception("polling round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval())
            except asyncio.TimeoutError:
                pass


class Member(Protocol):
    """One peer of a polled set; the poll function stores its answer on it."""

    client: Any  # the typed RPC client of the peer (closed with the set)
    error: str | None  # why the last poll got no answer; None when it got one
    polled_at: float  # when the last poll began (time.time())

    @property
    def label(self) -> str:  # "node 10.0.0.2:8775": who, in a log line
        ...


M = TypeVar("M", bound=Member)


class PolledSet(Generic[M]):
    """Polls every member each round, all at once, with `poll(member)`: it
    asks the peer and stores the answer on the member, or raises ApiError
    (unreachable, or refused by the far side) and the member keeps its last
    answer. The error is recorded on the member and logged once per change.

    After each member's poll, answered or not, every after-poll step runs
    with that member, in order, at once: a slow or dead peer delays no step
    of the others. One failing step is logged and the next one still runs.

    Rounds come every `interval` seconds, every FAST_POLL seconds while
    `busy()` says a change is under way, and at once after wake().
    """

    def __init__(self, members: list[M], poll: Callable[[M], Awaitable[None]],
                 interval: float, busy: Callable[[], bool] = lambda: False):
        self.members = members
        self.interval = interval
        self.after_poll: list[Callable[[M], Awaitable[None]]] = []
        # Told each whole round's duration in seconds (the tier's poll histogram).
        self.round_observers: list[Callable[[float], None]] = []
        self._ask = poll
        self._busy = busy
        self._poller = Poller(self.poll_all, lambda: FAST_POLL if self._busy() else self.interval)

    async def poll(self, member: M) -> None:
        started = time.time()
        try:
            await self._ask(member)
            error = None
        except ApiError as err:
            error = err.message
        if error != member.error:
            if error is None:
                log.info("%s is up", member.label)
            else:
                log.warning("%s unreachable: %s", member.label, error)
        member.error, member.polled_at = error, started
        for step in self.after_poll:
            try:
                await step(member)
            except Exception:  # one bad step must not stop the polling
                log.exception("after-poll step failed for %s", member.label)

    async def poll_all(self) -> None:
        started = time.monotonic()
        await asyncio.gather(*(self.poll(m) for m in self.members))
        for observe in self.round_observers:
            observe(time.monotonic() - started)

    def wake(self) -> None:
        """Poll now: a change was just asked for."""
        self._poller.wake()

    async def run(self) -> None:
        await self._poller.run()

    async def close(self) -> None:
        for member in self.members:
            await member.client.close()
