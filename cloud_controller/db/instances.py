"""Instances, their security groups, and each account's default group."""
from __future__ import annotations

from cloud_controller.db.database import Database
from mallee.ids import resource_id

from cloud_controller.db.chunks import compare_and_set, in_values, rows_in

COLUMNS = ("id", "account_id", "reservation_id", "launch_index", "client_token", "image_id",
           "kernel_id", "ramdisk_id", "instance_type", "key_name", "public_key", "user_data",
           "zone", "cluster", "node", "state", "reason_code", "reason_message",
           "transition_reason", "private_ip", "public_ip", "mac", "launched_at", "updated_at",
           "terminated_at", "http_tokens", "http_put_response_hop_limit", "http_endpoint",
           "http_protocol_ipv6", "instance_metadata_tags", "root_device_type", "root_device_name",
           "subnet_id", "vpc_id")
METADATA_DEFAULTS = {"root_device_type": "instance-store", "root_device_name": "/dev/sda1",
                     "http_tokens": "optional", "http_put_response_hop_limit": 1,
                     "http_endpoint": "enabled", "http_protocol_ipv6": "disabled",
                     "instance_metadata_tags": "disabled"}
# Reads go through the view that adds the primary interface's id (eni_id).
VIEW = "instances_with_interface"


class InstanceRepository:
    def __init__(self, db: Database):
        self.db = db

    async def insert(self, row: dict, group_ids: list[str], eni_id: str | None = "") -> None:
        """The instance, its groups and (EDGE) its one interface `eni_id` ("": a new id);
        None: none here (an instance in an own subnet gets its interfaces from
        services/network_interfaces.py)."""
        if eni_id == "":
            eni_id = resource_id("eni")
        row = {**METADATA_DEFAULTS, **{k: v for k, v in row.items() if v is not None}}
        row = {c: row.get(c) for c in COLUMNS}
        await self.db.execute(
            f"INSERT INTO instances ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in COLUMNS)})", row)
        await self.db.executemany("INSERT INTO instance_groups VALUES (?, ?)",
                                  [(row["id"], g) for g in group_ids])
        if eni_id is not None:
            await self.db.execute(
                "INSERT INTO network_interfaces (id, account_id, instance_id, device_index, "
                "attachment_id, attached_at, zone, mac, created_at) "
                "VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
                (eni_id, row["account_id"], row["id"], "eni-attach-" + eni_id[4:],
                 row["launched_at"], row["zone"], row["mac"], row["launched_at"]))

    async def insert_block_devices(self, rows: list[dict]) -> None:
        """The volumes a launch is to make (services/boot_volumes.py)."""
        await self.db.executemany(
            "INSERT INTO instance_block_devices (instance_id, device_name, snapshot_id, "
            "volume_size, volume_type, iops, delete_on_termination, tags) VALUES "
            "(:instance_id, :device_name, :snapshot_id, :volume_size, :volume_type, :iops, "
            ":delete_on_termination, :tags)", rows)

    async def block_devices(self, instance_id: str):
        async with self.db.execute(
                "SELECT * FROM instance_block_devices WHERE instance_id=? ORDER BY device_name",
                (instance_id,)) as cur:
            return await cur.fetchall()

    async def by_interface(self, account_id: str, eni_id: str):
        """The account's instance whose primary interface `eni_id` is."""
        async with self.db.execute(
                f"SELECT * FROM {VIEW} WHERE account_id=? AND eni_id=?",
                (account_id, eni_id)) as cur:
            return await cur.fetchone()

    async def page(self, account_id: str, *, ended_after: float, ids: list[str] | None = None,
                   after: str | None = None, limit: int | None = None):
        """The account's instances in id order, leaving out those terminated before
        `ended_after` (a time.time()): one query, bounded by the page."""
        args: dict = {"account": account_id, "cutoff": ended_after}
        sql = (f"SELECT * FROM {VIEW} WHERE account_id = :account AND "
               "(terminated_at IS NULL OR terminated_at > :cutoff)")
        if ids:
            sql += " AND " + in_values("id", "ids", args, ids)
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
        async with self.db.execute(f"SELECT * FROM {VIEW} WHERE id=?", (instance_id,)) as cur:
            return await cur.fetchone()

    async def by_token(self, account_id: str, token: str):
        async with self.db.execute(
                f"SELECT * FROM {VIEW} WHERE account_id=? AND client_token=? "
                "ORDER BY launch_index", (account_id, token)) as cur:
            return await cur.fetchall()

    async def in_states(self, states: tuple[str, ...]):
        marks = ",".join("?" * len(states))
        async with self.db.execute(f"SELECT * FROM instances WHERE state IN ({marks})",
                                   states) as cur:
            return await cur.fetchall()

    async def groups_of(self, instance_ids: list[str]) -> dict[str, list[dict]]:
        """{instance id: [{"id", "name"} of each of its groups, by name]}."""
        found: dict[str, list[dict]] = {i: [] for i in instance_ids}
        for instance_id, group_id, name in await rows_in(
                self.db, "SELECT ig.instance_id, g.id, g.name FROM instance_groups ig "
                         "JOIN security_groups g ON g.id = ig.group_id "
                         "WHERE ig.instance_id IN ({marks}) ORDER BY g.name", instance_ids):
            found[instance_id].append({"id": group_id, "name": name})
        return found

    async def update(self, instance_id: str, **columns) -> None:
        assignments = ", ".join(f"{k} = :{k}" for k in columns)
        await self.db.execute(f"UPDATE instances SET {assignments} WHERE id = :id",
                              {**columns, "id": instance_id})

    async def compare_and_set(self, instance_id: str, expected: str, **columns) -> bool:
        """Set `columns` only if the instance is still in state `expected`: True if it was."""
        return await compare_and_set(self.db, "instances", instance_id, expected, **columns)

    async def count_by_state(self) -> dict[str, int]:
        """Every account's instances by state (the metrics): the instances_state index."""
        async with self.db.execute(
                "SELECT state, COUNT(*) FROM instances GROUP BY state") as cur:
            return {state: n for state, n in await cur.fetchall()}

    async def running_count(self, account_id: str) -> int:
        async with self.db.execute(
                "SELECT COUNT(*) FROM instances WHERE account_id=? AND state NOT IN "
                "('terminated', 'shutting-down')", (account_id,)) as cur:
            return (await cur.fetchone())[0]
