"""The typed client for the storage controller (SC)."""
from __future__ import annotations

from mallee.rpc import RpcClient


class StorageClient(RpcClient):
    role = "sc"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def create_volume(self, volume_id: str, size_gib: int,
                            snapshot_id: str | None = None) -> dict:
        """A new volume; from a snapshot its "state" is "creating" while the SC fills it
        from Walrus and "available" once done ("error" with "message" if the fill
        failed): asking again answers the current state."""
        return await self.call("create_volume", timeout=60, volume_id=volume_id,
                               size_gib=size_gib, snapshot_id=snapshot_id)

    async def grow_volume(self, volume_id: str, size_gib: int) -> dict:
        """Extend the volume to size_gib (never shrinks; the same size answers the same)."""
        return await self.call("grow_volume", timeout=60, volume_id=volume_id,
                               size_gib=size_gib)

    async def delete_volume(self, volume_id: str) -> dict:
        return await self.call("delete_volume", timeout=60, volume_id=volume_id)

    async def describe_volumes(self) -> list[dict]:
        return (await self.call("describe_volumes", timeout=30))["volumes"]

    async def export_volume(self, volume_id: str, initiator: str) -> dict:
        """What `initiator` needs to log in to the volume's target (portal, IQN, LUN,
        its own CHAP user and password)."""
        return await self.call("export_volume", timeout=30, volume_id=volume_id,
                               initiator=initiator)

    async def unexport_volume(self, volume_id: str, initiator: str | None = None) -> dict:
        """End the volume's export to `initiator` (None: to every initiator)."""
        return await self.call("unexport_volume", timeout=30, volume_id=volume_id,
                               initiator=initiator)

    # --- snapshots (docs/ebs.md, "Snapshots") ---------------------------------------
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> dict:
        """Take the point-in-time copy (done before this answers) and upload it to
        Walrus in the background: the snapshot is "pending" until "completed"."""
        return await self.call("create_snapshot", timeout=300, snapshot_id=snapshot_id,
                               volume_id=volume_id)

    async def describe_snapshots(self, snapshot_ids: list[str] | None = None) -> list[dict]:
        return (await self.call("describe_snapshots", timeout=30,
                                snapshot_ids=snapshot_ids))["snapshots"]

    async def delete_snapshot(self, snapshot_id: str) -> dict:
        """A snapshot already gone is fine; one still uploading is cancelled."""
        return await self.call("delete_snapshot", timeout=120, snapshot_id=snapshot_id)

    async def copy_snapshot(self, source_snapshot_id: str, snapshot_id: str) -> dict:
        """A new snapshot sharing the (completed) source's chunks."""
        return await self.call("copy_snapshot", timeout=60,
                               source_snapshot_id=source_snapshot_id, snapshot_id=snapshot_id)
