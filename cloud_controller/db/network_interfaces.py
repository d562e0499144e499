"""Network interfaces (migration 0018): their rows, attachments, private
addresses and group sets. A primary interface's (device index 0) groups are
its instance's (instance_groups), every other interface's its own."""
from __future__ import annotations

from cloud_controller.db.chunks import rows_in
from cloud_controller.db.database import Database

COLUMNS = ("id", "account_id", "instance_id", "device_index", "attachment_id", "attached_at",
           "description", "delete_on_termination", "subnet_id", "vpc_id", "zone", "mac",
           "source_dest_check", "created_at")
# An interface with the state of the instance it is attached to (NULL: available).
_SELECT = ("SELECT n.*, i.state AS instance_state, i.account_id AS instance_owner "
           "FROM network_interfaces n LEFT JOIN instances i ON i.id = n.instance_id")


class NetworkInterfaceRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _all(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def insert(self, row: dict) -> None:
        row = {c: row.get(c) for c in COLUMNS}
        row["description"] = row["description"] or ""
        row["delete_on_termination"] = int(bool(row["delete_on_termination"]))
        row["source_dest_check"] = 1 if row["source_dest_check"] is None \
            else int(bool(row["source_dest_check"]))
        await self.db.execute(
            f"INSERT INTO network_interfaces ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in COLUMNS)})", row)

    async def get(self, account_id: str, eni_id: str):
        rows = await self._all(f"{_SELECT} WHERE n.account_id=? AND n.id=?",
                               (account_id, eni_id))
        return rows[0] if rows else None

    async def of_account(self, account_id: str) -> list:
        """The account's interfaces that exist: available ones and those attached to an
        instance that has not ended (a terminated instance's interfaces are gone)."""
        return await self._all(
            f"{_SELECT} WHERE n.account_id=? AND (n.instance_id IS NULL OR "
            "i.state <> 'terminated') ORDER BY n.id", (account_id,))

    async def of_instances(self, instance_ids: list[str]) -> dict[str, list]:
        """{instance id: its attached interfaces in device-index order}."""
        found: dict[str, list] = {i: [] for i in instance_ids}
        for row in await rows_in(self.db, f"{_SELECT} WHERE n.instance_id IN ({{marks}}) "
                                          "ORDER BY n.instance_id, n.device_index",
                                 instance_ids):
            found[row["instance_id"]].append(row)
        return found

    async def attached_to_ended(self) -> list[str]:
        """Instances that ended (terminated) with interfaces in own subnets attached."""
        rows = await self._all(
            "SELECT DISTINCT n.instance_id FROM network_interfaces n JOIN instances i "
            "ON i.id = n.instance_id WHERE n.subnet_id IS NOT NULL AND i.state='terminated'")
        return [r[0] for r in rows]

    async def by_attachment(self, account_id: str, attachment_id: str):
        rows = await self._all(f"{_SELECT} WHERE n.account_id=? AND n.attachment_id=?",
                               (account_id, attachment_id))
        return rows[0] if rows else None

    async def update(self, eni_id: str, **columns) -> None:
        assignments = ", ".join(f"{k} = :{k}" for k in columns)
        await self.db.execute(f"UPDATE network_interfaces SET {assignments} WHERE id = :id",
                              {**columns, "id": eni_id})

    async def attach(self, eni_id: str, instance_id: str, device_index: int,
                     attachment_id: str, at: float, delete_on_termination: bool) -> None:
        await self.update(eni_id, instance_id=instance_id, device_index=device_index,
                          attachment_id=attachment_id, attached_at=at,
                          delete_on_termination=int(delete_on_termination))

    async def detach(self, eni_id: str) -> None:
        await self.update(eni_id, instance_id=None, device_index=None, attachment_id=None,
                          attached_at=None, delete_on_termination=0)

    async def delete(self, eni_id: str) -> None:
        await self.db.execute("DELETE FROM network_interfaces WHERE id=?", (eni_id,))

    # ---- addresses ----

    async def add_addresses(self, eni_id: str, subnet_id: str, addresses: list[str],
                            primary: bool = False) -> None:
        await self.db.executemany(
            "INSERT INTO network_interface_addresses (interface_id, subnet_id, private_ip, "
            "is_primary) VALUES (?, ?, ?, ?)",
            [(eni_id, subnet_id, a, int(primary)) for a in addresses])

    async def remove_addresses(self, eni_id: str, addresses: list[str]) -> None:
        await self.db.executemany(
            "DELETE FROM network_interface_addresses WHERE interface_id=? AND private_ip=?",
            [(eni_id, a) for a in addresses])

    async def addresses_of(self, eni_ids: list[str]) -> dict[str, list]:
        """{eni id: its address rows, the primary first}."""
        found: dict[str, list] = {i: [] for i in eni_ids}
        for row in await rows_in(
                self.db, "SELECT * FROM network_interface_addresses WHERE interface_id IN "
                         "({marks}) ORDER BY interface_id, is_primary DESC, rowid", eni_ids):
            found[row["interface_id"]].append(row)
        return found

    async def addresses_in(self, subnet_id: str) -> set[str]:
        rows = await self._all(
            "SELECT private_ip FROM network_interface_addresses WHERE subnet_id=?",
            (subnet_id,))
        return {r[0] for r in rows}

    async def count_in(self, subnet_id: str) -> int:
        rows = await self._all("SELECT COUNT(*) FROM network_interfaces WHERE subnet_id=?",
                               (subnet_id,))
        return rows[0][0]

    # ---- groups ----

    async def groups_of(self, eni_ids: list[str]) -> dict[str, list[dict]]:
        """{eni id: [{"id", "name"}] of its own group set, by name}; a primary
        interface's: its instance's groups."""
        found: dict[str, list[dict]] = {i: [] for i in eni_ids}
        rows = await rows_in(
            self.db, "SELECT n.id, g.id, g.name FROM network_interfaces n "
                     "JOIN instance_groups ig ON ig.instance_id = n.instance_id "
                     "JOIN security_groups g ON g.id = ig.group_id "
                     "WHERE n.device_index = 0 AND n.id IN ({marks})", eni_ids)
        rows += await rows_in(
            self.db, "SELECT n.id, g.id, g.name FROM network_interfaces n "
                     "JOIN network_interface_groups ng ON ng.interface_id = n.id "
                     "JOIN security_groups g ON g.id = ng.group_id "
                     "WHERE IFNULL(n.device_index, -1) <> 0 AND n.id IN ({marks})", eni_ids)
        for eni_id, group_id, name in sorted(rows, key=lambda r: (r[2], r[1])):
            found[eni_id].append({"id": group_id, "name": name})
        return found

    async def set_groups(self, eni_id: str, group_ids: list[str]) -> None:
        """The interface's own group set (not a primary interface's: its instance's)."""
        await self.db.execute("DELETE FROM network_interface_groups WHERE interface_id=?",
                              (eni_id,))
        await self.db.executemany("INSERT INTO network_interface_groups VALUES (?, ?)",
                                  [(eni_id, g) for g in group_ids])

    async def set_instance_groups(self, instance_id: str, group_ids: list[str]) -> None:
        """A primary interface's group set: its instance's groupSet."""
        await self.db.execute("DELETE FROM instance_groups WHERE instance_id=?",
                              (instance_id,))
        await self.db.executemany("INSERT INTO instance_groups VALUES (?, ?)",
                                  [(instance_id, g) for g in group_ids])

    async def using_group(self, group_id: str) -> list[str]:
        """Interfaces whose own group set holds the group (primary ones: instance_groups)."""
        rows = await self._all("SELECT interface_id FROM network_interface_groups "
                               "WHERE group_id=? ORDER BY interface_id", (group_id,))
        return [r[0] for r in rows]
