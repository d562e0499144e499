"""Instances in own subnets (VPC mode, docs/vpc.md): the addresses they hold
and the NICs OVN must carry for them. An instance holds its address until it
is terminated; its port goes once it is shutting down."""
from __future__ import annotations

from cloud_controller.db.database import Database

PORT_GONE = ("shutting-down", "terminated")


class SubnetPortRepository:
    def __init__(self, db: Database):
        self.db = db

    async def addresses_in(self, subnet_id: str) -> set[str]:
        async with self.db.execute(
                "SELECT private_ip FROM instances WHERE subnet_id=? AND state<>'terminated'",
                (subnet_id,)) as cur:
            return {row[0] for row in await cur.fetchall()}

    async def count_in(self, subnet_id: str) -> int:
        async with self.db.execute(
                "SELECT COUNT(*) FROM instances WHERE subnet_id=? AND state<>'terminated'",
                (subnet_id,)) as cur:
            return (await cur.fetchone())[0]

    async def ports(self) -> list:
        """Every instance NIC that OVN must carry, with its interface's id."""
        async with self.db.execute(
                "SELECT i.id, i.account_id, i.subnet_id, i.mac, i.private_ip, n.id AS eni_id "
                "FROM instances i JOIN network_interfaces n ON n.instance_id = i.id "
                f"WHERE i.subnet_id IS NOT NULL AND i.state NOT IN "
                f"({','.join('?' * len(PORT_GONE))}) ORDER BY n.id", PORT_GONE) as cur:
            return await cur.fetchall()

    async def of_groups(self, group_ids: list[str]) -> list:
        """(group id, eni id) of every live instance NIC in own subnets in those groups."""
        async with self.db.execute(
                "SELECT ig.group_id, n.id AS eni_id FROM instance_groups ig "
                "JOIN instances i ON i.id = ig.instance_id "
                "JOIN network_interfaces n ON n.instance_id = i.id "
                f"WHERE i.subnet_id IS NOT NULL AND i.state NOT IN "
                f"({','.join('?' * len(PORT_GONE))}) AND ig.group_id IN "
                f"({','.join('?' * len(group_ids))}) ORDER BY n.id",
                (*PORT_GONE, *group_ids)) as cur:
            return await cur.fetchall()
