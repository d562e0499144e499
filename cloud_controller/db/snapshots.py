"""EBS snapshots, who may create volumes from them, and the images that use them."""
from __future__ import annotations

import time

from cloud_controller.db.chunks import compare_and_set, rows_in
from cloud_controller.db.database import Database

# What an account may see and restore: its own snapshots, public ones and those
# shared with it. A deleting snapshot is gone for everyone.
_VISIBLE = """
    state != 'deleting' AND (account_id = :account OR is_public = 1 OR id IN
        (SELECT snapshot_id FROM snapshot_permissions WHERE account_id = :account))
"""


class SnapshotRepository:
    def __init__(self, db: Database):
        self.db = db

    async def _all(self, sql: str, args=()) -> list:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchall()

    async def insert(self, snapshot_id: str, account_id: str, volume_id: str, size_gib: int,
                     description: str, source_snapshot_id: str | None = None) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT INTO snapshots (id, account_id, volume_id, source_snapshot_id, size_gib, "
            "description, state, started_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (snapshot_id, account_id, volume_id, source_snapshot_id, size_gib, description,
             now, now))

    async def get(self, snapshot_id: str):
        rows = await self._all("SELECT * FROM snapshots WHERE id=?", (snapshot_id,))
        return rows[0] if rows else None

    async def visible(self, account_id: str) -> list:
        """Every snapshot the account may see, in id order."""
        return await self._all(f"SELECT * FROM snapshots WHERE {_VISIBLE} ORDER BY id",
                               {"account": account_id})

    async def count(self, account_id: str) -> int:
        """The account's snapshots that count against its quota (not being deleted)."""
        rows = await self._all("SELECT COUNT(*) FROM snapshots WHERE account_id=? AND "
                               "state != 'deleting'", (account_id,))
        return rows[0][0]

    async def in_states(self, states: tuple[str, ...]) -> list:
        marks = ",".join("?" * len(states))
        return await self._all(f"SELECT * FROM snapshots WHERE state IN ({marks})", states)

    async def compare_and_set(self, snapshot_id: str, expected: str, **columns) -> bool:
        """Set `columns` only if the snapshot is still in state `expected`: True if it was."""
        return await compare_and_set(self.db, "snapshots", snapshot_id, expected, **columns)

    async def mark_taken(self, snapshot_id: str) -> None:
        await self.db.execute("UPDATE snapshots SET taken_at=? WHERE id=? AND taken_at IS NULL",
                              (time.time(), snapshot_id))

    async def being_taken(self, volume_id: str) -> list[str]:
        """Snapshots of the volume whose point-in-time copy the SC has not taken yet."""
        rows = await self._all("SELECT id FROM snapshots WHERE volume_id=? AND "
                               "state='pending' AND taken_at IS NULL", (volume_id,))
        return [r[0] for r in rows]

    async def delete(self, snapshot_id: str) -> None:
        await self.db.execute("DELETE FROM snapshots WHERE id=?", (snapshot_id,))

    # --- createVolumePermission ------------------------------------------------------
    async def permissions(self, snapshot_id: str) -> list[str]:
        rows = await self._all("SELECT account_id FROM snapshot_permissions WHERE "
                               "snapshot_id=? ORDER BY account_id", (snapshot_id,))
        return [r[0] for r in rows]

    async def permitted_accounts(self, snapshot_ids: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {s: set() for s in snapshot_ids}
        for row in await rows_in(self.db, "SELECT snapshot_id, account_id FROM "
                                          "snapshot_permissions WHERE snapshot_id IN ({marks})",
                                 snapshot_ids):
            found[row[0]].add(row[1])
        return found

    async def grant(self, snapshot_id: str, account_id: str) -> None:
        await self.db.execute("INSERT OR IGNORE INTO snapshot_permissions VALUES (?, ?)",
                              (snapshot_id, account_id))

    async def revoke(self, snapshot_id: str, account_id: str) -> None:
        await self.db.execute("DELETE FROM snapshot_permissions WHERE snapshot_id=? AND "
                              "account_id=?", (snapshot_id, account_id))

    async def revoke_all(self, snapshot_id: str) -> None:
        await self.db.execute("DELETE FROM snapshot_permissions WHERE snapshot_id=?",
                              (snapshot_id,))

    async def set_public(self, snapshot_id: str, public: bool) -> None:
        await self.db.execute("UPDATE snapshots SET is_public=?, updated_at=? WHERE id=?",
                              (int(public), time.time(), snapshot_id))

    # --- what uses a snapshot --------------------------------------------------------
    async def images_using(self, snapshot_id: str) -> list[str]:
        """Registered images whose block device mapping names the snapshot."""
        rows = await self._all(
            "SELECT DISTINCT b.image_id FROM image_block_devices b JOIN images i ON "
            "i.id = b.image_id WHERE b.snapshot_id=? AND i.state != 'deregistered' "
            "ORDER BY b.image_id", (snapshot_id,))
        return [r[0] for r in rows]

    async def volumes_filling(self, snapshot_id: str) -> list[str]:
        """Volumes the SC is still filling from the snapshot."""
        rows = await self._all("SELECT id FROM volumes WHERE snapshot_id=? AND "
                               "state='creating' ORDER BY id", (snapshot_id,))
        return [r[0] for r in rows]
