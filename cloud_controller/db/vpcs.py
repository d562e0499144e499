"""Each account's default VPC and its default subnets (one per zone)."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database


class VpcRepository:
    def __init__(self, db: Database):
        self.db = db

    async def ensure(self, vpc: dict, subnets: list[dict]) -> None:
        now = time.time()
        await self.db.execute("INSERT OR IGNORE INTO vpcs VALUES (?, ?, ?, ?)",
                              (vpc["id"], vpc["account_id"], vpc["cidr"], now))
        await self.db.executemany(
            "INSERT OR IGNORE INTO subnets VALUES (?, ?, ?, ?, ?, ?)",
            [(s["id"], s["account_id"], s["vpc_id"], s["zone"], s["cidr"], now)
             for s in subnets])
