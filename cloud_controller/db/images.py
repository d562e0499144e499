"""Registered images and their launch permissions."""
from __future__ import annotations

import time

from cloud_controller.db.chunks import in_values
from cloud_controller.db.database import Database

_VISIBLE = """
    state != 'deregistered' AND (account_id = :account OR is_public = 1 OR id IN
        (SELECT image_id FROM launch_permissions WHERE account_id = :account))
"""


class ImageRepository:
    def __init__(self, db: Database):
        self.db = db

    async def insert_block_devices(self, image_id: str, rows: list[dict]) -> None:
        await self.db.executemany(
            "INSERT INTO image_block_devices (image_id, device_name, snapshot_id, volume_size, "
            "volume_type, delete_on_termination, no_device, virtual_name, iops, encrypted) "
            "VALUES (:image_id, :device_name, :snapshot_id, :volume_size, :volume_type, "
            ":delete_on_termination, :no_device, :virtual_name, :iops, :encrypted)",
            [{**r, "image_id": image_id} for r in rows])

    async def block_devices(self, image_ids: list[str]) -> dict[str, list]:
        """{image id: its image_block_devices rows, by device name}."""
        found: dict[str, list] = {i: [] for i in image_ids}
        if image_ids:
            marks = ",".join("?" * len(image_ids))
            async with self.db.execute(
                    f"SELECT * FROM image_block_devices WHERE image_id IN ({marks}) "
                    f"ORDER BY device_name", image_ids) as cur:
                for row in await cur.fetchall():
                    found[row["image_id"]].append(row)
        return found

    async def insert(self, row: dict, state: str = "available") -> None:
        row = dict(row, created_at=time.time(), state=state)
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        await self.db.execute(f"INSERT INTO images ({columns}) VALUES ({marks})", row)

    async def get(self, image_id: str):
        async with self.db.execute("SELECT * FROM images WHERE id=?", (image_id,)) as cur:
            return await cur.fetchone()

    async def visible(self, account_id: str, image_ids: list[str] | None = None):
        """Images the account may see: its own, public ones, shared with it."""
        sql, args = f"SELECT * FROM images WHERE {_VISIBLE}", {"account": account_id}
        if image_ids:
            sql += " AND " + in_values("id", "ids", args, image_ids)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            return await cur.fetchall()

    async def name_taken(self, account_id: str, name: str) -> bool:
        async with self.db.execute(
                "SELECT 1 FROM images WHERE account_id=? AND name=? AND state != 'deregistered'",
                (account_id, name)) as cur:
            return await cur.fetchone() is not None

    async def set_state(self, image_id: str, state: str) -> None:
        await self.db.execute("UPDATE images SET state=? WHERE id=?", (state, image_id))

    async def set_state_from(self, image_id: str, expected: str, state: str) -> None:
        await self.db.execute("UPDATE images SET state=? WHERE id=? AND state=?",
                              (state, image_id, expected))

    async def in_state(self, state: str) -> list[str]:
        async with self.db.execute("SELECT id FROM images WHERE state=? ORDER BY id",
                                   (state,)) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def set_public(self, image_id: str, public: bool) -> None:
        await self.db.execute("UPDATE images SET is_public=? WHERE id=?", (int(public), image_id))

    async def set_description(self, image_id: str, description: str) -> None:
        await self.db.execute("UPDATE images SET description=? WHERE id=?",
                              (description, image_id))

    async def permissions(self, image_id: str) -> list[str]:
        async with self.db.execute(
                "SELECT account_id FROM launch_permissions WHERE image_id=? ORDER BY account_id",
                (image_id,)) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def permitted_accounts(self, image_ids: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {i: set() for i in image_ids}
        if image_ids:
            marks = ",".join("?" * len(image_ids))
            async with self.db.execute(
                    f"SELECT image_id, account_id FROM launch_permissions "
                    f"WHERE image_id IN ({marks})", image_ids) as cur:
                for image_id, account_id in await cur.fetchall():
                    found[image_id].add(account_id)
        return found

    async def grant(self, image_id: str, account_id: str) -> None:
        await self.db.execute("INSERT OR IGNORE INTO launch_permissions VALUES (?, ?)",
                              (image_id, account_id))

    async def revoke(self, image_id: str, account_id: str) -> None:
        await self.db.execute("DELETE FROM launch_permissions WHERE image_id=? AND account_id=?",
                              (image_id, account_id))

    async def revoke_all(self, image_id: str) -> None:
        await self.db.execute("DELETE FROM launch_permissions WHERE image_id=?", (image_id,))
