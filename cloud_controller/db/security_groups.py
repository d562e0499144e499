"""Security groups and their rules (one row per CIDR or source group).

A group's vpc_id is NULL for the account's default VPC (EDGE's groups, looked up
by name as always) or an own VPC's id (VPC mode: names unique within the VPC)."""
from __future__ import annotations

import time

from cloud_controller.db.database import Database

from cloud_controller.db.chunks import rows_in

RULE_COLUMNS = ("id", "group_id", "account_id", "egress", "protocol", "from_port", "to_port",
                "cidr", "source_group_id", "description", "created_at", "cidr_ipv6",
                "prefix_list_id")
# A rule's one target: an IPv4 CIDR, a source group, an IPv6 CIDR or a prefix list.
TARGETS = ("cidr", "source_group_id", "cidr_ipv6", "prefix_list_id")


class GroupRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _rows(self, sql: str, args) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def by_names(self, account_id: str, names: list[str]):
        marks = ",".join("?" * len(names))
        return await self._rows(
            f"SELECT * FROM security_groups WHERE account_id=? AND vpc_id IS NULL "
            f"AND name IN ({marks})", [account_id, *names])

    async def by_name_in_vpc(self, account_id: str, vpc_id: str, name: str):
        rows = await self._rows("SELECT * FROM security_groups WHERE account_id=? AND "
                                "vpc_id=? AND name=?", (account_id, vpc_id, name))
        return rows[0] if rows else None

    async def in_vpcs(self, vpc_ids: list[str] | None = None):
        """The groups of own VPCs: of those given, or of every one (the OVN model)."""
        if vpc_ids is None:
            return await self._rows("SELECT * FROM security_groups WHERE vpc_id IS NOT NULL "
                                    "ORDER BY id", ())
        return await rows_in(self.db, "SELECT * FROM security_groups WHERE vpc_id IN "
                                      "({marks}) ORDER BY id", vpc_ids)

    async def of_real_default_vpcs(self):
        """Groups without a VpcId of accounts whose default VPC is on OVN (vpc mode):
        that VPC's groups."""
        return await self._rows("SELECT * FROM security_groups WHERE vpc_id IS NULL AND "
                                "account_id IN (SELECT account_id FROM vpcs WHERE "
                                "is_default=1 AND on_ovn=1) ORDER BY id", ())

    async def by_ids(self, account_id: str, group_ids: list[str]):
        marks = ",".join("?" * len(group_ids))
        return await self._rows(
            f"SELECT * FROM security_groups WHERE account_id=? AND id IN ({marks})",
            [account_id, *group_ids])

    async def list(self, account_id: str):
        return await self._rows("SELECT * FROM security_groups WHERE account_id=? ORDER BY name",
                                (account_id,))

    async def of_accounts(self, account_ids: list[str]):
        marks = ",".join("?" * len(account_ids))
        return await self._rows(
            f"SELECT * FROM security_groups WHERE account_id IN ({marks}) AND vpc_id IS NULL "
            "ORDER BY id",
            account_ids)

    async def insert(self, group_id: str, account_id: str, name: str, description: str,
                     vpc_id: str | None = None) -> None:
        """Adds AWS's default rules too (a trigger, see migrations 0006 and 0015)."""
        await self.db.execute(
            "INSERT OR IGNORE INTO security_groups (id, account_id, name, description, "
            "created_at, vpc_id) VALUES (?, ?, ?, ?, ?, ?)",
            (group_id, account_id, name, description, time.time(), vpc_id))

    async def delete(self, group_id: str) -> None:
        """Only ended instances may still name the group: they forget it."""
        await self.db.execute("DELETE FROM instance_groups WHERE group_id=?", (group_id,))
        await self.db.execute("DELETE FROM security_groups WHERE id=?", (group_id,))

    async def live_members(self, group_id: str) -> list[str]:
        """Instances not yet terminated that are in the group."""
        rows = await self._rows(
            "SELECT i.id FROM instance_groups ig JOIN instances i ON i.id = ig.instance_id "
            "WHERE ig.group_id=? AND i.state != 'terminated' ORDER BY i.id", (group_id,))
        return [r[0] for r in rows]

    async def referencing(self, group_id: str) -> list[str]:
        """Other groups whose rules name this one as their source."""
        rows = await self._rows(
            "SELECT DISTINCT group_id FROM security_group_rules "
            "WHERE source_group_id=? AND group_id != ?", (group_id, group_id))
        return [r[0] for r in rows]


class RuleRepository:
    def __init__(self, db: Database):
        self.db = db

    async def of_groups(self, group_ids: list[str]):
        return await rows_in(
            self.db, "SELECT * FROM security_group_rules WHERE group_id IN ({marks}) "
                     "ORDER BY group_id, egress, created_at, id", group_ids)

    async def of_account(self, account_id: str):
        async with self.db.execute(
                "SELECT * FROM security_group_rules WHERE account_id=? "
                "ORDER BY group_id, egress, created_at, id", (account_id,)) as cur:
            return await cur.fetchall()

    async def find(self, group_id: str, egress: bool, protocol: str, from_port: int,
                   to_port: int, target: dict):
        """The rule with these ports and this target ({column: value} of TARGETS)."""
        matches = " AND ".join(f"IFNULL({c}, '')=?" for c in TARGETS)
        async with self.db.execute(
                "SELECT * FROM security_group_rules WHERE group_id=? AND egress=? AND "
                f"protocol=? AND from_port=? AND to_port=? AND {matches}",
                (group_id, int(egress), protocol, from_port, to_port,
                 *(target.get(c) or "" for c in TARGETS))) as cur:
            return await cur.fetchone()

    async def insert(self, row: dict) -> None:
        row = {c: row.get(c) for c in RULE_COLUMNS}
        await self.db.execute(
            f"INSERT INTO security_group_rules ({', '.join(RULE_COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in RULE_COLUMNS)})", row)

    async def delete(self, rule_id: str) -> None:
        await self.db.execute("DELETE FROM security_group_rules WHERE id=?", (rule_id,))
