"""A key change reaches Walrus at once: AccountService notifies, WalrusSync
pushes, and the change returns once Walrus has it (or after a short bound)."""
from __future__ import annotations

import asyncio
import contextlib
import time

from cloud_controller.db import open_database
from cloud_controller.services import accounts as accounts_module
from cloud_controller.services.accounts import AccountService
from cloud_controller.services.notify import ChangeNotifier
from cloud_controller.services.walrus_sync import WalrusSync
from mallee import errors
from mallee.pki import SecretBox, init_pki


class FakeWalrus:
    """Walrus's credential RPCs: what it holds, optionally slow or down."""

    def __init__(self, delay: float = 0.0, down: bool = False):
        self.delay, self.down = delay, down
        self.generation: int | None = None
        self.active_keys: set[str] = set()

    async def health(self) -> dict:
        if self.down:
            raise errors.Unavailable("walrus is down")
        return {"credentials_generation": self.generation}

    async def sync_credentials(self, generation, credentials) -> dict:
        await asyncio.sleep(self.delay)
        self.generation = generation
        self.active_keys = {c.access_key_id for c in credentials if c.active}
        return {}


@contextlib.asynccontextmanager
async def _accounts(tmp_path, walrus: FakeWalrus | None):
    """The CLC's AccountService, with a running WalrusSync to `walrus` (if any)."""
    init_pki(tmp_path / "pki")
    db = await open_database(tmp_path / "cloud.db")
    changed = ChangeNotifier("credentials") if walrus else None
    accounts = AccountService(db, SecretBox(tmp_path / "pki"), tmp_path / "pki", changed)
    task = None
    if walrus:
        sync = WalrusSync(accounts, walrus, 3600, changed)  # no poll would come in time
        task = asyncio.create_task(sync.run())
    try:
        yield accounts
    finally:
        if task:
            task.cancel()
        await db.close()


def test_every_key_change_is_in_walrus_when_the_call_returns(tmp_path):
    async def scenario():
        walrus = FakeWalrus(delay=0.05)
        async with _accounts(tmp_path, walrus) as accounts:
            await accounts.create_account("alice")
            key = await accounts.create_access_key("alice")
            assert key.access_key_id in walrus.active_keys
            await accounts.set_key_active(key.access_key_id, False)
            assert key.access_key_id not in walrus.active_keys
            await accounts.set_key_active(key.access_key_id, True)
            assert key.access_key_id in walrus.active_keys
            await accounts.create_user("alice", "bob")
            bob = await accounts.create_access_key("alice", "bob")
            assert bob.access_key_id in walrus.active_keys
            await accounts.delete_access_key(bob.access_key_id)
            assert bob.access_key_id not in walrus.active_keys
            assert walrus.generation == await accounts.generation()
    asyncio.run(scenario())


def test_a_key_change_waits_only_a_short_bound_when_walrus_is_slow(tmp_path, monkeypatch):
    monkeypatch.setattr(accounts_module, "SYNC_WAIT", 0.2)

    async def scenario():
        walrus = FakeWalrus(delay=1.0)
        async with _accounts(tmp_path, walrus) as accounts:
            await accounts.create_account("alice")
            started = time.monotonic()
            key = await accounts.create_access_key("alice")
            assert time.monotonic() - started < 0.8
            await asyncio.sleep(2.5)  # the push still lands (after the running round)
            assert key.access_key_id in walrus.active_keys
    asyncio.run(scenario())


def test_a_key_change_does_not_wait_for_a_walrus_that_is_down(tmp_path):
    async def scenario():
        async with _accounts(tmp_path, FakeWalrus(down=True)) as accounts:
            started = time.monotonic()
            await accounts.create_account("alice")
            await accounts.create_access_key("alice")
            assert time.monotonic() - started < 1.0  # the failed round ends the wait
    asyncio.run(scenario())


def test_without_subscribers_a_change_does_not_wait(tmp_path):
    async def scenario():
        async with _accounts(tmp_path, None) as accounts:
            started = time.monotonic()
            await accounts.ensure_admin()
            assert time.monotonic() - started < 1.0
    asyncio.run(scenario())
