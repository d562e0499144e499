"""VPC mode's routing rows (docs/vpc.md): internet gateways, route tables with
their associations and routes, NAT gateways and DHCP option sets."""
from __future__ import annotations

import json
import time

from cloud_controller.db.database import Database


class VpcRoutingRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _all(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def _one(self, sql: str, args=()):
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    @staticmethod
    def _scoped(sql: str, account_id: str | None, args: list) -> tuple[str, list]:
        if account_id is None:
            return sql, args
        return sql + (" AND" if " WHERE " in sql else " WHERE") + " account_id=?", \
            args + [account_id]

    # ---- internet gateways ----

    async def insert_gateway(self, igw_id: str, account_id: str) -> None:
        await self.db.execute("INSERT INTO internet_gateways (id, account_id, created_at) "
                              "VALUES (?, ?, ?)", (igw_id, account_id, time.time()))

    async def gateways(self, account_id: str | None = None) -> list:
        sql, args = self._scoped("SELECT * FROM internet_gateways", account_id, [])
        return await self._all(sql + " ORDER BY id", args)

    async def gateway(self, account_id: str, igw_id: str):
        return await self._one("SELECT * FROM internet_gateways WHERE id=? AND account_id=?",
                               (igw_id, account_id))

    async def gateway_of_vpc(self, vpc_id: str):
        return await self._one("SELECT * FROM internet_gateways WHERE vpc_id=?", (vpc_id,))

    async def outside_ips(self) -> set[str]:
        rows = await self._all("SELECT outside_ip FROM internet_gateways "
                               "WHERE outside_ip IS NOT NULL")
        return {r[0] for r in rows}

    async def attach_gateway(self, igw_id: str, vpc_id: str | None,
                             outside_ip: str | None) -> None:
        await self.db.execute("UPDATE internet_gateways SET vpc_id=?, outside_ip=? WHERE id=?",
                              (vpc_id, outside_ip, igw_id))

    async def delete_gateway(self, igw_id: str) -> None:
        await self.db.execute("DELETE FROM internet_gateways WHERE id=?", (igw_id,))

    # ---- route tables ----

    async def insert_table(self, rtb_id: str, account_id: str, vpc_id: str) -> None:
        await self.db.execute("INSERT INTO route_tables (id, account_id, vpc_id, created_at) "
                              "VALUES (?, ?, ?, ?)", (rtb_id, account_id, vpc_id, time.time()))

    async def tables(self, account_id: str | None = None) -> list:
        sql, args = self._scoped("SELECT * FROM route_tables", account_id, [])
        return await self._all(sql + " ORDER BY id", args)

    async def table(self, account_id: str, rtb_id: str):
        return await self._one("SELECT * FROM route_tables WHERE id=? AND account_id=?",
                               (rtb_id, account_id))

    async def tables_of_vpc(self, vpc_id: str) -> list:
        return await self._all("SELECT * FROM route_tables WHERE vpc_id=?", (vpc_id,))

    async def delete_table(self, rtb_id: str) -> None:
        await self.db.execute("DELETE FROM routes WHERE route_table_id=?", (rtb_id,))
        await self.db.execute("DELETE FROM route_tables WHERE id=?", (rtb_id,))

    async def associations(self, account_id: str | None = None) -> list:
        sql = ("SELECT a.* FROM route_table_associations a JOIN route_tables t "
               "ON t.id = a.route_table_id")
        args: list = []
        if account_id is not None:
            sql, args = sql + " WHERE t.account_id=?", [account_id]
        return await self._all(sql + " ORDER BY a.id", args)

    async def association(self, account_id: str, association_id: str):
        return await self._one(
            "SELECT a.* FROM route_table_associations a JOIN route_tables t "
            "ON t.id = a.route_table_id WHERE a.id=? AND t.account_id=?",
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
        marks = ",".join("?" * len(rtb_ids)) or "NULL"
        return await self._all(f"SELECT * FROM routes WHERE route_table_id IN ({marks}) "
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

    async def routes_to(self, target_id: str) -> list:
        return await self._all("SELECT * FROM routes WHERE target_id=?", (target_id,))

    async def private_ip_of(self, account_id: str, kind: str, target_id: str):
        """(found, private address) of an instance or network interface of the account."""
        if kind == "instance":
            row = await self._one("SELECT private_ip FROM instances WHERE id=? AND "
                                  "account_id=? AND state != 'terminated'",
                                  (target_id, account_id))
        else:
            row = await self._one("SELECT i.private_ip FROM network_interfaces n JOIN "
                                  "instances i ON i.id = n.instance_id WHERE n.id=? AND "
                                  "n.account_id=?", (target_id, account_id))
        return (row is not None, row["private_ip"] if row is not None else None)

    async def private_ips(self) -> dict[str, str]:
        """Every live instance's and interface's private address, by id (route targets)."""
        rows = await self._all("SELECT i.id, n.id AS eni_id, i.private_ip FROM instances i "
                               "LEFT JOIN network_interfaces n ON n.instance_id = i.id "
                               "WHERE i.state != 'terminated' AND i.private_ip IS NOT NULL")
        found = {}
        for row in rows:
            found[row["id"]] = row["private_ip"]
            if row["eni_id"]:
                found[row["eni_id"]] = row["private_ip"]
        return found

    # ---- NAT gateways ----

    async def insert_nat(self, row: dict) -> None:
        cols = ", ".join(row)
        await self.db.execute(f"INSERT INTO nat_gateways ({cols}, created_at) VALUES "
                              f"({', '.join('?' * len(row))}, ?)",
                              (*row.values(), time.time()))

    async def nats(self, account_id: str | None = None) -> list:
        sql, args = self._scoped("SELECT * FROM nat_gateways", account_id, [])
        return await self._all(sql + " ORDER BY id", args)

    async def nat(self, account_id: str, nat_id: str):
        return await self._one("SELECT * FROM nat_gateways WHERE id=? AND account_id=?",
                               (nat_id, account_id))

    async def live_nats(self, *, vpc_id: str | None = None, subnet_id: str | None = None,
                        allocation_id: str | None = None) -> list:
        column, value = next((c, v) for c, v in (("vpc_id", vpc_id), ("subnet_id", subnet_id),
                                                  ("allocation_id", allocation_id)) if v)
        return await self._all(f"SELECT * FROM nat_gateways WHERE {column}=? AND state IN "
                               "('pending', 'available', 'deleting')", (value,))

    async def set_nat_state(self, nat_id: str, state: str) -> None:
        deleted = time.time() if state == "deleted" else None
        await self.db.execute("UPDATE nat_gateways SET state=?, deleted_at=COALESCE(?, "
                              "deleted_at) WHERE id=?", (state, deleted, nat_id))

    # ---- DHCP option sets ----

    async def insert_options(self, dopt_id: str, account_id: str,
                             config: list[tuple[str, list[str]]]) -> None:
        await self.db.execute("INSERT INTO dhcp_options (id, account_id, config, created_at) "
                              "VALUES (?, ?, ?, ?)",
                              (dopt_id, account_id, json.dumps(config), time.time()))

    async def options_sets(self, account_id: str | None = None) -> list:
        sql, args = self._scoped("SELECT * FROM dhcp_options", account_id, [])
        return await self._all(sql + " ORDER BY id", args)

    async def options(self, account_id: str, dopt_id: str):
        return await self._one("SELECT * FROM dhcp_options WHERE id=? AND account_id=?",
                               (dopt_id, account_id))

    async def delete_options(self, dopt_id: str) -> None:
        await self.db.execute("DELETE FROM dhcp_options WHERE id=?", (dopt_id,))

    async def vpcs_using_options(self, dopt_id: str) -> list:
        return await self._all("SELECT id FROM vpcs WHERE dhcp_options_id=?", (dopt_id,))

    async def set_vpc_options(self, vpc_id: str, dopt_id: str | None) -> None:
        await self.db.execute("UPDATE vpcs SET dhcp_options_id=? WHERE id=?", (dopt_id, vpc_id))
