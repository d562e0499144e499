"""The CLC's typed client for a cluster controller."""
from __future__ import annotations

from mallee.rpc import RpcClient


class ClusterClient(RpcClient):
    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def describe_resources(self) -> dict:
        """The cluster's nodes with their capacity and reachability."""
        return await self.call("describe_resources", timeout=10)
