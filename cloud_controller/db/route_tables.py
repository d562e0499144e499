"""Route tables of own VPCs, their associations and routes (docs/vpc.md); the
private addresses of the instances and interfaces routes may point at."""
from __future__ import annotations

import time

from cloud_controller.db.chunks import rows_in
from cloud_controller.db.vpc_rows import VpcPartRows

_ASSOCIATIONS = ("SELECT a.* FROM route_table_associations a JOIN route_tables t "
                 "ON t.id = a.route_table_id")


class RouteTableRepository(VpcPartRows):
    async def insert_table(self, rtb_id: str, account_id: str, vpc_id: str,
                           client_token: str | None = None) -> None:
        await self.db.execute("INSERT INTO route_tables (id, account_id, vpc_id, client_token, "
                              "created_at) VALUES (?, ?, ?, ?, ?)",
                              (rtb_id, account_id, vpc_id, client_token, time.time()))

    async def tables(self, account_id: str | None = None) -> list:
        return await self._listed("route_tables", account_id)

    async def table(self, account_id: str, rtb_id: str):
        return await self._owned("route_tables", account_id, rtb_id)

    async def by_token(self, account_id: str, client_token: str):
        return await self._by_token("route_tables", account_id, client_token)

    async def tables_of_vpc(self, vpc_id: str) -> list:
        return await self._all("SELECT * FROM route_tables WHERE vpc_id=?", (vpc_id,))

    async def delete_table(self, rtb_id: str) -> None:
        await self.db.execute("DELETE FROM routes WHERE route_table_id=?", (rtb_id,))
        await self.db.execute("DELETE FROM route_tables WHERE id=?", (rtb_id,))

    # ---- associations ----

    async def associations(self, account_id: str | None = None) -> list:
        if account_id is None:
            return await self._all(_ASSOCIATIONS + " ORDER BY a.id")
        return await self._all(_ASSOCIATIONS + " WHERE t.account_id=? ORDER BY a.id",
                               (account_id,))

    async def association(self, account_id: str, association_id: str):
        return await self._one(_ASSOCIATIONS + " WHERE a.id=? AND t.account_id=?",
                               (association_id, account_id))

    async def association_of_subnet(self, subnet_id: str):
        return await self._one("SELECT * FROM route_table_associations WHERE subnet_id=?",
                               (subnet_id,))

    async def associations_of_table(self, rtb_id: str) -> list:
        return await self._all("SELECT * FROM route_table_associations WHERE route_table_id=?",
                               (rtb_id,))

    async def associate(self, association_id: str, rtb_id: str, vpc_id: str,
                        subnet_id: str | None) -> None:
        await self.db.execute(
            "INSERT INTO route_table_associations (id, route_table_id, vpc_id, subnet_id) "
            "VALUES (?, ?, ?, ?)", (association_id, rtb_id, vpc_id, subnet_id))

    async def reassociate(self, old_id: str, new_id: str, rtb_id: str) -> None:
        await self.db.execute("UPDATE route_table_associations SET id=?, route_table_id=? "
                              "WHERE id=?", (new_id, rtb_id, old_id))

    async def disassociate(self, association_id: str) -> None:
        await self.db.execute("DELETE FROM route_table_associations WHERE id=?",
                              (association_id,))

    async def disassociate_subnet(self, subnet_id: str) -> None:
        await self.db.execute("DELETE FROM route_table_associations WHERE subnet_id=?",
                              (subnet_id,))

    async def disassociate_vpc(self, vpc_id: str) -> None:
        await self.db.execute("DELETE FROM route_table_associations WHERE vpc_id=?", (vpc_id,))

    # ---- routes ----

    async def routes(self, rtb_ids: list[str] | None = None) -> list:
        if rtb_ids is None:
            return await self._all("SELECT * FROM routes ORDER BY route_table_id, destination")
        return await rows_in(self.db, "SELECT * FROM routes WHERE route_table_id IN ({marks}) "
                             "ORDER BY route_table_id, destination", rtb_ids)

    async def route(self, rtb_id: str, destination: str):
        return await self._one("SELECT * FROM routes WHERE route_table_id=? AND destination=?",
                               (rtb_id, destination))

    async def put_route(self, rtb_id: str, destination: str, kind: str, target: str) -> None:
        await self.db.execute(
            "INSERT INTO routes (route_table_id, destination, target_kind, target_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (route_table_id, destination) DO UPDATE SET "
            "target_kind=excluded.target_kind, target_id=excluded.target_id",
            (rtb_id, destination, kind, target))

    async def delete_route(self, rtb_id: str, destination: str) -> None:
        await self.db.execute("DELETE FROM routes WHERE route_table_id=? AND destination=?",
                              (rtb_id, destination))

    # ---- what routes point at ----

    async def private_ip_of(self, account_id: str, kind: str, target_id: str):
        """(found, private address) of an instance or network interface of the account."""
        if kind == "instance":
            row = await self._one("SELECT private_ip FROM instances WHERE id=? AND "
                                  "account_id=? AND state != 'terminated'",
                                  (target_id, account_id))
        else:
            row = await self._one("SELECT a.private_ip FROM network_interfaces n JOIN "
                                  "network_interface_addresses a ON a.interface_id = n.id "
                                  "AND a.is_primary WHERE n.id=? AND n.account_id=?",
                                  (target_id, account_id))
        return (row is not None, row["private_ip"] if row is not None else None)

    async def private_ips(self) -> dict[str, str]:
        """Every live instance's and own subnet interface's private address, by id (an
        interface's: its primary one, while it is attached to a live instance)."""
        rows = await self._all("SELECT id, private_ip FROM instances "
                               "WHERE state != 'terminated' AND private_ip IS NOT NULL")
        found = {row["id"]: row["private_ip"] for row in rows}
        for row in await self._all(
                "SELECT n.id, a.private_ip FROM network_interfaces n "
                "JOIN network_interface_addresses a ON a.interface_id = n.id AND a.is_primary "
                "JOIN instances i ON i.id = n.instance_id WHERE i.state != 'terminated'"):
            found[row["id"]] = row["private_ip"]
        for row in await self._all(  # EDGE instances' one interface: the instance's address
                "SELECT n.id, i.private_ip FROM network_interfaces n JOIN instances i "
                "ON i.id = n.instance_id WHERE n.subnet_id IS NULL AND n.device_index = 0 "
                "AND i.state != 'terminated' AND i.private_ip IS NOT NULL"):
            found[row["id"]] = row["private_ip"]
        return found
