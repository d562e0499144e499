"""Starting, stopping and checking the processes of a one-host cloud.

`mallee up` starts each component as `mallee serve X` in the background with
its log under log/ and its pid under run/; `mallee down` stops exactly those
pids (after checking that each still is the process we started). Each tier is
reached through its own entry points: its typed RPC client for health and
state; `mallee down` then calls node_controller.teardown and
node_controller.network.outside for what a node leaves on the host.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from cloud_controller.client import AdminClient
from cluster_controller.client import ClusterClient
from ebs.client import StorageClient
from mallee import errors
from mallee.rpc import client_ssl_context, describe_failure
from mallee.settings import Settings
from mallee_cli.errors import CliError
from node_controller.client import NodeClient

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
    return pid_of(settings, component, f"serve {component}")


def pid_of(settings: Settings, key: str, token: str) -> int | None:
    """The pid in run/<key>.pid if that process still runs with `token` in its
    command line (a pid the kernel gave to another program since is not ours)."""
    try:
        pid = int(pid_file(settings, key).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and token in _cmdline(pid) else None


def start(settings: Settings, component: str) -> tuple[int, bool]:
    """(pid, started now) — an already running component is left alone."""
    return spawn(settings, component, ["serve", component])


def spawn(settings: Settings, key: str, args: list[str], env: dict | None = None,
          log_name: str | None = None) -> tuple[int, bool]:
    """Start `mallee ARGS` in the background (its output in log/<log_name or key>.out,
    its pid in run/<key>.pid) unless the one it names already runs: (pid, started now).
    `env` replaces the inherited environment (MALLEE_HOME is set either way)."""
    token = " ".join(args)
    pid = pid_of(settings, key, token)
    if pid:
        return pid, False
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.log_dir / f"{log_name or key}.out", "ab")
    env = dict(os.environ if env is None else env, MALLEE_HOME=str(settings.home))
    proc = subprocess.Popen([sys.executable, "-m", "mallee_cli", *args],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    log.close()
    pid_file(settings, key).write_text(f"{proc.pid}\n")
    return proc.pid, True


def stop(settings: Settings, component: str, timeout: float = 15.0) -> bool:
    return stop_key(settings, component, f"serve {component}", timeout)


def stop_key(settings: Settings, key: str, token: str, timeout: float = 15.0) -> bool:
    """SIGTERM (then, past `timeout`, SIGKILL) the process of run/<key>.pid if it is
    still ours; the pid file goes either way. True if there was one to stop."""
    pid = pid_of(settings, key, token)
    pid_file(settings, key).unlink(missing_ok=True)
    if not pid:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def _rpc_client(settings: Settings, component: str):
    """The typed client of one RPC component, with the admin certificate."""
    host, tls = settings.cloud.host, client_ssl_context(settings.pki_dir, "admin")
    if component == "cc":
        return ClusterClient(host, settings.cc.port, tls)
    if component == "nc":
        return NodeClient(host, settings.nc.port, tls)
    if component == "sc":
        return StorageClient(host, settings.sc.port, tls)
    return AdminClient(host, settings.clc.rpc_port, tls)  # clc


async def _http_health(url: str) -> tuple[bool, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"{url}healthz") as resp:
            return resp.status == 200, f"{url} HTTP {resp.status}"


async def health(settings: Settings, component: str) -> tuple[bool, str]:
    """Ask one component whether it is serving: (healthy, detail)."""
    host = settings.cloud.host
    try:
        if component == "walrus":
            return await _http_health(f"http://{host}:{settings.walrus.port}/")
        if component == "clc":  # both its EC2 port and its admin RPC port
            ok, detail = await _http_health(f"http://{host}:{settings.clc.port}/")
            if not ok:
                return ok, detail
        client = _rpc_client(settings, component)
        try:
            await client.health()
            return True, (f"{detail}; " if component == "clc" else "") + \
                f"{client.endpoint}/ (mutual TLS)"
        finally:
            await client.close()
    except errors.ApiError as err:
        return False, err.message
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return False, describe_failure(exc)


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
    client = _rpc_client(settings, "cc")
    try:
        return (await client.describe_resources())["nodes"], None
    except errors.ApiError as err:
        return [], err.message
    finally:
        await client.close()


def publish_test_image(settings: Settings, env: dict | None = None) -> str:
    """Register `mallee-test` for the admin, as `mallee image build-test` would: its id.
    `env` replaces the inherited environment (the eucarc's exports are added)."""
    env = dict(os.environ if env is None else env, MALLEE_HOME=str(settings.home))
    for line in settings.eucarc.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    proc = subprocess.run([sys.executable, "-m", "mallee_cli", "image", "build-test"], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise CliError(f"could not register the test image: {proc.stderr.strip()}")
    image = next(line.split()[1] for line in proc.stdout.splitlines()
                 if line.startswith("IMAGE"))
    print(f"image   mallee-test is {image}")
    return image
