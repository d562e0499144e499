"""Internet gateways of own VPCs (docs/vpc.md)."""
from __future__ import annotations

import time

from cloud_controller.db.vpc_rows import VpcPartRows


class InternetGatewayRepository(VpcPartRows):
    async def insert(self, igw_id: str, account_id: str) -> None:
        await self.db.execute("INSERT INTO internet_gateways (id, account_id, created_at) "
                              "VALUES (?, ?, ?)", (igw_id, account_id, time.time()))

    async def gateways(self, account_id: str | None = None) -> list:
        return await self._listed("internet_gateways", account_id)

    async def gateway(self, account_id: str, igw_id: str):
        return await self._owned("internet_gateways", account_id, igw_id)

    async def of_vpc(self, vpc_id: str):
        return await self._one("SELECT * FROM internet_gateways WHERE vpc_id=?", (vpc_id,))

    async def outside_ips(self) -> set[str]:
        rows = await self._all("SELECT outside_ip FROM internet_gateways "
                               "WHERE outside_ip IS NOT NULL")
        return {r[0] for r in rows}

    async def attach(self, igw_id: str, vpc_id: str | None, outside_ip: str | None) -> None:
        await self.db.execute("UPDATE internet_gateways SET vpc_id=?, outside_ip=? WHERE id=?",
                              (vpc_id, outside_ip, igw_id))

    async def delete(self, igw_id: str) -> None:
        await self.db.execute("DELETE FROM internet_gateways WHERE id=?", (igw_id,))
