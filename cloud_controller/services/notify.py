"""'Something changed': a notifier that services call and others subscribe to.

A service that changes what another part of the cloud must learn (groups,
rules and addresses change the network view; keys change what Walrus knows)
takes a notifier in its constructor and calls `notify()` after it commits.
Whoever acts on the change subscribes, so a service never knows who listens.

A subscriber may return an awaitable that is done once it has acted on the
change (WalrusSync: once Walrus holds the new keys); `notify_and_wait` waits
for those, up to a bound, for callers that promise "it works at once".
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[], "Awaitable | None"]


class ChangeNotifier:
    def __init__(self, what: str):
        self.what = what  # for the log, e.g. "network", "credentials"
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def notify(self) -> list[Awaitable]:
        """Tell every subscriber now; the awaitables of those that act later."""
        pending = []
        for callback in self._subscribers:
            try:
                result = callback()
            except Exception:  # one subscriber's bug must not undo the caller's change
                log.exception("%s change subscriber %r failed", self.what, callback)
                continue
            if result is not None:
                pending.append(result)
        return pending

    async def notify_and_wait(self, timeout: float) -> bool:
        """Notify, then wait until every subscriber has acted or `timeout` passes:
        True if all acted in time."""
        pending = [asyncio.ensure_future(p) for p in self.notify()]
        if not pending:
            return True
        _, late = await asyncio.wait(pending, timeout=timeout)
        if late:
            log.info("%s change: %d subscriber(s) not done after %.1f s", self.what,
                     len(late), timeout)
        return not late
