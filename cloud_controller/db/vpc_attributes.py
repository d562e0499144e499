"""Own VPCs' attributes (columns of vpcs) and secondary IPv4 CIDR blocks
(vpc_cidr_blocks), migration 0015."""
from __future__ import annotations

import time

from cloud_controller.db.chunks import rows_in
from cloud_controller.db.database import Database

ATTRIBUTE_COLUMNS = ("enable_dns_support", "enable_dns_hostnames", "enable_nau_metrics")


class VpcAttributeRepository:
    def __init__(self, db: Database):
        self.db = db

    async def attributes(self, vpc_id: str) -> dict[str, bool]:
        async with self.db.execute(f"SELECT {', '.join(ATTRIBUTE_COLUMNS)} FROM vpcs WHERE id=?",
                                   (vpc_id,)) as cur:
            row = await cur.fetchone()
        return {c: bool(row[c]) for c in ATTRIBUTE_COLUMNS}

    async def set_attribute(self, vpc_id: str, column: str, value: bool) -> None:
        if column not in ATTRIBUTE_COLUMNS:
            raise ValueError(f"not an attribute column: {column}")
        await self.db.execute(f"UPDATE vpcs SET {column}=? WHERE id=?", (int(value), vpc_id))

    async def cidr_blocks(self, vpc_ids: list[str]) -> list:
        return await rows_in(self.db, "SELECT * FROM vpc_cidr_blocks WHERE vpc_id IN ({marks}) "
                                      "ORDER BY created_at, id", vpc_ids)

    async def cidr_block(self, account_id: str, association_id: str):
        async with self.db.execute(
                "SELECT b.* FROM vpc_cidr_blocks b JOIN vpcs v ON v.id = b.vpc_id "
                "WHERE b.id=? AND v.account_id=?", (association_id, account_id)) as cur:
            return await cur.fetchone()

    async def insert_cidr_block(self, association_id: str, vpc_id: str, cidr: str) -> None:
        await self.db.execute("INSERT INTO vpc_cidr_blocks (id, vpc_id, cidr, created_at) "
                              "VALUES (?, ?, ?, ?)", (association_id, vpc_id, cidr, time.time()))

    async def delete_cidr_block(self, association_id: str) -> None:
        await self.db.execute("DELETE FROM vpc_cidr_blocks WHERE id=?", (association_id,))

    async def delete_cidr_blocks(self, vpc_id: str) -> None:
        await self.db.execute("DELETE FROM vpc_cidr_blocks WHERE vpc_id=?", (vpc_id,))
