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
        """Every interface in an own subnet attached to a live instance, one row per
        address (its primary first), in interface id order, with its sourceDestCheck
        (a primary interface's: its instance's attribute)."""
        async with self.db.execute(
                "SELECT n.id AS eni_id, i.id, i.account_id, n.subnet_id, n.mac, "
                "a.private_ip, a.is_primary, CASE WHEN n.device_index = 0 THEN "
                "COALESCE((SELECT t.source_dest_check FROM instance_attributes t "
                "WHERE t.instance_id = i.id), 1) ELSE n.source_dest_check END "
                "AS source_dest_check FROM network_interfaces n "
                "JOIN instances i ON i.id = n.instance_id "
                "JOIN network_interface_addresses a ON a.interface_id = n.id "
                f"WHERE n.subnet_id IS NOT NULL AND i.state NOT IN "
                f"({','.join('?' * len(PORT_GONE))}) "
                "ORDER BY n.id, a.is_primary DESC, a.rowid", PORT_GONE) as cur:
            return await cur.fetchall()

    async def of_groups(self, group_ids: list[str]) -> list:
        """(group id, eni id) of every interface in own subnets attached to a live
        instance, in those groups: a primary interface's (device index 0) are its
        instance's groups, any other's its own."""
        gone = ','.join('?' * len(PORT_GONE))
        marks = ','.join('?' * len(group_ids))
        async with self.db.execute(
                "SELECT ig.group_id, n.id AS eni_id FROM instance_groups ig "
                "JOIN instances i ON i.id = ig.instance_id "
                "JOIN network_interfaces n ON n.instance_id = i.id AND n.device_index = 0 "
                f"WHERE n.subnet_id IS NOT NULL AND i.state NOT IN ({gone}) "
                f"AND ig.group_id IN ({marks}) "
                "UNION ALL "
                "SELECT g.group_id, n.id AS eni_id FROM network_interface_groups g "
                "JOIN network_interfaces n ON n.id = g.interface_id "
                "JOIN instances i ON i.id = n.instance_id "
                f"WHERE n.device_index <> 0 AND i.state NOT IN ({gone}) "
                f"AND g.group_id IN ({marks}) ORDER BY 2",
                (*PORT_GONE, *group_ids, *PORT_GONE, *group_ids)) as cur:
            return await cur.fetchall()
