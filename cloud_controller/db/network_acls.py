"""Network ACLs of own VPCs: the ACLs, their entries and subnets' associations
(migration 0015)."""
from __future__ import annotations

import time

from cloud_controller.db.chunks import rows_in
from cloud_controller.db.database import Database

ENTRY_COLUMNS = ("acl_id", "egress", "rule_number", "protocol", "rule_action", "cidr",
                 "from_port", "to_port", "icmp_type", "icmp_code")


class NetworkAclRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _rows(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def insert_acl(self, acl_id: str, account_id: str, vpc_id: str,
                         is_default: bool) -> None:
        await self.db.execute(
            "INSERT INTO network_acls (id, account_id, vpc_id, is_default, created_at) "
            "VALUES (?, ?, ?, ?, ?)", (acl_id, account_id, vpc_id, int(is_default), time.time()))

    async def acls(self, account_id: str | None = None) -> list:
        sql, args = "SELECT * FROM network_acls", ()
        if account_id is not None:
            sql, args = sql + " WHERE account_id=?", (account_id,)
        return await self._rows(sql + " ORDER BY id", args)

    async def acl(self, account_id: str, acl_id: str):
        rows = await self._rows("SELECT * FROM network_acls WHERE account_id=? AND id=?",
                                (account_id, acl_id))
        return rows[0] if rows else None

    async def of_vpc(self, vpc_id: str) -> list:
        return await self._rows("SELECT * FROM network_acls WHERE vpc_id=? ORDER BY id",
                                (vpc_id,))

    async def delete_acl(self, acl_id: str) -> None:
        """Its entries go with it (ON DELETE CASCADE)."""
        await self.db.execute("DELETE FROM network_acls WHERE id=?", (acl_id,))

    async def entries(self, acl_ids: list[str]) -> list:
        return await rows_in(self.db, "SELECT * FROM network_acl_entries WHERE acl_id IN "
                                      "({marks}) ORDER BY acl_id, egress, rule_number", acl_ids)

    async def entry(self, acl_id: str, egress: bool, rule_number: int):
        rows = await self._rows("SELECT * FROM network_acl_entries WHERE acl_id=? AND egress=? "
                                "AND rule_number=?", (acl_id, int(egress), rule_number))
        return rows[0] if rows else None

    async def put_entry(self, row: dict) -> None:
        """Inserts, or replaces the entry of the same number and direction."""
        row = {c: row.get(c) for c in ENTRY_COLUMNS}
        await self.db.execute(
            f"INSERT OR REPLACE INTO network_acl_entries ({', '.join(ENTRY_COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in ENTRY_COLUMNS)})", row)

    async def delete_entry(self, acl_id: str, egress: bool, rule_number: int) -> None:
        await self.db.execute("DELETE FROM network_acl_entries WHERE acl_id=? AND egress=? AND "
                              "rule_number=?", (acl_id, int(egress), rule_number))

    async def associations(self, acl_ids: list[str] | None = None) -> list:
        if acl_ids is None:
            return await self._rows("SELECT * FROM network_acl_associations ORDER BY id")
        return await rows_in(self.db, "SELECT * FROM network_acl_associations WHERE acl_id IN "
                                      "({marks}) ORDER BY id", acl_ids)

    async def association(self, association_id: str):
        rows = await self._rows("SELECT * FROM network_acl_associations WHERE id=?",
                                (association_id,))
        return rows[0] if rows else None

    async def associate(self, association_id: str, subnet_id: str, acl_id: str) -> None:
        """The subnet's one association: a new one replaces the old."""
        await self.db.execute("DELETE FROM network_acl_associations WHERE subnet_id=?",
                              (subnet_id,))
        await self.db.execute("INSERT INTO network_acl_associations (id, subnet_id, acl_id) "
                              "VALUES (?, ?, ?)", (association_id, subnet_id, acl_id))

    async def dissociate_subnet(self, subnet_id: str) -> None:
        await self.db.execute("DELETE FROM network_acl_associations WHERE subnet_id=?",
                              (subnet_id,))
