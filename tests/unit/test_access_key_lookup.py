"""The CLC's access-key look-up: bounded memory whatever keys strangers send."""
import asyncio
import threading

from cloud_controller.bootstrap import local_accounts
from cloud_controller.db.accounts import AccountRepository
from cloud_controller.services import accounts as accounts_mod
from mallee import settings as settings_mod
from mallee.pki import init_pki


def _with_accounts(tmp_path, body):
    s = settings_mod.load(home=tmp_path, env={})
    init_pki(s.pki_dir)

    async def run():
        async with local_accounts(s) as accounts:
            return await body(accounts)
    return asyncio.run(run())


def test_distinct_unknown_keys_leave_the_cache_at_its_bound(tmp_path):
    async def body(accounts):
        admin = await accounts.ensure_admin()
        for i in range(10_000):
            assert await accounts.lookup(f"AKIA{i:016d}") is None
        assert len(accounts._cache) == accounts_mod.LOOKUP_CACHE_ENTRIES < 10_000
        # A real key still resolves, and is cached like any other.
        assert (await accounts.lookup(admin.access_key_id)).secret_access_key == \
            admin.secret_access_key
        assert len(accounts._cache) == accounts_mod.LOOKUP_CACHE_ENTRIES
    _with_accounts(tmp_path, body)


def test_malformed_key_ids_are_refused_before_any_query(tmp_path, monkeypatch):
    queries = []
    # Only this thread's: a whole test cloud that an earlier module left running (a
    # session fixture) polls its own AccountRepository from its own thread.
    here = threading.get_ident()
    for name in ("key", "generation"):
        real = getattr(AccountRepository, name)

        async def counted(self, *args, _real=real, _name=name):
            if threading.get_ident() == here:
                queries.append(_name)
            return await _real(self, *args)
        monkeypatch.setattr(AccountRepository, name, counted)

    async def body(accounts):
        for key in ("A" * 2**20, "AKIA" + "0" * 125, "AKIA0000000", "akia0000000000000000",
                    "AKIA00000000000000/0", "", "AKIA000000000000000\u0130"):
            assert await accounts.lookup(key) is None
        assert queries == [] and len(accounts._cache) == 0
        assert await accounts.lookup("AKIA" + "0" * 124) is None  # 128 characters: looked up
        assert queries
    _with_accounts(tmp_path, body)
