"""The CLC's typed client for a cluster controller."""
from __future__ import annotations

from mallee.rpc import RpcClient


class ClusterClient(RpcClient):
    role = "cc"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def describe_resources(self, metrics_ack: dict | None = None) -> dict:
        """The cluster's nodes with their capacity and reachability, and the guest
        samples newer than `metrics_ack` ({"epoch", "seq"} this caller holds)."""
        return await self.call("describe_resources", metrics_ack=metrics_ack, timeout=10)

    async def describe_instances(self) -> list[dict]:
        """Every instance the cluster knows: id, state, node, reason."""
        return await self.call("describe_instances", timeout=10)

    async def run_instances(self, specs: list[dict]) -> list[dict]:
        """Place instances on nodes; idempotent on instance ids."""
        return await self.call("run_instances", instances=specs, timeout=30)

    async def terminate_instances(self, instance_ids: list[str]) -> list[dict]:
        return await self.call("terminate_instances", instance_ids=instance_ids, timeout=60)

    async def stop_instances(self, instance_ids: list[str], force: bool = False) -> list[dict]:
        """Shut instances down and take them off their nodes, keeping their volumes;
        the nodes report them `stopping` until they are gone. Idempotent."""
        return await self.call("stop_instances", instance_ids=instance_ids, force=force,
                               timeout=60)

    async def reboot_instances(self, instance_ids: list[str]) -> list[dict]:
        return await self.call("reboot_instances", instance_ids=instance_ids, timeout=30)

    async def get_console_output(self, instance_id: str) -> dict:
        return await self.call("get_console_output", instance_id=instance_id, timeout=30)

    async def apply_network(self, view: dict) -> dict:
        """The cluster's whole network view (docs/network.md); the CC forwards it to nodes."""
        return await self.call("apply_network", view=view, timeout=30)

    async def set_node_power(self, node: str, on: bool) -> dict:
        """Mark a node (endpoint or name) powered on or off, running [cc] power_command
        (docs/placement.md); IncorrectState: refused (it runs instances) or failed."""
        return await self.call("set_node_power", node=node, power="on" if on else "off",
                               timeout=120)

    async def describe_network(self) -> dict:
        """The last view, the private addresses handed out, and each node's applied version."""
        return await self.call("describe_network", timeout=10)

    async def attach_volume(self, instance_id: str, volume_id: str, device: str,
                            connection: dict) -> dict:
        """Plug an exported volume into the instance, on whichever node runs it."""
        return await self.call("attach_volume", instance_id=instance_id, volume_id=volume_id,
                               device=device, connection=connection, timeout=90)

    async def detach_volume(self, instance_id: str, volume_id: str) -> dict:
        return await self.call("detach_volume", instance_id=instance_id, volume_id=volume_id,
                               timeout=120)
