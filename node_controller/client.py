"""The CC's typed client for a node controller."""
from __future__ import annotations

from mallee.rpc import RpcClient


class NodeClient(RpcClient):
    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def describe_resource(self) -> dict:
        """Total and free cores, memory and disk, as the NC measures them."""
        return await self.call("describe_resource", timeout=10)
