"""VPCs and subnets: each account's default VPC and default subnets (one per
zone), and in VPC mode the ones an account makes (docs/vpc.md).

"Own" rows are those on OVN: the VPCs and subnets accounts made, and in VPC
mode the default VPC and its subnets once they are real (vpcs.on_ovn)."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database


_OWN_VPC = "(is_default=0 OR on_ovn=1)"
_OWN_SUBNET = "(is_default=0 OR vpc_id IN (SELECT id FROM vpcs WHERE on_ovn=1))"


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

    async def make_real(self, vpc: dict, subnets: list[dict]) -> None:
        """VPC mode: the default VPC and its subnets as real ones (in the caller's
        unit): its block, the subnets' blocks, MapPublicIpOnLaunch, on OVN from now."""
        await self.ensure(vpc, [])
        await self.db.execute("UPDATE vpcs SET cidr=?, on_ovn=1 WHERE id=?",
                              (vpc["cidr"], vpc["id"]))
        await self.add_default_subnets(subnets)

    async def add_default_subnets(self, subnets: list[dict]) -> None:
        for s in subnets:  # a row of edge mode's facade takes the real block
            await self.db.execute(
                "INSERT INTO subnets (id, account_id, vpc_id, zone, cidr, is_default, "
                "map_public_ip, created_at) VALUES (?, ?, ?, ?, ?, 1, 1, ?) "
                "ON CONFLICT(id) DO UPDATE SET cidr=excluded.cidr, map_public_ip=1",
                (s["id"], s["account_id"], s["vpc_id"], s["zone"], s["cidr"], time.time()))

    async def real_default(self, account_id: str):
        """The account's default VPC row if it is on OVN, else None."""
        async with self.db.execute("SELECT * FROM vpcs WHERE account_id=? AND is_default=1 "
                                   "AND on_ovn=1", (account_id,)) as cur:
            return await cur.fetchone()

    async def subnets_of(self, vpc_id: str) -> list:
        async with self.db.execute("SELECT * FROM subnets WHERE vpc_id=? ORDER BY id",
                                   (vpc_id,)) as cur:
            return await cur.fetchall()

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
        """The VPCs on OVN (those accounts made, real default ones), of one account or
        all."""
        sql, args = f"SELECT * FROM vpcs WHERE {_OWN_VPC}", ()
        if account_id is not None:
            sql, args = sql + " AND account_id=?", (account_id,)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            return await cur.fetchall()

    async def own_subnets(self, account_id: str | None = None,
                          vpc_id: str | None = None) -> list:
        sql, args = f"SELECT * FROM subnets WHERE {_OWN_SUBNET}", []
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
        async with self.db.execute("SELECT s.*, v.on_ovn AS on_ovn FROM subnets s "
                                   "JOIN vpcs v ON v.id = s.vpc_id "
                                   "WHERE s.account_id=? AND s.id=?",
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

    async def set_dhcp_options(self, vpc_id: str, dopt_id: str | None) -> None:
        await self.db.execute("UPDATE vpcs SET dhcp_options_id=? WHERE id=?", (dopt_id, vpc_id))

    async def using_dhcp_options(self, dopt_id: str) -> bool:
        async with self.db.execute("SELECT 1 FROM vpcs WHERE dhcp_options_id=? LIMIT 1",
                                   (dopt_id,)) as cur:
            return await cur.fetchone() is not None
