"""Public addresses: elastic IPs and the addresses instances get at launch."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database

_SELECT = ("SELECT a.*, COALESCE(a.target_ip, i.private_ip) AS private_ip, i.vpc_id AS vpc_id, "
           "COALESCE(a.target_eni, n.id) AS eni_id "
           "FROM addresses a "
           "LEFT JOIN instances i ON i.id = a.instance_id "
           "LEFT JOIN network_interfaces n ON n.instance_id = a.instance_id AND n.device_index = 0")


class AddressRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _all(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def insert(self, address_id: str, account_id: str, public_ip: str, cluster: str,
                     kind: str, domain: str) -> None:
        await self.db.execute(
            "INSERT INTO addresses (id, account_id, public_ip, cluster, kind, domain, "
            "allocated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (address_id, account_id, public_ip, cluster, kind, domain, time.time()))

    async def elastic(self, account_id: str) -> list:
        return await self._all(f"{_SELECT} WHERE a.account_id=? AND a.kind='elastic' "
                               f"ORDER BY a.public_ip", (account_id,))

    async def at_launch(self, account_id: str) -> list:
        """The account's public addresses at launch (kind 'launch'), with their instances."""
        return await self._all(f"{_SELECT} WHERE a.account_id=? AND a.kind='launch' "
                               f"AND a.instance_id IS NOT NULL", (account_id,))

    async def find(self, account_id: str, *, address_id=None, public_ip=None,
                   association_id=None):
        column, value = next((c, v) for c, v in (("id", address_id), ("public_ip", public_ip),
                                                  ("association_id", association_id)) if v)
        rows = await self._all(f"{_SELECT} WHERE a.account_id=? AND a.kind='elastic' "
                               f"AND a.{column}=?", (account_id, value))
        return rows[0] if rows else None

    async def of_instance(self, instance_id: str):
        rows = await self._all(f"{_SELECT} WHERE a.instance_id=?", (instance_id,))
        return rows[0] if rows else None

    async def instance(self, account_id: str, instance_id: str):
        """The account's instance's state and place, to decide an association on."""
        rows = await self._all(
            "SELECT i.id, i.state, i.cluster, i.zone, i.vpc_id, i.subnet_id, i.private_ip, "
            "n.id AS eni_id FROM instances i LEFT JOIN network_interfaces n "
            "ON n.instance_id = i.id AND n.device_index = 0 WHERE i.id=? AND i.account_id=?",
            (instance_id, account_id))
        return rows[0] if rows else None

    async def mapped_in_vpcs(self, vpc_id: str | None = None) -> list:
        """Elastic IPs associated with instances in own VPCs (all, or one VPC's) that
        have not ended: what the VPCs' routers map (dnat_and_snat)."""
        where = " AND i.vpc_id=?" if vpc_id else ""
        # an interface's private address, while the interface is still attached to the
        # instance and holds the address (a detach or an unassign leaves the row stale)
        return await self._all(
            "SELECT a.id, a.account_id, a.public_ip, i.vpc_id, "
            "COALESCE(a.target_ip, i.private_ip) AS private_ip FROM addresses a "
            "JOIN instances i ON i.id = a.instance_id WHERE i.vpc_id IS NOT NULL "
            "AND i.state NOT IN ('shutting-down', 'terminated') AND (a.target_eni IS NULL OR "
            "EXISTS (SELECT 1 FROM network_interfaces n JOIN network_interface_addresses x "
            "ON x.interface_id = n.id WHERE n.id = a.target_eni AND n.instance_id = i.id "
            "AND x.private_ip = a.target_ip))" + where,
            (vpc_id,) if vpc_id else ())

    async def used_ips(self) -> set[str]:
        return {r[0] for r in await self._all("SELECT public_ip FROM addresses")}

    async def associate(self, address_id: str, instance_id: str | None,
                        association_id: str | None, target: tuple[str, str] | None = None
                        ) -> None:
        """`target`: the (interface, private address) it maps in an own subnet."""
        eni, ip = target or (None, None)
        await self.db.execute(
            "UPDATE addresses SET instance_id=?, association_id=?, target_eni=?, target_ip=? "
            "WHERE id=?", (instance_id, association_id, eni, ip, address_id))

    async def of_target(self, target: tuple[str, str]):
        rows = await self._all(f"{_SELECT} WHERE a.target_eni=? AND a.target_ip=?", target)
        return rows[0] if rows else None

    async def refresh_instance_ip(self, instance_id: str) -> None:
        """An own subnet's instance's public address: the one its primary interface's
        primary address maps."""
        await self.db.execute(
            "UPDATE instances SET public_ip = (SELECT a.public_ip FROM addresses a "
            "JOIN network_interfaces n ON n.id = a.target_eni AND n.device_index = 0 "
            "WHERE a.instance_id = instances.id AND n.instance_id = instances.id "
            "AND a.target_ip = instances.private_ip) WHERE id = ?", (instance_id,))

    async def delete(self, address_id: str) -> None:
        await self.db.execute("DELETE FROM addresses WHERE id=?", (address_id,))

    async def of_ended_instances(self) -> list:
        return await self._all(
            "SELECT a.* FROM addresses a JOIN instances i ON i.id = a.instance_id "
            "WHERE i.state IN ('shutting-down', 'terminated')")

    async def set_instance_ip(self, instance_id: str, public_ip: str | None) -> None:
        await self.db.execute("UPDATE instances SET public_ip=? WHERE id=?",
                              (public_ip, instance_id))
