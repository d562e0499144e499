"""The CC's RPC methods, for the CLC (and `mallee status`, as admin)."""
from __future__ import annotations

from typing import Callable

from cluster_controller.launches import LaunchTracker
from cluster_controller.network import NetworkState
from cluster_controller.nodes import Node, NodeRegistry
from cluster_controller.placement import Rebalancer
from mallee import errors
from mallee import rpc
from mallee.settings import Settings

Resources = Callable[[], tuple[NodeRegistry, LaunchTracker, NetworkState, Rebalancer]]


def methods(settings: Settings, resources: Resources) -> dict[str, rpc.RpcMethod]:
    """`resources` gives the running app's registry, launches, network and
    rebalancer (they are made at start-up)."""
    cc = settings.cc

    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "cc", "cluster": cc.name}

    async def describe_resources(params: dict, caller: str) -> dict:
        registry, _, network, rebalancer = resources()
        return {"cluster": cc.name, "zone": cc.zone, "network": network.summary(),
                "placement": rebalancer.describe(),
                "nodes": [{**n.describe(), "network": network.node_state(n)}
                          for n in registry.nodes],
                # Guest samples newer than the CLC's ack (cluster_controller/metrics_relay.py).
                "metrics": registry.relay.report(params.get("metrics_ack"))
                if registry.relay is not None else None}

    async def describe_instances(params: dict, caller: str) -> list[dict]:
        return resources()[1].describe()

    async def run_instances(params: dict, caller: str) -> list[dict]:
        return await resources()[1].run(params["instances"])

    async def terminate_instances(params: dict, caller: str) -> list[dict]:
        return await resources()[1].terminate(params["instance_ids"])

    async def stop_instances(params: dict, caller: str) -> list[dict]:
        return await resources()[1].stop(params["instance_ids"], bool(params.get("force")))

    async def apply_network(params: dict, caller: str) -> dict:
        return await resources()[2].apply(params.get("view"))

    async def describe_network(params: dict, caller: str) -> dict:
        return resources()[2].describe()

    async def set_node_power(params: dict, caller: str) -> dict:
        registry, rebalancer = resources()[0], resources()[3]
        name, power = params.get("node", ""), params.get("power")
        node = next((n for n in registry.nodes
                     if name in (n.endpoint, n.resource.get("name"))), None)
        if node is None:
            raise errors.InvalidParameterValue(
                f"No node {name!r} in cluster {cc.name} (nodes: "
                f"{', '.join(n.endpoint for n in registry.nodes)}).")
        if power not in ("on", "off"):
            raise errors.InvalidParameterValue(f"power must be on or off, not {power!r}.")
        refusal = await rebalancer.set_power(node.endpoint, power == "on")
        if refusal is not None:
            raise errors.IncorrectState(refusal)
        return {"node": node.endpoint, "power": node.power}

    def node_of(instance_id: str) -> Node:
        node = resources()[1].node_of(instance_id)
        if node is None:
            raise errors.InvalidInstanceIDNotFound(f"No node runs {instance_id}.")
        return node

    async def reboot_instances(params: dict, caller: str) -> list[dict]:
        for instance_id in params["instance_ids"]:
            await node_of(instance_id).client.reboot_instance(instance_id)
        return [{"instance_id": i} for i in params["instance_ids"]]

    async def get_console_output(params: dict, caller: str) -> dict:
        return await node_of(params["instance_id"]).client.get_console_output(
            params["instance_id"])

    async def attach_volume(params: dict, caller: str) -> dict:
        return await node_of(params["instance_id"]).client.attach_volume(
            params["instance_id"], params["volume_id"], params.get("device", ""),
            params["connection"])

    async def detach_volume(params: dict, caller: str) -> dict:
        return await node_of(params["instance_id"]).client.detach_volume(
            params["instance_id"], params["volume_id"])

    return {
        "health": rpc.method(health, "clc", "admin"),
        "attach_volume": rpc.method(attach_volume, "clc"),
        "detach_volume": rpc.method(detach_volume, "clc"),
        "describe_resources": rpc.method(describe_resources, "clc", "admin"),
        "describe_instances": rpc.method(describe_instances, "clc", "admin"),
        "run_instances": rpc.method(run_instances, "clc"),
        "terminate_instances": rpc.method(terminate_instances, "clc", "admin"),
        "reboot_instances": rpc.method(reboot_instances, "clc"),
        "stop_instances": rpc.method(stop_instances, "clc"),
        "get_console_output": rpc.method(get_console_output, "clc", "admin"),
        "apply_network": rpc.method(apply_network, "clc"),
        "describe_network": rpc.method(describe_network, "clc", "admin"),
        "set_node_power": rpc.method(set_node_power, "admin"),
    }
