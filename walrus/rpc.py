"""Walrus's RPC methods, served over mutual TLS on its own port."""
from __future__ import annotations

from typing import Callable

from mallee import rpc
from walrus.credstore import CredentialStore
from walrus.store import Store


def methods(resources: Callable[[], tuple[CredentialStore, Store]]) -> dict[str, rpc.RpcMethod]:
    """`resources` gives the running app's stores (they open at start-up)."""
    async def health(params: dict, caller: str) -> dict:
        creds, store = resources()
        return {"status": "ok", "credentials_generation": creds.generation,
                "buckets": await store.bucket_count()}

    async def sync_credentials(params: dict, caller: str) -> dict:
        creds, _ = resources()
        generation = await creds.replace(params.get("generation"), params.get("credentials"))
        return {"generation": generation}

    return {"health": rpc.method(health, "clc", "cc", "nc", "sc", "admin"),
            "sync_credentials": rpc.method(sync_credentials, "clc")}
