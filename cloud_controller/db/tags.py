"""Tags on any resource of an account."""
from __future__ import annotations

from cloud_controller.db.database import Database

from cloud_controller.db.chunks import rows_in

# The table of each taggable resource type (EC2's resource-type names).
TABLES = {"key-pair": "key_pairs", "image": "images", "instance": "instances",
          "security-group": "security_groups", "security-group-rule": "security_group_rules",
          "vpc": "vpcs", "subnet": "subnets", "elastic-ip": "addresses",
          "network-interface": "network_interfaces", "volume": "volumes",
          "snapshot": "snapshots", "network-acl": "network_acls",
          "internet-gateway": "internet_gateways", "route-table": "route_tables",
          "natgateway": "nat_gateways", "dhcp-options": "dhcp_options"}


class TagRepository:
    def __init__(self, db: Database):
        self.db = db

    async def resource_exists(self, account_id: str, resource_type: str,
                              resource_id: str) -> bool:
        """Whether the account owns the resource (another account's is not there)."""
        async with self.db.execute(
                f"SELECT 1 FROM {TABLES[resource_type]} WHERE id=? AND account_id=?",
                (resource_id, account_id)) as cur:
            return await cur.fetchone() is not None

    async def put(self, account_id: str, resource_id: str, resource_type: str,
                  key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO tags VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (resource_id, key) DO UPDATE SET value=excluded.value",
            (account_id, resource_id, resource_type, key, value))

    async def delete(self, account_id: str, resource_id: str, key: str,
                     value: str | None) -> None:
        sql = "DELETE FROM tags WHERE account_id=? AND resource_id=? AND key=?"
        args = [account_id, resource_id, key]
        if value is not None:
            sql += " AND value=?"
            args.append(value)
        await self.db.execute(sql, args)

    async def drop_resource(self, resource_id: str) -> None:
        await self.db.execute("DELETE FROM tags WHERE resource_id=?", (resource_id,))

    async def count(self, resource_id: str) -> int:
        async with self.db.execute("SELECT COUNT(*) FROM tags WHERE resource_id=?",
                                   (resource_id,)) as cur:
            return (await cur.fetchone())[0]

    async def for_account(self, account_id: str):
        async with self.db.execute(
                "SELECT * FROM tags WHERE account_id=? ORDER BY resource_id, key",
                (account_id,)) as cur:
            return await cur.fetchall()

    async def for_resources(self, resource_ids: list[str]) -> dict[str, dict[str, str]]:
        """Tags of many resources in one query: {resource_id: {key: value}}."""
        found: dict[str, dict[str, str]] = {rid: {} for rid in resource_ids}
        for row in await rows_in(
                self.db, "SELECT resource_id, key, value FROM tags WHERE resource_id IN ({marks})",
                resource_ids):
            found[row["resource_id"]][row["key"]] = row["value"]
        return found
