"""The typed client for Walrus's RPC port: the CLC's (credentials) and the SC's
(snapshot chunks and manifests)."""
from __future__ import annotations

import json

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

    # --- the SC's snapshot chunks and manifests (caller role sc) ----------------------
    async def put_chunk(self, sha256: str, body: bytes) -> dict:
        """Store a chunk named by its SHA-256 (Walrus checks it: BadDigest if not)."""
        return await self.put_bytes(f"chunks/{sha256}", body, timeout=120)

    async def get_chunk(self, sha256: str) -> bytes:
        return await self.get_bytes(f"chunks/{sha256}", timeout=120)

    async def chunks_missing(self, chunks: list[str]) -> list[str]:
        """Which of these chunks Walrus does not hold."""
        return (await self.call("chunks_missing", timeout=60, chunks=chunks))["missing"]

    async def chunks_delete(self, chunks: list[str]) -> int:
        return (await self.call("chunks_delete", timeout=120, chunks=chunks))["deleted"]

    async def put_manifest(self, snapshot_id: str, manifest: dict) -> dict:
        return await self.put_bytes(f"manifests/{snapshot_id}",
                                    json.dumps(manifest).encode(), timeout=120)

    async def get_manifest(self, snapshot_id: str) -> dict:
        return json.loads(await self.get_bytes(f"manifests/{snapshot_id}", timeout=120))

    async def delete_manifest(self, snapshot_id: str) -> bool:
        return (await self.call("manifest_delete", timeout=60,
                                snapshot_id=snapshot_id))["deleted"]
