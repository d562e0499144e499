"""Work a request starts and does not wait for (handing instances to their
cluster, making a volume's file): tasks the service keeps until they end, so
none is collected mid-flight and the CLC's shutdown can end them all."""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class Background:
    def __init__(self):
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait until every task started so far has ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        """Cancel every task and wait for them, at most `grace` seconds: a task
        waiting on a thread cannot be cancelled, and shutdown must not wait on it
        (what it was doing is in the database, and a restart takes it up again)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.warning("shutting down with %s still running", task.get_coro())
