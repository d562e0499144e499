"""Keeps Walrus's copy of the access keys in step with the CLC's database.

Calls only go downward, so Walrus cannot ask the CLC about a key: the CLC
pushes the whole set whenever the credential generation moves, and again
whenever Walrus reports an older generation (after a restart or a missed push).
"""
from __future__ import annotations

import logging

from cloud_controller.services.accounts import AccountService
from mallee.errors import ApiError
from mallee.polling import Poller
from walrus.rpc_client import WalrusClient

log = logging.getLogger(__name__)


class WalrusSync:
    def __init__(self, accounts: AccountService, client: WalrusClient, interval: float):
        self.accounts, self.client, self.interval = accounts, client, interval
        self.pushed_generation = 0
        self.last_error: str | None = None
        self._poller = Poller(self.sync_once, lambda: self.interval)

    def poke(self) -> None:
        """Push soon: a key was created, disabled or deleted."""
        self._poller.wake()

    async def sync_once(self) -> None:
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
