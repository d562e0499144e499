"""`mallee status`: each component's health and each node's capacity, as the
CC last polled them, asked through each tier's typed client."""
from __future__ import annotations

import asyncio
import json

from mallee.ovn_central import OvnCentral
from mallee.settings import Settings
from mallee_cli import onehost
from mallee_cli.errors import CliError
from node_controller.network.ovn_chassis import OvnChassis
from mallee_cli.output import print_table


def cmd_status(settings: Settings, args) -> None:
    if not (settings.pki_dir / "admin.pem").exists():
        raise CliError(f"no cloud at {settings.home}: run `mallee init` (or `make up`) first")

    async def gather():
        rows = []
        for component in onehost.COMPONENTS:
            ok, detail = await onehost.health(settings, component)
            rows.append({"component": component, "pid": onehost.running_pid(settings, component)
                         or "-", "health": "ok" if ok else "DOWN", "detail": detail})
        if settings.network.mode == "vpc":
            rows += _ovn_rows(settings)
        nodes, error = await onehost.cluster_nodes(settings)
        return rows, nodes, error
    rows, nodes, error = asyncio.run(gather())
    if args.output == "json":
        print(json.dumps({"components": rows, "nodes": nodes, "nodes_error": error}, indent=2))
        return
    print_table(rows, ["component", "pid", "health", "detail"], "table")
    print()
    if error:
        print(f"nodes: unknown ({error})")
        return
    print_table([{
        "node": n["name"], "endpoint": n["endpoint"], "status": n["status"],
        "power": n.get("power", "on"),
        "cores": f"{n['cores_free']}/{n['cores_total']}",
        "memory_mb": f"{n['memory_free_mb']}/{n['memory_total_mb']}",
        "disk_gb": f"{n['disk_free_gb']}/{n['disk_total_gb']}",
        "instances": len(n["instances"]),
        "network": _network_state(n.get("network")), "reason": n["reason"] or "",
    } for n in nodes], ["node", "endpoint", "status", "power", "cores", "memory_mb", "disk_gb",
                        "instances", "network", "reason"], "table")
    print("(cores, memory and disk are free/total)")
    instances = [{"instance": i["instance_id"], "node": n["name"], "state": i["state"],
                  "cores": i["cpu"], "memory_mb": i["memory_mb"], "reason": i.get("reason") or ""}
                 for n in nodes for i in n["instances"]]
    if instances:
        print()
        print_table(instances, ["instance", "node", "state", "cores", "memory_mb", "reason"],
                    "table")


def _process_rows(processes, suffix: str, detail: dict[str, str]) -> list[dict]:
    """One row per pid file of an OVS/OVN process set, in start order."""
    running = processes.running()
    return [{"component": pidfile.stem + suffix, "pid": running.get(pidfile.name, "-"),
             "health": "ok" if pidfile.name in running else "DOWN",
             "detail": detail.get(pidfile.stem, "")}
            for pidfile in reversed(processes.pidfiles)]


def _ovn_rows(settings: Settings) -> list[dict]:
    """VPC mode: OVN's central processes that `mallee up` started, and the node's OVS
    and ovn-controller (docs/vpc.md)."""
    central = OvnCentral.of(settings)
    rows = _process_rows(central, "", {"ovsdb-server-nb": central.nb.remote})
    if settings.nc.driver == "libvirt":
        chassis = OvnChassis.of(settings)
        rows += _process_rows(chassis, f" ({settings.nc.name})",
                              {"ovsdb-server": chassis.remote})
    return rows


def _network_state(network: dict | None) -> str:
    """A node's data plane as `mallee status` shows it: its view version, or why it failed."""
    if not network:
        return "-"
    if network.get("error"):
        return f"ERROR v{network.get('version', 0)}: {network['error']}"
    return f"v{network.get('version', 0)}"
