"""VPCs and subnets: each account's default VPC and default subnets (one per
zone), and in VPC mode the ones an account makes (docs/vpc.md)."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database


class VpcRepository:
    def __init__(self, db: Database):
        self.db = db

    async def ensure(self, vpc: dict, subnets: list[dict]) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT OR IGNORE INTO vpcs (id, account_id, cidr, is_default, created_at) "
            "VALUES (?, ?, ?, 1, ?)", (vpc["id"], vpc["account_id"], vpc["cidr"], now))
        await self.db.executemany(
            "INSERT OR IGNORE INTO subnets (id, account_id, vpc_id, zone, cidr, is_default, "
            "created_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
            [(s["id"], s["account_id"], s["vpc_id"], s["zone"], s["cidr"], now)
             for s in subnets])

    # ---- the VPCs and subnets accounts make (VPC mode) ----

    async def insert_vpc(self, vpc_id: str, account_id: str, cidr: str) -> None:
        await self.db.execute(
            "INSERT INTO vpcs (id, account_id, cidr, is_default, created_at) "
            "VALUES (?, ?, ?, 0, ?)", (vpc_id, account_id, cidr, time.time()))

    async def insert_subnet(self, subnet_id: str, account_id: str, vpc_id: str, zone: str,
                            cidr: str) -> None:
        await self.db.execute(
            "INSERT INTO subnets (id, account_id, vpc_id, zone, cidr, is_default, created_at) "
            "VALUES (?, ?, ?, ?, ?, 0, ?)",
            (subnet_id, account_id, vpc_id, zone, cidr, time.time()))

    async def own_vpcs(self, account_id: str | None = None) -> list:
        """The VPCs accounts made (not the default ones), of one account or all."""
        sql, args = "SELECT * FROM vpcs WHERE is_default=0", ()
        if account_id is not None:
            sql, args = sql + " AND account_id=?", (account_id,)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            return await cur.fetchall()

    async def own_subnets(self, account_id: str | None = None,
                          vpc_id: str | None = None) -> list:
        sql, args = "SELECT * FROM subnets WHERE is_default=0", []
        if account_id is not None:
            sql += " AND account_id=?"
            args.append(account_id)
        if vpc_id is not None:
            sql += " AND vpc_id=?"
            args.append(vpc_id)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            return await cur.fetchall()

    async def vpc(self, account_id: str, vpc_id: str):
        async with self.db.execute("SELECT * FROM vpcs WHERE account_id=? AND id=?",
                                   (account_id, vpc_id)) as cur:
            return await cur.fetchone()

    async def subnet(self, account_id: str, subnet_id: str):
        async with self.db.execute("SELECT * FROM subnets WHERE account_id=? AND id=?",
                                   (account_id, subnet_id)) as cur:
            return await cur.fetchone()

    async def count_vpcs(self, account_id: str) -> int:
        async with self.db.execute("SELECT COUNT(*) FROM vpcs WHERE account_id=? "
                                   "AND is_default=0", (account_id,)) as cur:
            return (await cur.fetchone())[0]

    async def delete_vpc(self, vpc_id: str) -> None:
        await self.db.execute("DELETE FROM vpcs WHERE id=? AND is_default=0", (vpc_id,))

    async def delete_subnet(self, subnet_id: str) -> None:
        await self.db.execute("DELETE FROM subnets WHERE id=? AND is_default=0", (subnet_id,))

    async def set_map_public_ip(self, subnet_id: str, value: bool) -> None:
        await self.db.execute("UPDATE subnets SET map_public_ip=? WHERE id=?",
                              (int(value), subnet_id))
