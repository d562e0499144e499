"""The CLC's typed client for Walrus's RPC port."""
from __future__ import annotations

from mallee.auth import Credential
from mallee.rpc import RpcClient


class WalrusClient(RpcClient):
    role = "walrus"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def sync_credentials(self, generation: int, credentials: list[Credential]) -> dict:
        """Replace the whole set of credentials Walrus authenticates against."""
        return await self.call("sync_credentials", generation=generation,
                               credentials=[c.public_dict() for c in credentials])
