"""The CC's typed client for a node controller."""
from __future__ import annotations

from mallee.rpc import RpcClient


class NodeClient(RpcClient):
    role = "nc"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def describe_resource(self, metrics_ack: dict | None = None) -> dict:
        """Total and free cores, memory and disk, as the NC measures them, its
        instances, and the guest samples newer than `metrics_ack` ({"epoch", "seq"}
        of the samples this caller already holds; node_controller/guest_metrics.py)."""
        return await self.call("describe_resource", metrics_ack=metrics_ack, timeout=10)

    async def run_instance(self, spec: dict) -> dict:
        """Start preparing and booting an instance; returns at once. Idempotent."""
        return await self.call("run_instance", instance=spec, timeout=30)

    async def terminate_instance(self, instance_id: str) -> dict:
        """Destroy the domain and remove everything the instance had. Idempotent."""
        return await self.call("terminate_instance", instance_id=instance_id, timeout=60)

    async def stop_instance(self, instance_id: str, force: bool = False) -> dict:
        """Shut the guest down (force: at once) and remove it from the node, keeping
        its volumes; returns at once, the node's polls report `stopping` until it is
        gone. Idempotent."""
        return await self.call("stop_instance", instance_id=instance_id, force=force,
                               timeout=30)

    async def reboot_instance(self, instance_id: str) -> dict:
        return await self.call("reboot_instance", instance_id=instance_id, timeout=30)

    async def get_console_output(self, instance_id: str) -> dict:
        """{"timestamp", "output"}: the last 64 KiB of the serial console, base64."""
        return await self.call("get_console_output", instance_id=instance_id, timeout=30)

    async def apply_network(self, view: dict) -> dict:
        """Enforce the cluster's whole network view (docs/network.md); idempotent.
        {"version", "applied"}: applied is false when the node holds a newer one."""
        return await self.call("apply_network", view=view, timeout=60)

    async def attach_volume(self, instance_id: str, volume_id: str, device: str,
                            connection: dict) -> dict:
        """Hot-plug a volume the SC exported to this node (connection: export_volume's
        answer) into a running instance. Idempotent."""
        return await self.call("attach_volume", instance_id=instance_id, volume_id=volume_id,
                               device=device, connection=connection, timeout=60)

    async def detach_volume(self, instance_id: str, volume_id: str) -> dict:
        """Hot-unplug a volume; returns once the guest has let it go. Idempotent."""
        return await self.call("detach_volume", instance_id=instance_id, volume_id=volume_id,
                               timeout=90)
