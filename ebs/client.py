"""The typed client for the storage controller (SC)."""
from __future__ import annotations

from mallee.rpc import RpcClient


class StorageClient(RpcClient):
    role = "sc"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)
