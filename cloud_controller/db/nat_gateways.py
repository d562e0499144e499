"""NAT gateways of own VPCs (docs/vpc.md); deleted rows stay listed."""
from __future__ import annotations

import time

from cloud_controller.db.vpc_rows import VpcPartRows

LIVE = ("pending", "available", "deleting")


class NatGatewayRepository(VpcPartRows):
    async def insert(self, row: dict) -> None:
        cols = ", ".join(row)
        await self.db.execute(f"INSERT INTO nat_gateways ({cols}, created_at) VALUES "
                              f"({', '.join('?' * len(row))}, ?)",
                              (*row.values(), time.time()))

    async def nats(self, account_id: str | None = None) -> list:
        return await self._listed("nat_gateways", account_id)

    async def nat(self, account_id: str, nat_id: str):
        return await self._owned("nat_gateways", account_id, nat_id)

    async def by_token(self, account_id: str, client_token: str):
        return await self._by_token("nat_gateways", account_id, client_token)

    async def live(self, column: str, value: str) -> list:
        """Live gateways whose `column` (vpc_id, subnet_id, allocation_id) is `value`."""
        assert column in ("vpc_id", "subnet_id", "allocation_id")
        return await self._all(f"SELECT * FROM nat_gateways WHERE {column}=? AND state IN "
                               f"({', '.join('?' * len(LIVE))})", (value, *LIVE))

    async def set_state(self, nat_id: str, state: str) -> None:
        deleted = time.time() if state == "deleted" else None
        await self.db.execute("UPDATE nat_gateways SET state=?, deleted_at=COALESCE(?, "
                              "deleted_at) WHERE id=?", (state, deleted, nat_id))
