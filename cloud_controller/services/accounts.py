"""Accounts, users and access keys: creation, look-up for request signing.

Used by the CLC (to authenticate requests, and for account administration).
A key change bumps the credential generation, which empties the CLC's
look-up cache, and notifies `credentials_changed`: WalrusSync subscribes and
pushes the new set to Walrus at once. A method that changes keys returns
once Walrus holds them (or after SYNC_WAIT seconds, if Walrus is slow or
down: it then gets them at its next poll), so a key made here works on S3
on the first try.
"""
from __future__ import annotations

import re
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from cloud_controller.db.accounts import AccountRepository
from cloud_controller.db.database import Database
from cloud_controller.services.notify import ChangeNotifier
from mallee import errors, ids
from mallee.auth import Credential
from mallee.auth.access_keys import well_formed
from mallee.pki import SecretBox, issue_user_cert

ADMIN_ACCOUNT = "eucalyptus"
ADMIN_USER = "admin"
SYNC_WAIT = 2.0  # seconds a key change waits for Walrus to hold the new keys
# Look-ups run before the signature is checked, so strangers choose the keys:
# the cache holds at most this many (least recently used go first).
LOOKUP_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class AccessKey:
    credential: Credential
    status: str
    created_at: float


class AccountService:
    def __init__(self, db: Database, box: SecretBox, pki_dir: Path,
                 credentials_changed: ChangeNotifier | None = None):
        self.db = db
        self.pki_dir = pki_dir
        self.repo = AccountRepository(db)
        self.box = box
        # None: nobody listens (a tool with the database and no Walrus to tell).
        self.credentials_changed = credentials_changed or ChangeNotifier("credentials")
        self._cache: OrderedDict[str, Credential | None] = OrderedDict()
        self._cache_generation = -1

    async def create_account(self, name: str, is_admin: bool = False) -> str:
        _check_name(name, "account")
        account_id = ids.account_id()
        try:
            async with self.db.unit():
                await self.repo.insert_account(account_id, name, is_admin)
                await self.repo.insert_user(ids.user_id(), account_id, ADMIN_USER)
        except sqlite3.IntegrityError:
            raise errors.EntityAlreadyExists(f"Account {name!r} already exists.")
        await self._changed()
        return account_id

    async def create_user(self, account_name: str, user_name: str) -> str:
        _check_name(user_name, "user")
        user_id = ids.user_id()
        try:
            async with self.db.unit():
                account = await self.account(account_name)
                await self.repo.insert_user(user_id, account["id"], user_name)
        except sqlite3.IntegrityError:
            raise errors.EntityAlreadyExists(f"User {user_name!r} already exists in {account_name}.")
        await self._changed()
        return user_id

    async def account(self, name_or_id: str):
        row = await self.repo.account_by_name(name_or_id) or await self.repo.account_by_id(name_or_id)
        if row is None:
            raise errors.NoSuchEntity(f"No account named {name_or_id!r}.")
        return row

    async def accounts(self):
        return await self.repo.accounts()

    async def users(self, account_name: str):
        return await self.repo.users((await self.account(account_name))["id"])

    async def create_access_key(self, account_name: str, user_name: str = ADMIN_USER) -> Credential:
        key_id, secret = ids.access_key_id(), ids.secret_access_key()
        async with self.db.unit():
            account = await self.account(account_name)
            user = await self.repo.user(account["id"], user_name)
            if user is None:
                raise errors.NoSuchEntity(f"No user {user_name!r} in account {account_name}.")
            await self.repo.insert_key(key_id, user["id"], self.box.seal(secret))
        await self._changed()
        return await self.lookup(key_id)

    async def set_key_active(self, key_id: str, active: bool) -> None:
        async with self.db.unit():
            if not await self.repo.set_key_status(key_id, "Active" if active else "Inactive"):
                raise errors.NoSuchEntity(f"No access key {key_id}.")
        await self._changed()

    async def delete_access_key(self, key_id: str) -> None:
        async with self.db.unit():
            if not await self.repo.delete_key(key_id):
                raise errors.NoSuchEntity(f"No access key {key_id}.")
        await self._changed()

    async def _changed(self) -> None:
        """Tell Walrus (through the subscribers) and wait, bounded, until it knows."""
        await self.credentials_changed.notify_and_wait(SYNC_WAIT)

    def _credential(self, row) -> Credential:
        return Credential(access_key_id=row["access_key_id"],
                          secret_access_key=self.box.open(row["secret_enc"]),
                          account_id=row["account_id"], account_name=row["account_name"],
                          user_id=row["user_id"], user_name=row["user_name"],
                          is_admin=bool(row["is_admin"]), active=row["status"] == "Active")

    async def access_keys(self, account_name: str | None = None,
                          user_name: str | None = None) -> list[AccessKey]:
        account_id = (await self.account(account_name))["id"] if account_name else None
        return [AccessKey(self._credential(r), r["status"], r["created_at"])
                for r in await self.repo.keys(account_id, user_name)]

    async def generation(self) -> int:
        return await self.repo.generation()

    async def issue_signing_certificate(self, credential: Credential) -> tuple[bytes, bytes]:
        """A bundling certificate + key for a user (EC2_CERT/EC2_PRIVATE_KEY), recorded."""
        cert, key = issue_user_cert(self.pki_dir, credential.account_id, credential.user_name)
        async with self.db.unit():
            await self.repo.insert_certificate(ids.resource_id("cert"), credential.user_id,
                                               cert.decode())
        return cert, key

    async def certificates(self, account_id: str) -> list[str]:
        return await self.repo.certificates(account_id)

    async def lookup(self, key_id: str) -> Credential | None:
        """The credential for a request's access key (None: unknown or malformed);
        cached, bounded, until keys change."""
        if not well_formed(key_id):
            return None
        generation = await self.repo.generation()
        if generation != self._cache_generation:
            self._cache, self._cache_generation = OrderedDict(), generation
        if key_id in self._cache:
            self._cache.move_to_end(key_id)
            return self._cache[key_id]
        row = await self.repo.key(key_id)
        credential = self._credential(row) if row else None
        self._cache[key_id] = credential
        if len(self._cache) > LOOKUP_CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return credential

    async def all_credentials(self) -> list[Credential]:
        return [k.credential for k in await self.access_keys()]

    async def system_credential(self) -> Credential:
        """The cloud admin's key, which presigns bundle URLs for nodes."""
        for key in await self.access_keys(ADMIN_ACCOUNT, ADMIN_USER):
            if key.status == "Active":
                return key.credential
        raise errors.Unavailable("The cloud admin has no active access key.")

    async def ensure_admin(self) -> Credential | None:
        """Create the cloud admin account and its first key once; None if it existed."""
        if await self.repo.account_by_name(ADMIN_ACCOUNT):
            return None
        await self.create_account(ADMIN_ACCOUNT, is_admin=True)
        return await self.create_access_key(ADMIN_ACCOUNT)


def _check_name(name: str, what: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.@-]{0,62}", name or ""):
        raise errors.InvalidParameterValue(
            f"Invalid {what} name {name!r}: use 1-63 lowercase letters, digits and ._@- .")
