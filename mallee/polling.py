"""A loop that does one round of work, then sleeps until its interval passes
or someone asks for a round now (state flows upward by polling; a change a
tier asked for is polled at once)."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


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
