"""Accounts, users and access keys."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database


class AccountRepository:
    def __init__(self, db: Database):
        self.db = db

    async def insert_account(self, account_id: str, name: str, is_admin: bool) -> None:
        await self.db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                              (account_id, name, int(is_admin), time.time()))

    async def insert_user(self, user_id: str, account_id: str, name: str) -> None:
        await self.db.execute("INSERT INTO users VALUES (?, ?, ?, ?)",
                              (user_id, account_id, name, time.time()))

    async def insert_key(self, key_id: str, user_id: str, secret_enc: bytes) -> None:
        await self.db.execute("INSERT INTO access_keys VALUES (?, ?, ?, 'Active', ?)",
                              (key_id, user_id, secret_enc, time.time()))
        await self._bump()

    async def set_key_status(self, key_id: str, status: str) -> bool:
        cur = await self.db.execute("UPDATE access_keys SET status=? WHERE id=?", (status, key_id))
        await self._bump()
        return cur.rowcount > 0

    async def delete_key(self, key_id: str) -> bool:
        cur = await self.db.execute("DELETE FROM access_keys WHERE id=?", (key_id,))
        await self._bump()
        return cur.rowcount > 0

    async def _bump(self) -> None:
        await self.db.execute("UPDATE credential_generation SET generation = generation + 1")

    async def generation(self) -> int:
        async with self.db.execute("SELECT generation FROM credential_generation") as cur:
            return (await cur.fetchone())[0]

    async def account_by_name(self, name: str):
        async with self.db.execute("SELECT * FROM accounts WHERE name=?", (name,)) as cur:
            return await cur.fetchone()

    async def account_by_id(self, account_id: str):
        async with self.db.execute("SELECT * FROM accounts WHERE id=?", (account_id,)) as cur:
            return await cur.fetchone()

    async def accounts(self):
        async with self.db.execute("SELECT * FROM accounts ORDER BY name") as cur:
            return await cur.fetchall()

    async def user(self, account_id: str, name: str):
        async with self.db.execute("SELECT * FROM users WHERE account_id=? AND name=?",
                                   (account_id, name)) as cur:
            return await cur.fetchone()

    async def users(self, account_id: str):
        async with self.db.execute("SELECT * FROM users WHERE account_id=? ORDER BY name",
                                   (account_id,)) as cur:
            return await cur.fetchall()

    _KEY_QUERY = """
        SELECT k.id AS access_key_id, k.secret_enc, k.status, k.created_at,
               u.id AS user_id, u.name AS user_name,
               a.id AS account_id, a.name AS account_name, a.is_admin
        FROM access_keys k JOIN users u ON u.id = k.user_id JOIN accounts a ON a.id = u.account_id
    """

    async def key(self, key_id: str):
        async with self.db.execute(self._KEY_QUERY + " WHERE k.id=?", (key_id,)) as cur:
            return await cur.fetchone()

    async def keys(self, account_id: str | None = None, user_name: str | None = None):
        sql, args = self._KEY_QUERY + " WHERE 1=1", []
        if account_id:
            sql += " AND a.id=?"
            args.append(account_id)
        if user_name:
            sql += " AND u.name=?"
            args.append(user_name)
        async with self.db.execute(sql + " ORDER BY a.name, u.name, k.created_at", args) as cur:
            return await cur.fetchall()

    async def insert_certificate(self, cert_id: str, user_id: str, pem: str) -> None:
        await self.db.execute("INSERT INTO certificates VALUES (?, ?, ?, ?)",
                              (cert_id, user_id, pem, time.time()))

    async def certificates(self, account_id: str) -> list[str]:
        async with self.db.execute(
                "SELECT c.pem FROM certificates c JOIN users u ON u.id = c.user_id "
                "WHERE u.account_id=? ORDER BY c.created_at", (account_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]
