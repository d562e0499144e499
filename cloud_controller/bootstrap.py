"""The CLC's one host-local entry point: `mallee init` on the CLC's host makes
the database and the cloud admin account before any component runs. Every
later account change goes through the CLC's RPC (cloud_controller.rpc)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

from cloud_controller.db import open_database
from cloud_controller.services.accounts import AccountService
from mallee.pki import SecretBox
from mallee.settings import Settings


def database_path(settings: Settings) -> Path:
    return settings.data_dir("clc") / "cloud.db"


@contextlib.asynccontextmanager
async def local_accounts(settings: Settings) -> AsyncIterator[AccountService]:
    """The accounts in this host's CLC database (made and migrated if new)."""
    db = await open_database(database_path(settings))
    try:
        yield AccountService(db, SecretBox(settings.pki_dir), settings.pki_dir)
    finally:
        await db.close()
