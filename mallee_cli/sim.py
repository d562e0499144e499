"""`mallee sim up|down|status`: the real CLC, real CCs (and Walrus if asked) with many
simulated nodes behind them, on one host (docs/simulation.md).

A simulated node is the real NC app (node_controller.app.create_app) with the fake
driver: its own name, port, state directory and the nodes' certificate, as a real
node has. Many of them are served from a few processes (`mallee sim nodes --group K`,
each serving its nodes as aiohttp sites on one event loop), so 1,000 fit on two
cores. Each CC is `mallee serve cc` with its cluster's name, zone, port and nodes;
the CLC knows every cluster. The sim keeps its own home (default ~/.mallee-sim):
its layout in sim.json, the settings every process shares in mallee.toml, pids
under run/sim-*.pid; `mallee sim down` stops exactly those processes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from cluster_controller.client import ClusterClient
from mallee import errors, rpc, settings as settings_mod
from mallee.files import write_atomic
from mallee.service import Site, serve_forever, setup_logging
from mallee.settings import Settings
from mallee_cli import onehost
from mallee_cli.admin import cmd_init
from mallee_cli.errors import CliError
from mallee_cli.output import print_table
from node_controller import app as nc_app

DEFAULT_HOME = Path("~/.mallee-sim")
MARKER = "# Written by `mallee sim up`: the settings every process of this simulation shares.\n"


@dataclass(frozen=True)
class Layout:
    """What one `mallee sim up` asked for; every process derives its part from it."""
    clusters: int
    nodes: int  # per cluster
    walrus: bool
    boot_seconds: float
    port_base: int
    nodes_per_process: int
    node_cores: int
    node_memory_mb: int
    node_disk_gb: int
    poll_seconds: float

    # Ports: CLC, its RPC, Walrus S3 and RPC at the base; CCs from +10; nodes from +100.
    @property
    def clc_port(self) -> int:
        return self.port_base

    def cc_port(self, cluster: int) -> int:
        return self.port_base + 10 + cluster

    def node_port(self, index: int) -> int:
        return self.port_base + 100 + index

    @staticmethod
    def cluster_name(cluster: int) -> str:
        return f"sim{cluster + 1}"

    @staticmethod
    def zone(cluster: int) -> str:
        letters = string.ascii_lowercase
        return f"sim-1{letters[cluster]}" if cluster < 26 else f"sim-{cluster // 26 + 1}" \
            f"{letters[cluster % 26]}"

    def node_name(self, index: int) -> str:
        return f"{self.cluster_name(index // self.nodes)}-n{index % self.nodes + 1:04d}"

    @property
    def total_nodes(self) -> int:
        return self.clusters * self.nodes

    def cluster_nodes(self, cluster: int) -> range:
        return range(cluster * self.nodes, (cluster + 1) * self.nodes)

    @property
    def groups(self) -> int:
        return -(-self.total_nodes // self.nodes_per_process)

    def group_nodes(self, group: int) -> range:
        """Every groups-th node: a cluster's nodes are spread over all the processes,
        so a burst of launches into one zone is served by every core."""
        return range(group, self.total_nodes, self.groups)

    def ports(self) -> list[int]:
        """Every port this simulation listens on."""
        own = [self.clc_port, self.clc_port + 1] + ([self.clc_port + 2, self.clc_port + 3]
                                                    if self.walrus else [])
        return own + [self.cc_port(c) for c in range(self.clusters)] + \
            [self.node_port(i) for i in range(self.total_nodes)]


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string or number


def settings_toml(home: Path, layout: Layout) -> str:
    """mallee.toml of the simulation: the CLC's clusters, the first CC and node (so
    `mallee --home HOME status` shows cluster 1), the fake driver and the nodes' size."""
    first = layout.cluster_nodes(0)
    sections = {
        "cloud": {"host": "127.0.0.1"},
        "clc": {"port": layout.clc_port, "rpc_port": layout.clc_port + 1,
                "clusters": [f"{layout.cluster_name(c)}={layout.zone(c)}@127.0.0.1:"
                             f"{layout.cc_port(c)}" for c in range(layout.clusters)],
                # `aws ec2 run-instances --count 500` is what a simulation is for
                "max_instances_per_account": 1_000_000},
        "cc": {"name": layout.cluster_name(0), "zone": layout.zone(0),
               "port": layout.cc_port(0), "poll_seconds": layout.poll_seconds,
               "nodes": [f"127.0.0.1:{layout.node_port(i)}" for i in first]},
        "nc": {"driver": "fake", "name": layout.node_name(0), "port": layout.node_port(0),
               "state_dir": str(home / "nodes" / "{name}"), "cores": layout.node_cores,
               "memory_mb": layout.node_memory_mb, "disk_gb": layout.node_disk_gb,
               "fake_boot_seconds": layout.boot_seconds},
        "walrus": {"port": layout.clc_port + 2, "rpc_port": layout.clc_port + 3},
        "sc": {"port": layout.clc_port + 4},
        "network": {"make_outside": False, "uplink_netns": ""},
    }
    return MARKER + "".join(f"\n[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in
                                                     values.items())
                            for name, values in sections.items())


def _home(args) -> Path:
    given = getattr(args, "home", None) or os.environ.get("MALLEE_HOME")
    return Path(given or DEFAULT_HOME).expanduser().resolve()


def _clean_env() -> dict:
    """The environment for the simulation's processes: no MALLEE_* of the caller's
    (a real cloud's ports must not leak in); mallee.toml says everything."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLEE_")}


def _load(home: Path) -> tuple[Settings, Layout | None]:
    path = home / "sim.json"
    layout = Layout(**json.loads(path.read_text())) if path.exists() else None
    toml = home / "mallee.toml"
    if toml.exists() and not toml.read_text().startswith(MARKER):
        raise CliError(f"{home} holds a cloud that `mallee sim` did not make: "
                       "give `mallee sim` a home of its own (--home DIR)")
    return settings_mod.load(home=home, env=dict(_clean_env(), MALLEE_HOME=str(home))), layout


# -- the processes -------------------------------------------------------------------
def _processes(home: Path, layout: Layout) -> list[tuple[str, list[str], dict]]:
    """(pid-file key, `mallee` arguments, extra environment), in start order: Walrus,
    the node groups, the CCs, the CLC (each tier before the one that polls it)."""
    base = ["--home", str(home)]
    procs = []
    if layout.walrus:
        procs.append(("sim-walrus", base + ["serve", "walrus", "--log-name", "walrus"], {}))
    for group in range(layout.groups):
        procs.append((f"sim-nodes-{group}", base + ["sim", "nodes", "--group", str(group)], {}))
    for c in range(layout.clusters):
        name = layout.cluster_name(c)
        procs.append((f"sim-cc-{name}", base + ["serve", "cc", "--log-name", f"cc-{name}"], {
            "MALLEE_CC_NAME": name, "MALLEE_CC_ZONE": layout.zone(c),
            "MALLEE_CC_PORT": str(layout.cc_port(c)),
            "MALLEE_CC_NODES": ",".join(f"127.0.0.1:{layout.node_port(i)}"
                                        for i in layout.cluster_nodes(c))}))
    procs.append(("sim-clc", base + ["serve", "clc", "--log-name", "clc"], {}))
    return procs


def _running(settings: Settings, layout: Layout) -> dict[str, int | None]:
    return {key: onehost.pid_of(settings, key, " ".join(args))
            for key, args, _ in _processes(settings.home, layout)}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _wait_ports(ports: list[int], pid: int, timeout: float) -> str | None:
    """None once every port accepts a connection, else why not."""
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        if not onehost.alive(pid):
            return "process exited"
        still = []
        for port in waiting:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
            except OSError:
                still.append(port)
        waiting = still
        if waiting:
            await asyncio.sleep(0.3)
    return f"{len(waiting)} port(s) not listening, e.g. {waiting[0]}" if waiting else None


async def _wait_healthy(settings: Settings, key: str, pid: int, layout: Layout,
                        timeout: float = 120.0) -> str | None:
    if key == "sim-walrus":
        return await onehost.wait_healthy(settings, "walrus", pid, timeout)
    if key == "sim-clc":
        return await onehost.wait_healthy(settings, "clc", pid, timeout)
    if key.startswith("sim-cc-"):
        cluster = int(key.rsplit("sim", 1)[1]) - 1
        return await onehost.wait_healthy(
            settings.replace(cc={"port": layout.cc_port(cluster)}), "cc", pid, timeout)
    group = int(key.rsplit("-", 1)[1])
    nodes = layout.group_nodes(group)
    return await _wait_ports([layout.node_port(i) for i in nodes], pid,
                             timeout + 0.05 * len(nodes))


def cmd_up(home: Path, args) -> None:
    started_at = time.monotonic()
    settings, existing = _load(home)
    layout = Layout(clusters=args.clusters, nodes=args.nodes, walrus=args.walrus,
                    boot_seconds=args.boot_seconds, port_base=args.port_base,
                    nodes_per_process=args.nodes_per_process, node_cores=args.node_cores,
                    node_memory_mb=args.node_memory_mb, node_disk_gb=args.node_disk_gb,
                    poll_seconds=args.poll_seconds)
    if not (1 <= layout.clusters <= 90 and layout.nodes >= 1 and layout.nodes_per_process >= 1):
        raise CliError("--clusters is 1..90, --nodes and --nodes-per-process at least 1")
    if layout.port_base + 100 + layout.total_nodes > 65535 or layout.port_base < 1024:
        raise CliError(f"--port-base {layout.port_base}: the simulation needs ports "
                       f"{layout.port_base}..{layout.port_base + 99 + layout.total_nodes}")
    if existing is not None and existing != layout and any(_running(settings, existing).values()):
        raise CliError(f"a simulation of another shape runs at {home}: `mallee sim down "
                       f"--home {home}` first")
    home.mkdir(parents=True, exist_ok=True)
    write_atomic(home / "mallee.toml", settings_toml(home, layout).encode())
    write_atomic(home / "sim.json", json.dumps(asdict(layout), indent=1).encode())
    settings, _ = _load(home)
    (home / "nodes").mkdir(exist_ok=True)
    cmd_init(settings, args)
    if not any(_running(settings, layout).values()):
        busy = [p for p in layout.ports() if not _port_free(p)]
        if busy:
            raise CliError(f"{len(busy)} of the simulation's ports are taken (e.g. {busy[0]}): "
                           "choose another --port-base")
    env = _clean_env()
    for key, argv, extra in _processes(home, layout):
        name = key.removeprefix("sim-")  # its log/NAME.log and NAME.out
        pid, started = onehost.spawn(settings, key, argv, dict(env, **extra), log_name=name)
        reason = asyncio.run(_wait_healthy(settings, key, pid, layout)) if started else None
        if reason:
            out = settings.log_dir / f"{name}.out"
            last = (out.read_text(errors="replace").strip().splitlines() or [""])[-1]
            raise CliError(f"{key} did not come up: {reason}" + (f": {last}" if last else "")
                           + f"; see {settings.log_dir / name}.log and {out}")
        print(f"{key:16} {'started' if started else 'running'} (pid {pid})", flush=True)
    capacity = asyncio.run(_wait_capacity(settings, layout, timeout=60 + layout.poll_seconds))
    print(f"{layout.total_nodes} simulated nodes in {layout.clusters} zone(s) "
          f"({layout.zone(0)}..{layout.zone(layout.clusters - 1)}), {capacity} reported up, "
          f"in {time.monotonic() - started_at:.1f} s")
    if layout.walrus:
        onehost.publish_test_image(settings, env)
    print(f"\nNext:\n  source {settings.eucarc}\n"
          "  aws ec2 describe-availability-zones --zone-names verbose\n"
          + ("  aws ec2 run-instances --image-id <mallee-test> --count 500\n"
             if layout.walrus else "  (launches need images: `mallee sim up --walrus`)\n")
          + f"  mallee sim status --home {home}\n  mallee sim down --home {home}")


async def _cluster_reports(settings: Settings, layout: Layout) -> list[dict | str]:
    """Each CC's node list as it last polled them, or why it could not be had."""
    tls = rpc.client_ssl_context(settings.pki_dir, "admin")

    async def one(cluster: int):
        client = ClusterClient("127.0.0.1", layout.cc_port(cluster), tls)
        try:
            return (await client.describe_resources())["nodes"]
        except errors.ApiError as err:
            return err.message
        finally:
            await client.close()
    return list(await asyncio.gather(*(one(c) for c in range(layout.clusters))))


async def _wait_capacity(settings: Settings, layout: Layout, timeout: float) -> int:
    """Until every CC reports each of its nodes up (bounded): how many are."""
    deadline = time.monotonic() + timeout
    while True:
        reports = await _cluster_reports(settings, layout)
        up = sum(1 for nodes in reports if isinstance(nodes, list)
                 for n in nodes if n["status"] == "up")
        if up >= layout.total_nodes or time.monotonic() > deadline:
            return up
        await asyncio.sleep(0.5)


def cmd_down(home: Path, args) -> None:
    settings, layout = _load(home)
    if layout is None:
        print(f"no simulation at {home}")
        return
    for key, argv, _ in reversed(_processes(home, layout)):  # the pollers first
        if onehost.stop_key(settings, key, " ".join(argv), timeout=30.0):
            print(f"{key:16} stopped", flush=True)


def cmd_status(home: Path, args) -> None:
    settings, layout = _load(home)
    if layout is None:
        raise CliError(f"no simulation at {home}: `mallee sim up --home {home}`")
    running = _running(settings, layout)
    rows = [{"process": key, "pid": pid or "-", "state": "running" if pid else "DOWN",
             "rss_mb": _rss_mb(pid) if pid else "-"} for key, pid in running.items()]
    reports = asyncio.run(_cluster_reports(settings, layout)) if running["sim-clc"] or any(
        running[f"sim-cc-{layout.cluster_name(c)}"] for c in range(layout.clusters)) else \
        ["not running"] * layout.clusters
    zones = []
    for c, nodes in enumerate(reports):
        if isinstance(nodes, str):
            zones.append({"zone": layout.zone(c), "cluster": layout.cluster_name(c),
                          "nodes_up": f"?/{layout.nodes}", "cores_free": "-",
                          "instances": "-", "detail": nodes})
            continue
        zones.append({"zone": layout.zone(c), "cluster": layout.cluster_name(c),
                      "nodes_up": f"{sum(n['status'] == 'up' for n in nodes)}/{layout.nodes}",
                      "cores_free": f"{sum(n['cores_free'] for n in nodes)}/"
                                    f"{sum(n['cores_total'] for n in nodes)}",
                      "instances": sum(len(n["instances"]) for n in nodes), "detail": ""})
    if args.output == "json":
        print(json.dumps({"layout": asdict(layout), "processes": rows, "zones": zones},
                         indent=2))
        return
    print_table(rows, ["process", "pid", "state", "rss_mb"], "table")
    print()
    print_table(zones, ["zone", "cluster", "nodes_up", "cores_free", "instances", "detail"],
                "table")


def _rss_mb(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return f"{int(line.split()[1]) / 1024:.0f}"
    except OSError:
        pass
    return "-"


# -- one node process ----------------------------------------------------------------
def serve_nodes(home: Path, group: int) -> None:
    """`mallee sim nodes --group K`: serve the group's simulated nodes until SIGTERM."""
    settings, layout = _load(home)
    if layout is None or not 0 <= group < layout.groups:
        raise CliError(f"no node group {group} in the simulation at {home}")
    setup_logging(settings, f"nodes-{group}")
    indexes = layout.group_nodes(group)

    def sites(settings: Settings) -> list[Site]:
        # Called inside the serving loop: a launch's blocking driver calls (a boot's
        # wait, --boot-seconds) run in threads, and the group's nodes share one pool:
        # big enough that a burst of boots does not queue behind each other.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=min(512, 16 + len(indexes))))
        tls = rpc.server_ssl_context(settings.pki_dir, "nc")  # one context, one cert: the nodes'
        return [Site(nc_app.create_app(settings.replace(nc={"name": layout.node_name(i),
                                                            "port": layout.node_port(i)})),
                     settings.cloud.host, layout.node_port(i), tls) for i in indexes]
    serve_forever(sites, settings)


def run(settings: Settings, args) -> None:
    home = _home(args)
    if args.sim_command == "nodes":
        serve_nodes(home, args.group)
    else:
        {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.sim_command](home, args)


def add_parser(sub) -> None:
    p = sub.add_parser("sim", help="a simulated cloud: the real CLC and CCs, many fake nodes "
                                   "(docs/simulation.md)")
    commands = p.add_subparsers(dest="sim_command", required=True)
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", default=argparse.SUPPRESS,
                      help=f"the simulation's own state directory (default {DEFAULT_HOME})")
    up = commands.add_parser("up", parents=[home], help="start (or leave running) a simulation")
    up.add_argument("--clusters", type=int, default=2, help="clusters, each its own zone")
    up.add_argument("--nodes", type=int, default=5, help="simulated nodes per cluster")
    up.add_argument("--walrus", action="store_true",
                    help="start Walrus and register the test image (launches need it)")
    up.add_argument("--boot-seconds", type=float, default=0.0,
                    help="how long a guest's power-on takes (it is pending meanwhile)")
    up.add_argument("--port-base", type=int, default=20000,
                    help="first port: CLC +0/+1, Walrus +2/+3, CCs +10.., nodes +100..")
    up.add_argument("--nodes-per-process", type=int, default=250,
                    help="simulated nodes served by one process")
    up.add_argument("--node-cores", type=int, default=16)
    up.add_argument("--node-memory-mb", type=int, default=65536)
    up.add_argument("--node-disk-gb", type=int, default=1000)
    up.add_argument("--poll-seconds", type=float, default=6.0,
                    help="each CC's poll interval (Eucalyptus's default: 6)")
    commands.add_parser("down", parents=[home], help="stop the simulation's processes")
    status = commands.add_parser("status", parents=[home],
                                 help="the simulation's processes and zones")
    status.add_argument("--output", choices=["table", "json"], default="table")
    nodes = commands.add_parser("nodes", parents=[home],
                                help="(internal) serve one group of simulated nodes")
    nodes.add_argument("--group", type=int, required=True)
