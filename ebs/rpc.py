"""The SC's RPC methods: volumes for the CLC, exports for the CLC and CCs (which ask
on behalf of the node an instance runs on), health for all and `mallee status`."""
from __future__ import annotations

from typing import Callable

from ebs.volumes import Volumes
from mallee import rpc


def methods(volumes: Callable[[], Volumes]) -> dict[str, rpc.RpcMethod]:
    """`volumes` gives the running app's Volumes (made at start-up)."""

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "sc",
                "volumes": len(await volumes().meta.volumes())}

    async def create_volume(params: dict, caller: str) -> dict:
        return await volumes().create(params["volume_id"], params["size_gib"])

    async def grow_volume(params: dict, caller: str) -> dict:
        return await volumes().grow(params["volume_id"], params["size_gib"])

    async def delete_volume(params: dict, caller: str) -> dict:
        return await volumes().delete(params["volume_id"])

    async def describe_volumes(params: dict, caller: str) -> dict:
        return {"volumes": await volumes().describe()}

    async def export_volume(params: dict, caller: str) -> dict:
        return await volumes().export(params["volume_id"], params["initiator"])

    async def unexport_volume(params: dict, caller: str) -> dict:
        return await volumes().unexport(params["volume_id"], params.get("initiator"))

    return {
        "health": rpc.method(health, "clc", "cc", "admin"),
        "create_volume": rpc.method(create_volume, "clc"),
        "grow_volume": rpc.method(grow_volume, "clc"),
        "delete_volume": rpc.method(delete_volume, "clc"),
        "describe_volumes": rpc.method(describe_volumes, "clc", "admin"),
        "export_volume": rpc.method(export_volume, "clc", "cc"),
        "unexport_volume": rpc.method(unexport_volume, "clc", "cc"),
    }
