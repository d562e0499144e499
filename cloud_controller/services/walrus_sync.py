"""Keeps Walrus's copy of the access keys in step with the CLC's database.

Calls only go downward, so Walrus cannot ask the CLC about a key: the CLC
pushes the whole set at once when AccountService notifies a key change (and
AccountService waits, bounded, for that push), and at every poll whenever
Walrus reports another generation (after a restart or a missed push).
"""
from __future__ import annotations

import asyncio
import logging

from cloud_controller.services.accounts import AccountService
from cloud_controller.services.notify import ChangeNotifier
from mallee.errors import ApiError
from mallee.polling import Poller
from walrus.rpc_client import WalrusClient

log = logging.getLogger(__name__)


class WalrusSync:
    def __init__(self, accounts: AccountService, client: WalrusClient, interval: float,
                 credentials_changed: ChangeNotifier):
        self.accounts, self.client, self.interval = accounts, client, interval
        self.pushed_generation = 0
        self.last_error: str | None = None
        self._poller = Poller(self.sync_once, lambda: self.interval)
        self._waiting: list[asyncio.Future] = []  # pokes the next round answers
        credentials_changed.subscribe(self.poke)

    def poke(self) -> asyncio.Future:
        """Sync now: a key was made, enabled, disabled or deleted. The future is done
        (True if Walrus has the keys) once a round that began after this call ends."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._poller.wake()
        return future

    async def sync_once(self) -> None:
        waiting, self._waiting = self._waiting, []
        try:
            await self._sync()
        finally:
            for future in waiting:
                if not future.done():
                    future.set_result(self.last_error is None)

    async def _sync(self) -> None:
        generation = await self.accounts.generation()
        try:
            remote = (await self.client.health()).get("credentials_generation")
            if remote != generation:
                await self.client.sync_credentials(generation,
                                                   await self.accounts.all_credentials())
                log.info("pushed credential generation %s to walrus", generation)
            self.pushed_generation, self.last_error = generation, None
        except ApiError as err:  # unreachable, or refused by the far side
            if self.last_error != err.message:
                log.warning("walrus credential sync failed: %s", err.message)
            self.last_error = err.message

    async def run(self) -> None:
        await self._poller.run()
