"""What the network view of a cluster is built from, and its version."""
from __future__ import annotations

from cloud_controller.db.database import Database

LIVE = ("pending", "running")  # instances a view carries (once they have an address)
# Instances in own subnets (VPC mode) are OVN's, never in EDGE's view.


class NetworkRepository:
    def __init__(self, db: Database):
        self.db = db

    async def instances(self, cluster: str):
        async with self.db.execute(
                f"SELECT id, account_id, mac, private_ip, public_ip, http_tokens, "
                f"http_put_response_hop_limit FROM instances "
                f"WHERE cluster=? AND state IN ({','.join('?' * len(LIVE))}) "
                f"AND private_ip IS NOT NULL AND subnet_id IS NULL ORDER BY id",
                (cluster, *LIVE)) as cur:
            return await cur.fetchall()

    async def reserved(self, cluster: str):
        """Stopped (and stopping) instances' addresses: kept for their next start."""
        async with self.db.execute(
                "SELECT id, private_ip FROM instances WHERE cluster=? AND state IN "
                "('stopping', 'stopped') AND private_ip IS NOT NULL AND subnet_id IS NULL "
                "ORDER BY id",
                (cluster,)) as cur:
            return await cur.fetchall()

    async def version(self, cluster: str) -> tuple[int, str, str]:
        """(version, digest, epoch) of the cluster's view; (0, "", "") before the first."""
        async with self.db.execute("SELECT version, digest, epoch FROM network_views "
                                   "WHERE cluster=?", (cluster,)) as cur:
            row = await cur.fetchone()
        return (row[0], row[1], row[2]) if row else (0, "", "")

    async def set_version(self, cluster: str, version: int, digest: str) -> None:
        """The first row of a cluster draws its epoch; later versions keep it."""
        await self.db.execute(
            "INSERT INTO network_views (cluster, version, digest, epoch) "
            "VALUES (?, ?, ?, lower(hex(randomblob(8)))) ON CONFLICT (cluster) DO UPDATE "
            "SET version=excluded.version, digest=excluded.digest", (cluster, version, digest))
