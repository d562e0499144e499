"""The typed client for the storage controller (SC)."""
from __future__ import annotations

from mallee.rpc import RpcClient


class StorageClient(RpcClient):
    role = "sc"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def create_volume(self, volume_id: str, size_gib: int) -> dict:
        return await self.call("create_volume", timeout=60, volume_id=volume_id,
                               size_gib=size_gib)

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
