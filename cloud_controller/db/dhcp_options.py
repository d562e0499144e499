"""DHCP option sets (docs/vpc.md); which VPC uses which is the VPC's row."""
from __future__ import annotations

import json
import time

from cloud_controller.db.vpc_rows import VpcPartRows


class DhcpOptionsRepository(VpcPartRows):
    async def insert(self, dopt_id: str, account_id: str,
                     config: list[tuple[str, list[str]]]) -> None:
        await self.db.execute("INSERT INTO dhcp_options (id, account_id, config, created_at) "
                              "VALUES (?, ?, ?, ?)",
                              (dopt_id, account_id, json.dumps(config), time.time()))

    async def sets(self, account_id: str | None = None) -> list:
        return await self._listed("dhcp_options", account_id)

    async def options(self, account_id: str, dopt_id: str):
        return await self._owned("dhcp_options", account_id, dopt_id)

    async def delete(self, dopt_id: str) -> None:
        await self.db.execute("DELETE FROM dhcp_options WHERE id=?", (dopt_id,))
