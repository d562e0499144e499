"""Work on a stream of chunks done on a thread, in order, while the event loop
receives the next ones.

A large PUT's body is hashed (MD5 for its ETag, and any checksum) and written
to its blob by two of these, so receiving, hashing and writing overlap and
only the hash, which must see the bytes in order, is serial. hashlib, zlib and
os.write release the GIL on large buffers, so each stage really runs beside
the loop. Chunks are passed on as they came (no join, no copy), batched to at
least BATCH bytes per trip to the thread; a stage that falls behind holds at
most LIMIT bytes before the loop waits for it, which stops reading the socket
(so memory stays flat however large the body).
"""
from __future__ import annotations

import asyncio
from concurrent.futures import Executor, Future
from typing import Callable

BATCH = 1 << 20
LIMIT = 8 << 20


class Pipeline:
    def __init__(self, executor: Executor, work: Callable[[list[bytes]], None],
                 batch: int = BATCH, limit: int = LIMIT):
        self._executor = executor
        self._work = work
        self._batch = batch
        self._limit = limit
        self._pending: list[bytes] = []
        self._size = 0
        self._running: Future | None = None
        self.started = False  # has any batch gone to the thread

    async def feed(self, chunk: bytes) -> None:
        """Queue `chunk`; hand a batch to the thread when the previous one is done (or
        wait for it, when LIMIT bytes are queued). Raises what a batch raised."""
        self._pending.append(chunk)
        self._size += len(chunk)
        if self._size < self._batch:
            return
        if self._running is not None:
            if not self._running.done() and self._size < self._limit:
                return
            await self._wait()
        self._submit()

    def _submit(self) -> None:
        batch, self._pending, self._size = self._pending, [], 0
        self._running = self._executor.submit(self._work, batch)
        self.started = True

    async def _wait(self) -> None:
        # Forgotten only once done: `abandon` after a cancelled wait must still see it.
        await asyncio.wrap_future(self._running)
        self._running = None

    async def finish(self, inline: bool = False) -> None:
        """Do what is queued and wait for all of it. With `inline`, a body that never
        filled a batch is done here on the loop (a 4 KiB hash is cheaper than the trip)."""
        if self._running is not None:
            await self._wait()
        if self._pending:
            if inline and not self.started:
                batch, self._pending, self._size = self._pending, [], 0
                self._work(batch)
                return
            self._submit()
            await self._wait()

    def abandon(self, then: Callable[[], None] = lambda: None) -> None:
        """Drop what is queued; call `then` once no batch runs any more (at once, or on
        the thread when the running one ends), e.g. to close the file it writes to."""
        self._pending, self._size = [], 0
        running, self._running = self._running, None
        if running is None or running.done():
            then()
        else:
            running.add_done_callback(lambda _: then())
