"""Key pairs: only the public half is kept (the private one is returned once)."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database


class KeyPairRepository:
    def __init__(self, db: Database):
        self.db = db

    async def insert(self, key_id: str, account_id: str, name: str, key_type: str,
                     fingerprint: str, public_key: str) -> float:
        created = time.time()
        await self.db.execute("INSERT INTO key_pairs VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (key_id, account_id, name, key_type, fingerprint, public_key, created))
        return created

    async def by_name(self, account_id: str, name: str):
        async with self.db.execute("SELECT * FROM key_pairs WHERE account_id=? AND name=?",
                                   (account_id, name)) as cur:
            return await cur.fetchone()

    async def by_id(self, account_id: str, key_id: str):
        async with self.db.execute("SELECT * FROM key_pairs WHERE account_id=? AND id=?",
                                   (account_id, key_id)) as cur:
            return await cur.fetchone()

    async def list(self, account_id: str):
        async with self.db.execute("SELECT * FROM key_pairs WHERE account_id=? ORDER BY name",
                                   (account_id,)) as cur:
            return await cur.fetchall()

    async def delete(self, account_id: str, key_id: str) -> None:
        await self.db.execute("DELETE FROM key_pairs WHERE account_id=? AND id=?",
                              (account_id, key_id))
