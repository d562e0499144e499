"""The NC's RPC methods, for its CC (and `mallee status`, as admin)."""
from __future__ import annotations

from typing import Callable

from mallee import rpc
from mallee.settings import Settings
from node_controller.guest_metrics import GuestSampler
from node_controller.instances import InstanceManager
from node_controller.network.service import NodeNetwork
from node_controller.resources import free_disk_gb
from node_controller.volumes import Attachments

Resources = Callable[[], tuple[InstanceManager, NodeNetwork, Attachments, GuestSampler]]


def methods(settings: Settings, resources: Resources) -> dict[str, rpc.RpcMethod]:
    """`resources` gives the running app's instance manager and network (they
    are made at start-up)."""
    nc = settings.nc

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "nc", "node": nc.name}

    async def describe_resource(params: dict, caller: str) -> dict:
        manager, network, _, sampler = resources()
        cap = manager.capacity
        # The list first, then free capacity with no await between: an instance
        # that lands while the list is made is already taken out of "free", so
        # the CC never sees more room than there is.
        instances = await manager.describe()
        cores, memory, disk = manager.free()
        if not nc.disk_gb:  # measured, not configured: what the filesystem has left counts
            disk = min(disk, free_disk_gb(nc.state_path, nc.reserved_disk_gb))
        return {"name": nc.name, "hypervisor": nc.driver,
                "cores_total": cap.cores, "cores_free": cores,
                "memory_total_mb": cap.memory_mb, "memory_free_mb": memory,
                "disk_total_gb": cap.disk_gb, "disk_free_gb": disk,
                "instances": instances, "network": network.status(),
                # Guest samples newer than the CC's ack (node_controller/guest_metrics.py).
                "metrics": sampler.report(params.get("metrics_ack"))}

    async def apply_network(params: dict, caller: str) -> dict:
        return await resources()[1].apply(params.get("view"))

    async def run_instance(params: dict, caller: str) -> dict:
        return await resources()[0].run(params["instance"])

    async def terminate_instance(params: dict, caller: str) -> dict:
        return await resources()[0].terminate(params["instance_id"])

    async def stop_instance(params: dict, caller: str) -> dict:
        return await resources()[0].stop(params["instance_id"], bool(params.get("force")))

    async def reboot_instance(params: dict, caller: str) -> dict:
        return await resources()[0].reboot(params["instance_id"])

    async def get_console_output(params: dict, caller: str) -> dict:
        return resources()[0].console(params["instance_id"])

    async def attach_volume(params: dict, caller: str) -> dict:
        return await resources()[2].attach(params["instance_id"], params["volume_id"],
                                           params.get("device", ""), params["connection"])

    async def detach_volume(params: dict, caller: str) -> dict:
        return await resources()[2].detach(params["instance_id"], params["volume_id"])

    return {
        "health": rpc.method(health, "cc", "admin"),
        "describe_resource": rpc.method(describe_resource, "cc", "admin"),
        "run_instance": rpc.method(run_instance, "cc"),
        "apply_network": rpc.method(apply_network, "cc"),
        "terminate_instance": rpc.method(terminate_instance, "cc", "admin"),
        "stop_instance": rpc.method(stop_instance, "cc"),
        "reboot_instance": rpc.method(reboot_instance, "cc"),
        "attach_volume": rpc.method(attach_volume, "cc"),
        "detach_volume": rpc.method(detach_volume, "cc"),
        "get_console_output": rpc.method(get_console_output, "cc", "admin"),
    }
