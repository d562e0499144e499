"""Instances, their security groups, and each account's default group."""
from __future__ import annotations

import time

import aiosqlite

from cloud_controller.services.lifecycle import TERMINATED_VISIBLE_SECONDS

COLUMNS = ("id", "account_id", "reservation_id", "launch_index", "client_token", "image_id",
           "kernel_id", "ramdisk_id", "instance_type", "key_name", "public_key", "user_data",
           "zone", "cluster", "node", "state", "reason_code", "reason_message",
           "transition_reason", "private_ip", "public_ip", "mac", "launched_at", "updated_at",
           "terminated_at")


class InstanceRepository:
    def __init__(self, db: aiosqlite.Connection):
        self.db = db

    async def insert(self, row: dict, group_ids: list[str]) -> None:
        row = {c: row.get(c) for c in COLUMNS}
        await self.db.execute(
            f"INSERT INTO instances ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in COLUMNS)})", row)
        await self.db.executemany("INSERT INTO instance_groups VALUES (?, ?)",
                                  [(row["id"], g) for g in group_ids])

    def _visible(self) -> str:
        return "(terminated_at IS NULL OR terminated_at > :cutoff)"

    async def page(self, account_id: str, *, ids: list[str] | None = None,
                   after: str | None = None, limit: int | None = None):
        """The account's visible instances in id order: one query, bounded by the page."""
        args: dict = {"account": account_id, "cutoff": time.time() - TERMINATED_VISIBLE_SECONDS}
        sql = f"SELECT * FROM instances WHERE account_id = :account AND {self._visible()}"
        if ids:
            marks = ", ".join(f":i{n}" for n in range(len(ids)))
            sql += f" AND id IN ({marks})"
            args.update({f"i{n}": i for n, i in enumerate(ids)})
        if after:
            sql += " AND id > :after"
            args["after"] = after
        sql += " ORDER BY id"
        if limit:
            sql += " LIMIT :limit"
            args["limit"] = limit
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def get(self, instance_id: str):
        async with self.db.execute("SELECT * FROM instances WHERE id=?", (instance_id,)) as cur:
            return await cur.fetchone()

    async def by_token(self, account_id: str, token: str):
        async with self.db.execute(
                "SELECT * FROM instances WHERE account_id=? AND client_token=? "
                "ORDER BY launch_index", (account_id, token)) as cur:
            return await cur.fetchall()

    async def in_states(self, states: tuple[str, ...]):
        marks = ",".join("?" * len(states))
        async with self.db.execute(f"SELECT * FROM instances WHERE state IN ({marks})",
                                   states) as cur:
            return await cur.fetchall()

    async def groups_of(self, instance_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {i: [] for i in instance_ids}
        for start in range(0, len(instance_ids), 500):
            chunk = instance_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            async with self.db.execute(
                    f"SELECT ig.instance_id, g.id, g.name FROM instance_groups ig "
                    f"JOIN security_groups g ON g.id = ig.group_id "
                    f"WHERE ig.instance_id IN ({marks}) ORDER BY g.name", chunk) as cur:
                for instance_id, group_id, name in await cur.fetchall():
                    found[instance_id].append({"groupId": group_id, "groupName": name})
        return found

    async def update(self, instance_id: str, **columns) -> None:
        assignments = ", ".join(f"{k} = :{k}" for k in columns)
        await self.db.execute(f"UPDATE instances SET {assignments} WHERE id = :id",
                              {**columns, "id": instance_id})

    async def running_count(self, account_id: str) -> int:
        async with self.db.execute(
                "SELECT COUNT(*) FROM instances WHERE account_id=? AND state NOT IN "
                "('terminated', 'shutting-down')", (account_id,)) as cur:
            return (await cur.fetchone())[0]
