"""What the repositories of an own VPC's parts share (docs/vpc.md): reading rows,
of one account or of all (the OVN model reads every account's)."""
from __future__ import annotations

from cloud_controller.db.database import Database


class VpcPartRows:
    def __init__(self, db: Database):
        self.db = db

    async def _all(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def _one(self, sql: str, args=()):
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _listed(self, table: str, account_id: str | None) -> list:
        """A table's rows, of one account or (None) of all, by id."""
        if account_id is None:
            return await self._all(f"SELECT * FROM {table} ORDER BY id")
        return await self._all(f"SELECT * FROM {table} WHERE account_id=? ORDER BY id",
                               (account_id,))

    async def _owned(self, table: str, account_id: str, resource_id: str):
        return await self._one(f"SELECT * FROM {table} WHERE id=? AND account_id=?",
                               (resource_id, account_id))

    async def _by_token(self, table: str, account_id: str, client_token: str):
        """The row an earlier call with the same ClientToken made, or None."""
        return await self._one(f"SELECT * FROM {table} WHERE account_id=? AND client_token=?",
                               (account_id, client_token))
