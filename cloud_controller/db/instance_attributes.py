"""instance_attributes: the settable attributes of an instance that are not its
own columns (migration 0010). A missing row is an instance with the defaults."""
from __future__ import annotations

from cloud_controller.db.chunks import rows_in
from cloud_controller.db.database import Database

# column -> its value for an instance without a row (EC2's, instance-store)
DEFAULTS = {"disable_api_termination": False, "disable_api_stop": False,
            "shutdown_behavior": "terminate", "source_dest_check": True,
            "ebs_optimized": False, "ena_support": False, "sriov_net_support": None}
FLAGS = ("disable_api_termination", "disable_api_stop", "source_dest_check", "ebs_optimized",
         "ena_support")


def _values(row) -> dict:
    if row is None:
        return dict(DEFAULTS)
    return {c: bool(row[c]) if c in FLAGS else row[c] for c in DEFAULTS}


class InstanceAttributeRepository:
    def __init__(self, db: Database):
        self.db = db

    async def of(self, instance_ids: list[str]) -> dict[str, dict]:
        """{instance id: {column: value}} for every id (defaults where there is no row)."""
        rows = {r["instance_id"]: r for r in await rows_in(
            self.db, "SELECT * FROM instance_attributes WHERE instance_id IN ({marks})",
            instance_ids)}
        return {i: _values(rows.get(i)) for i in instance_ids}

    async def get(self, instance_id: str) -> dict:
        return (await self.of([instance_id]))[instance_id]

    async def put(self, instance_id: str, **columns) -> None:
        """Set `columns` of one instance (the rest keep their value, or the default)."""
        values = {**await self.get(instance_id), **columns}
        names = list(DEFAULTS)
        await self.db.execute(
            f"INSERT INTO instance_attributes (instance_id, {', '.join(names)}) "
            f"VALUES (:instance_id, {', '.join(':' + n for n in names)}) "
            f"ON CONFLICT (instance_id) DO UPDATE SET "
            f"{', '.join(f'{n} = excluded.{n}' for n in names)}",
            {"instance_id": instance_id, **{n: int(v) if n in FLAGS else v
                                            for n, v in values.items()}})

    async def set_groups(self, instance_id: str, group_ids: list[str]) -> None:
        """The instance's security groups become exactly `group_ids` (groupSet)."""
        await self.db.execute("DELETE FROM instance_groups WHERE instance_id=?", (instance_id,))
        await self.db.executemany("INSERT INTO instance_groups VALUES (?, ?)",
                                  [(instance_id, g) for g in group_ids])
