"""Starting, stopping and checking the processes of a one-host cloud.

`mallee up` starts each component as `mallee serve X` in the background with
its log under log/ and its pid under run/; `mallee down` stops exactly those
pids (after checking that each still is the process we started).
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from mallee import errors, rpc
from mallee.settings import Settings

COMPONENTS = ("walrus", "sc", "nc", "cc", "clc")  # bottom tier first


def pid_file(settings: Settings, component: str) -> Path:
    return settings.run_dir / f"{component}.pid"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running_pid(settings: Settings, component: str) -> int | None:
    """The pid we started for this component, if that process still runs."""
    try:
        pid = int(pid_file(settings, component).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if f"serve {component}" in _cmdline(pid) else None


def start(settings: Settings, component: str) -> tuple[int, bool]:
    """(pid, started now) — an already running component is left alone."""
    pid = running_pid(settings, component)
    if pid:
        return pid, False
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.log_dir / f"{component}.out", "ab")
    env = dict(os.environ, MALLEE_HOME=str(settings.home))
    proc = subprocess.Popen([sys.executable, "-m", "mallee_cli", "serve", component],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    pid_file(settings, component).write_text(f"{proc.pid}\n")
    return proc.pid, True


def stop(settings: Settings, component: str, timeout: float = 15.0) -> bool:
    pid = running_pid(settings, component)
    pid_file(settings, component).unlink(missing_ok=True)
    if not pid:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _cmdline(pid):
        time.sleep(0.1)
    if _cmdline(pid):
        os.kill(pid, signal.SIGKILL)
    return True


async def health(settings: Settings, component: str) -> tuple[bool, str]:
    """Ask one component whether it is serving: (healthy, detail)."""
    host = settings.cloud.host
    try:
        if component in ("clc", "walrus"):
            port = settings.clc.port if component == "clc" else settings.walrus.port
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(f"http://{host}:{port}/healthz") as resp:
                    return resp.status == 200, f"http://{host}:{port}/ HTTP {resp.status}"
        port = {"cc": settings.cc.port, "nc": settings.nc.port, "sc": settings.sc.port}[component]
        client = rpc.RpcClient(host, port, rpc.client_ssl_context(settings.pki_dir, "admin"))
        try:
            await client.call("health", timeout=5)
            return True, f"https://{host}:{port}/ (mutual TLS)"
        finally:
            await client.close()
    except errors.ApiError as err:
        return False, err.message
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return False, rpc.describe_failure(exc)


async def wait_healthy(settings: Settings, component: str, pid: int,
                       timeout: float = 60.0) -> str | None:
    """None once healthy, else the last reason it was not."""
    deadline = time.monotonic() + timeout
    detail = "not started"
    while time.monotonic() < deadline:
        ok, detail = await health(settings, component)
        if ok:
            return None
        if not alive(pid):
            return f"process exited ({detail})"
        await asyncio.sleep(0.3)
    return detail


async def cluster_nodes(settings: Settings) -> tuple[list[dict], str | None]:
    """The CC's node list as it last polled it, or why it could not be had."""
    client = rpc.RpcClient(settings.cloud.host, settings.cc.port,
                           rpc.client_ssl_context(settings.pki_dir, "admin"))
    try:
        return (await client.call("describe_resources", timeout=10))["nodes"], None
    except errors.ApiError as err:
        return [], err.message
    finally:
        await client.close()


def end_node(settings: Settings) -> list[str]:
    """After the NC has stopped: end the guests it started (those with an
    instance directory under its state dir) and remove its data plane, so
    nothing of the node is left. Returns the instance ids it ended."""
    instances_dir = settings.nc.state_path / "instances"
    ended = sorted(p.name for p in instances_dir.glob("i-*")) if instances_dir.exists() else []
    if settings.nc.driver == "libvirt" and ended:
        from node_controller.hypervisor import DomainNotFound
        from node_controller.hypervisor.libvirt_driver import LibvirtDriver
        driver = LibvirtDriver(settings.nc.libvirt_uri, domain_type="qemu")  # no probe
        try:
            for name in ended:
                for step in (driver.destroy, driver.undefine):
                    try:
                        step(name)
                    except DomainNotFound:
                        pass
        finally:
            driver.close()
    if settings.nc.driver == "libvirt":
        from node_controller.network.dataplane import NetworkConfig, teardown_all
        teardown_all(settings.nc.name, NetworkConfig.from_settings(settings).link)
    return ended


def ensure_outside(settings: Settings) -> str | None:
    """The one-host cloud's outside world: the uplink namespace with its bridge
    and the gateway address, made when `make_outside` is set. Its name, or None."""
    n = settings.network
    if not (n.make_outside and n.uplink_netns and n.uplink_bridge and n.uplink_gateway):
        return None
    from node_controller.network.commands import run
    from node_controller.network.namespace import ensure_namespace, link_exists
    ensure_namespace(n.uplink_netns)
    if not link_exists(n.uplink_bridge, n.uplink_netns):
        run("ip", "-n", n.uplink_netns, "link", "add", n.uplink_bridge, "type", "bridge",
            "forward_delay", "0", "stp_state", "0")
    prefix = n.uplink_address.split("/")[1] if "/" in n.uplink_address else "24"
    run("ip", "-n", n.uplink_netns, "addr", "replace", f"{n.uplink_gateway}/{prefix}",
        "dev", n.uplink_bridge)
    run("ip", "-n", n.uplink_netns, "link", "set", n.uplink_bridge, "up")
    return n.uplink_netns


def remove_outside(settings: Settings) -> None:
    n = settings.network
    if n.make_outside and n.uplink_netns:
        from node_controller.network.namespace import delete_namespace
        delete_namespace(n.uplink_netns)
