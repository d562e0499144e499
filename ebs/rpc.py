"""The SC's RPC methods: volumes and snapshots for the CLC, exports for the CLC and
CCs (which ask on behalf of the node an instance runs on), health for all and
`mallee status`."""
from __future__ import annotations

from typing import Callable

from ebs.snapshots import Snapshots
from ebs.volumes import Volumes
from mallee import rpc


def methods(volumes: Callable[[], Volumes],
            snapshots: Callable[[], Snapshots]) -> dict[str, rpc.RpcMethod]:
    """`volumes` and `snapshots` give the running app's (made at start-up)."""

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "sc",
                "volumes": len(await volumes().meta.volumes())}

    async def create_volume(params: dict, caller: str) -> dict:
        return await snapshots().create_volume(params["volume_id"], params["size_gib"],
                                               params.get("snapshot_id"))

    async def grow_volume(params: dict, caller: str) -> dict:
        return await volumes().grow(params["volume_id"], params["size_gib"])

    async def delete_volume(params: dict, caller: str) -> dict:
        return await snapshots().delete_volume(params["volume_id"])

    async def describe_volumes(params: dict, caller: str) -> dict:
        return {"volumes": await volumes().describe()}

    async def export_volume(params: dict, caller: str) -> dict:
        return await volumes().export(params["volume_id"], params["initiator"])

    async def unexport_volume(params: dict, caller: str) -> dict:
        return await volumes().unexport(params["volume_id"], params.get("initiator"))

    async def create_snapshot(params: dict, caller: str) -> dict:
        return await snapshots().create(params.get("snapshot_id"), params.get("volume_id"))

    async def describe_snapshots(params: dict, caller: str) -> dict:
        return {"snapshots": await snapshots().describe(params.get("snapshot_ids"))}

    async def delete_snapshot(params: dict, caller: str) -> dict:
        return await snapshots().delete(params.get("snapshot_id"))

    async def copy_snapshot(params: dict, caller: str) -> dict:
        return await snapshots().copy(params.get("source_snapshot_id"),
                                      params.get("snapshot_id"))

    return {
        "health": rpc.method(health, "clc", "cc", "admin"),
        "create_volume": rpc.method(create_volume, "clc"),
        "grow_volume": rpc.method(grow_volume, "clc"),
        "delete_volume": rpc.method(delete_volume, "clc"),
        "describe_volumes": rpc.method(describe_volumes, "clc", "admin"),
        "export_volume": rpc.method(export_volume, "clc", "cc"),
        "unexport_volume": rpc.method(unexport_volume, "clc", "cc"),
        "create_snapshot": rpc.method(create_snapshot, "clc"),
        "describe_snapshots": rpc.method(describe_snapshots, "clc", "admin"),
        "delete_snapshot": rpc.method(delete_snapshot, "clc"),
        "copy_snapshot": rpc.method(copy_snapshot, "clc"),
    }
