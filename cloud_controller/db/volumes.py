"""EBS volumes, their attachments and their latest modification (ModifyVolume)."""
from __future__ import annotations

import time

from cloud_controller.db.chunks import compare_and_set, rows_in
from cloud_controller.db.database import Database


class VolumeRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _all(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def insert(self, volume_id: str, account_id: str, zone: str, size_gib: int,
                     volume_type: str, iops: int | None, throughput: int | None,
                     snapshot_id: str | None, client_token: str | None) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT INTO volumes (id, account_id, zone, size_gib, volume_type, iops, "
            "throughput, snapshot_id, state, client_token, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?, ?)",
            (volume_id, account_id, zone, size_gib, volume_type, iops, throughput,
             snapshot_id, client_token, now, now))

    async def get(self, volume_id: str):
        rows = await self._all("SELECT * FROM volumes WHERE id=?", (volume_id,))
        return rows[0] if rows else None

    async def of_account(self, account_id: str) -> list:
        """The account's volumes in id order (a quota keeps them few)."""
        return await self._all("SELECT * FROM volumes WHERE account_id=? ORDER BY id",
                               (account_id,))

    async def by_token(self, account_id: str, token: str):
        rows = await self._all("SELECT * FROM volumes WHERE account_id=? AND client_token=?",
                               (account_id, token))
        return rows[0] if rows else None

    async def usage(self, account_id: str) -> tuple[int, int]:
        """(volumes, GiB) the account holds."""
        rows = await self._all("SELECT COUNT(*), COALESCE(SUM(size_gib), 0) FROM volumes "
                               "WHERE account_id=?", (account_id,))
        return rows[0][0], rows[0][1]

    async def in_states(self, states: tuple[str, ...]) -> list:
        marks = ",".join("?" * len(states))
        return await self._all(f"SELECT * FROM volumes WHERE state IN ({marks})", states)

    async def compare_and_set(self, volume_id: str, expected: str, **columns) -> bool:
        """Set `columns` only if the volume is still in state `expected`: True if it was."""
        return await compare_and_set(self.db, "volumes", volume_id, expected, **columns)

    async def delete(self, volume_id: str) -> None:
        await self.db.execute("DELETE FROM volumes WHERE id=?", (volume_id,))

    # --- modifications ---------------------------------------------------------------
    async def modification(self, volume_id: str):
        rows = await self._all("SELECT * FROM volume_modifications WHERE volume_id=?",
                               (volume_id,))
        return rows[0] if rows else None

    async def modifications(self, volume_ids: list[str]) -> list:
        return await rows_in(self.db, "SELECT * FROM volume_modifications WHERE volume_id IN "
                                      "({marks}) ORDER BY volume_id", volume_ids)

    async def modifying(self) -> list:
        return await self._all("SELECT * FROM volume_modifications WHERE state='modifying'")

    async def start_modification(self, volume, size_gib: int, volume_type: str,
                                 iops: int | None, throughput: int | None) -> None:
        """The volume's new modification (it replaces the last, finished one)."""
        await self.db.execute(
            "INSERT OR REPLACE INTO volume_modifications VALUES "
            "(?, 'modifying', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (volume["id"], volume["size_gib"], volume["volume_type"], volume["iops"],
             volume["throughput"], size_gib, volume_type, iops, throughput, time.time()))

    async def end_modification(self, volume_id: str, state: str,
                               message: str | None = None) -> bool:
        """completed (the volume takes the targets) or failed; True if it was modifying."""
        cur = await self.db.execute(
            "UPDATE volume_modifications SET state=?, status_message=?, ended_at=? "
            "WHERE volume_id=? AND state='modifying'", (state, message, time.time(), volume_id))
        if cur.rowcount != 1:
            return False
        if state == "completed":
            await self.db.execute(
                "UPDATE volumes SET (size_gib, volume_type, iops, throughput, updated_at) = "
                "(SELECT target_size_gib, target_type, target_iops, target_throughput, ? "
                " FROM volume_modifications WHERE volume_id=?) WHERE id=?",
                (time.time(), volume_id, volume_id))
        return True


class AttachmentRepository:
    """volume_attachments: where each volume is plugged in (AttachVolume)."""

    def __init__(self, db: Database):
        self.db = db

    async def of_instances(self, instance_ids: list[str]) -> dict[str, list]:
        found: dict[str, list] = {i: [] for i in instance_ids}
        for row in await rows_in(self.db, "SELECT * FROM volume_attachments WHERE instance_id "
                                          "IN ({marks}) ORDER BY attached_at", instance_ids):
            found[row["instance_id"]].append(row)
        return found

    async def of_volumes(self, volume_ids: list[str]) -> dict[str, list]:
        found: dict[str, list] = {v: [] for v in volume_ids}
        for row in await rows_in(self.db, "SELECT * FROM volume_attachments WHERE volume_id "
                                          "IN ({marks}) ORDER BY attached_at", volume_ids):
            found[row["volume_id"]].append(row)
        return found

    async def of_instance(self, instance_id: str) -> list:
        async with self.db.execute("SELECT * FROM volume_attachments WHERE instance_id=?",
                                   (instance_id,)) as cur:
            return await cur.fetchall()

    async def get(self, volume_id: str):
        async with self.db.execute("SELECT * FROM volume_attachments WHERE volume_id=?",
                                   (volume_id,)) as cur:
            return await cur.fetchone()

    async def insert(self, volume_id: str, instance_id: str, device: str,
                     delete_on_termination: bool = False) -> float:
        attached_at = time.time()
        await self.db.execute("INSERT INTO volume_attachments VALUES (?, ?, ?, 'attaching', ?, ?)",
                              (volume_id, instance_id, device, attached_at,
                               int(delete_on_termination)))
        return attached_at

    async def set_state(self, volume_id: str, expected: str, state: str) -> bool:
        cur = await self.db.execute("UPDATE volume_attachments SET state=? WHERE volume_id=? "
                                    "AND state=?", (state, volume_id, expected))
        return cur.rowcount == 1

    async def delete(self, volume_id: str) -> None:
        await self.db.execute("DELETE FROM volume_attachments WHERE volume_id=?", (volume_id,))

    async def set_delete_on_termination(self, volume_id: str, value: bool) -> None:
        await self.db.execute("UPDATE volume_attachments SET delete_on_termination=? "
                              "WHERE volume_id=?", (int(value), volume_id))

    async def of_ended_instances(self) -> list:
        """Attachments whose instance is terminated (or gone from the database)."""
        async with self.db.execute(
                "SELECT a.* FROM volume_attachments a LEFT JOIN instances i ON i.id = "
                "a.instance_id WHERE i.id IS NULL OR i.state = 'terminated'") as cur:
            return await cur.fetchall()

    async def in_flight(self) -> list:
        """Attachments a stopped CLC left `attaching` or `detaching`."""
        async with self.db.execute("SELECT * FROM volume_attachments WHERE state IN "
                                   "('attaching', 'detaching')") as cur:
            return await cur.fetchall()
