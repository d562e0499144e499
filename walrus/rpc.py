"""Walrus's RPC methods, served over mutual TLS on its own port: health and the
credentials the CLC syncs, and the SC's snapshot chunks and manifests (binary
bodies; walrus/chunks.py), which only the role `sc` may reach."""
from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web

from mallee import rpc
from walrus.chunks import ChunkStore
from walrus.credstore import CredentialStore
from walrus.store import Store

Resources = Callable[[], tuple[CredentialStore, Store, ChunkStore]]


def methods(resources: Resources) -> dict[str, rpc.RpcMethod]:
    """`resources` gives the running app's stores (they open at start-up)."""
    async def health(params: dict, caller: str) -> dict:
        creds, store, _ = resources()
        return {"status": "ok", "credentials_generation": creds.generation,
                "buckets": await store.bucket_count()}

    async def sync_credentials(params: dict, caller: str) -> dict:
        creds, _, _ = resources()
        generation = await creds.replace(params.get("generation"), params.get("credentials"))
        return {"generation": generation}

    async def chunks_missing(params: dict, caller: str) -> dict:
        return {"missing": await asyncio.to_thread(resources()[2].missing,
                                                   params.get("chunks"))}

    async def chunks_delete(params: dict, caller: str) -> dict:
        return {"deleted": await asyncio.to_thread(resources()[2].delete, params.get("chunks"))}

    async def manifest_delete(params: dict, caller: str) -> dict:
        return {"deleted": await asyncio.to_thread(resources()[2].delete_manifest,
                                                   params.get("snapshot_id"))}

    return {"health": rpc.method(health, "clc", "cc", "nc", "sc", "admin"),
            "sync_credentials": rpc.method(sync_credentials, "clc"),
            "chunks_missing": rpc.method(chunks_missing, "sc"),
            "chunks_delete": rpc.method(chunks_delete, "sc"),
            "manifest_delete": rpc.method(manifest_delete, "sc")}


def add_chunk_routes(app: web.Application, resources: Resources) -> None:
    """PUT/GET /rpc/v1/chunks/<sha256> and /rpc/v1/manifests/<snapshot id>: raw bytes."""
    def chunks() -> ChunkStore:
        return resources()[2]

    async def put_chunk(request: web.Request, caller: str) -> web.Response:
        body = await request.read()
        stored = await asyncio.to_thread(chunks().put, request.match_info["sha"], body)
        return rpc.result_response({"stored": stored, "size": len(body)})

    async def get_chunk(request: web.Request, caller: str) -> web.Response:
        return rpc.binary_response(await asyncio.to_thread(chunks().get,
                                                           request.match_info["sha"]))

    async def put_manifest(request: web.Request, caller: str) -> web.Response:
        body = await request.read()
        await asyncio.to_thread(chunks().put_manifest, request.match_info["snap"], body)
        return rpc.result_response({"snapshot_id": request.match_info["snap"]})

    async def get_manifest(request: web.Request, caller: str) -> web.Response:
        return rpc.binary_response(await asyncio.to_thread(chunks().get_manifest,
                                                           request.match_info["snap"]))

    rpc.add_binary_route(app, "PUT", "chunks/{sha}", put_chunk, "sc")
    rpc.add_binary_route(app, "GET", "chunks/{sha}", get_chunk, "sc")
    rpc.add_binary_route(app, "PUT", "manifests/{snap}", put_manifest, "sc")
    rpc.add_binary_route(app, "GET", "manifests/{snap}", get_manifest, "sc")
