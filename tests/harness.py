"""A whole cloud in one process, for tests/api: every component's real sites
on free loopback ports, FakeDriver for VMs, real TLS, real sqlite.

Components run in a background thread's event loop so tests can drive them
with blocking clients (boto3, the awscli command line).
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import socket
import tempfile
import threading
from pathlib import Path

import boto3
from botocore.config import Config

from mallee import settings as settings_mod
from cloud_controller.bootstrap import local_accounts
from cloud_controller.client import AdminClient
from mallee.auth import Credential
from mallee.ovn_central import OvnCentral
from node_controller.network.ovn_chassis import OvnChassis
from mallee.pki import init_pki
from mallee.rpc import client_ssl_context
from mallee.service import start_sites, stop_sites
from mallee_cli.admin import write_user_eucarc
from ebs.teardown import end_storage
from node_controller import teardown
from node_controller.network import outside

MODULES = {"walrus": "walrus.app", "sc": "ebs.app", "nc": "node_controller.app",
           "cc": "cluster_controller.app", "clc": "cloud_controller.app"}


def available_components() -> tuple[str, ...]:
    """Every component whose app module exists and serves (has `sites`)."""
    return tuple(c for c, m in MODULES.items()
                 if importlib.util.find_spec(m) is not None
                 and hasattr(importlib.import_module(m), "sites"))


def free_tgt_control_port() -> int:
    """A tgtd control socket number (tgtd takes 0..32767) no tgtd on this host uses."""
    import random
    while True:
        port = random.randrange(1000, 32768)
        if not Path(f"/var/run/tgtd/socket.{port}").exists():
            return port


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range
    (ip_local_port_range starts at 32768): a port the kernel handed out by
    bind(0) is free only until some outgoing connection takes it as its own
    source port before the test's server binds it (CI saw exactly that)."""
    import random
    for _ in range(1000):
        port = random.randrange(10000, 32768)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free loopback port below 32768")


class Cloud:
    """nodes > 1 starts that many NCs (each its own name, port, state dir and,
    with the libvirt driver, uplink address), all in MALLEE_CC_NODES; with
    the libvirt driver they share one L2 segment, a cluster namespace of
    this cloud's own. `settings` is the first node's; `node_settings` all."""

    def __init__(self, home: Path, components=tuple(MODULES), env: dict | None = None,
                 nodes: int = 1):
        self.home = home
        self.components = components
        # QEMU's user must be able to enter the NC's state dir (not under a 0700 dir).
        self.nc_states = [Path(tempfile.mkdtemp(prefix="mallee-nc-")) for _ in range(nodes)]
        for state in self.nc_states:
            state.chmod(0o755)
        self.nc_state = self.nc_states[0]
        ports = {k: free_port() for k in ("clc", "clc_rpc", "cc", "walrus", "walrus_rpc", "sc",
                                          "iscsi")}
        nc_ports = [free_port() for _ in range(nodes)]
        ports["nc"] = nc_ports[0]
        base = {
            "MALLEE_CLOUD_HOST": "127.0.0.1",
            "MALLEE_CLC_PORT": str(ports["clc"]),
            "MALLEE_CLC_RPC_PORT": str(ports["clc_rpc"]),
            "MALLEE_CLC_POLL_SECONDS": "0.5",
            "MALLEE_CLC_CLUSTERS": f"cluster1=mallee-1a@127.0.0.1:{ports['cc']}",
            "MALLEE_CC_PORT": str(ports["cc"]),
            "MALLEE_CC_NODES": ",".join(f"127.0.0.1:{port}" for port in nc_ports),
            "MALLEE_CC_POLL_SECONDS": "0.5",
            "MALLEE_NC_PORT": str(ports["nc"]),
            "MALLEE_NC_NAME": f"t{ports['nc']}",  # its own namespace, per test cloud
            "MALLEE_NC_DRIVER": "fake",
            "MALLEE_NC_STATE_DIR": str(self.nc_state),
            "MALLEE_NC_CORES": "8",
            "MALLEE_NC_MEMORY_MB": "8192",
            "MALLEE_NC_DISK_GB": "200",
            "MALLEE_WALRUS_PORT": str(ports["walrus"]),
            "MALLEE_WALRUS_RPC_PORT": str(ports["walrus_rpc"]),
            "MALLEE_SC_PORT": str(ports["sc"]),
            # Its own tgtd: a portal and a control socket of this cloud's own.
            "MALLEE_SC_ISCSI_PORT": str(ports["iscsi"]),
            "MALLEE_SC_TGT_CONTROL_PORT": str(free_tgt_control_port()),
        }
        base.update(env or {})
        if base["MALLEE_NC_DRIVER"] == "libvirt":  # an outside world of this cloud's own
            base.setdefault("MALLEE_NETWORK_UPLINK_NETNS", f"mo-{ports['nc']}")
            if nodes > 1:  # and a segment joining its nodes
                base.setdefault("MALLEE_NETWORK_CLUSTER_LINK", "netns")
                base.setdefault("MALLEE_NETWORK_CLUSTER_LINK_NETNS", f"mallee-t{ports['nc']}-l2")
        self.env = base  # the MALLEE_* settings of this cloud, for `mallee` commands
        self.settings = settings_mod.load(home=home, env=base)
        self.node_settings = [self.settings] + [
            self._extra_node(port, state, index)
            for index, (port, state) in enumerate(zip(nc_ports[1:], self.nc_states[1:]), 1)]
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runners = []
        self._stopped = False
        self.admin: Credential | None = None
        self._admin_client: AdminClient | None = None
        # VPC mode (MALLEE_NETWORK_MODE=vpc): OVN's central part of this cloud's own.
        self.ovn = OvnCentral.of(self.settings) if self.settings.network.mode == "vpc" else None
        # ... and each node's OVS + ovn-controller, where guests are real (libvirt)
        self.chassis = [OvnChassis.of(s) for s in self.node_settings
                        if self.ovn is not None and s.nc.driver == "libvirt" and "nc" in components]

    def _extra_node(self, port: int, state: Path, index: int):
        """The first node's settings with its own name, port, state dir and
        uplink address (the next one up on the outside's subnet)."""
        network = {}
        if self.settings.network.uplink_address:
            address = ipaddress.IPv4Interface(self.settings.network.uplink_address)
            network["uplink_address"] = f"{address.ip + index}/{address.network.prefixlen}"
        return self.settings.replace(nc={"name": f"t{port}", "port": port,
                                         "state_dir": str(state)}, network=network)

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _init(self):
        """What `mallee init` does on the CLC's host: the admin account."""
        async with local_accounts(self.settings) as accounts:
            self.admin = await accounts.ensure_admin()

    async def _start(self):
        for name in self.components:
            module = importlib.import_module(MODULES[name])
            for settings in (self.node_settings if name == "nc" else [self.settings]):
                self._runners += await start_sites(module.sites(settings))

    def start(self) -> "Cloud":
        init_pki(self.settings.pki_dir, ("127.0.0.1",))
        if self.settings.nc.driver == "libvirt":
            outside.ensure_outside(self.settings.network)
        self._thread.start()
        try:
            if self.ovn is not None:
                self.ovn.start()
                for chassis in self.chassis:
                    chassis.start()
            self.run(self._init())
            self.run(self._start())
        except BaseException:
            self.stop()  # what did start (a tgtd, a namespace) must not outlive the test
            raise
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._admin_client is not None:
            self.run(self._admin_client.close())
        # aiohttp waits up to 60 s for each site's requests in flight (a poll the CC
        # is making of its node, a terminate), so the whole stop gets more than that.
        self.run(stop_sites(self._runners), timeout=180)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        for settings in self.node_settings:  # guests first: nothing is plugged any more
            teardown.end_node(settings)
        for chassis in self.chassis:
            chassis.stop()
        if self.ovn is not None:
            self.ovn.stop()
        if "sc" in self.components:
            end_storage(self.settings)
        if self.settings.nc.driver == "libvirt":
            outside.remove_outside(self.settings.network)
        for state in self.nc_states:
            shutil.rmtree(state, ignore_errors=True)

    @property
    def admin_client(self) -> AdminClient:
        """The CLC's admin RPC, as `mallee admin` reaches it (use inside self.run)."""
        if self._admin_client is None:
            self._admin_client = AdminClient("127.0.0.1", self.settings.clc.rpc_port,
                                             client_ssl_context(self.settings.pki_dir, "admin"))
        return self._admin_client

    def new_account(self, name: str) -> Credential:
        """An account and its admin's first key, as `mallee admin account-create` makes them."""
        async def make():
            return (await self.admin_client.account_create(name))[1]
        return self.run(make())

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.1):
        """Poll a condition (bounded): state flows upward by polling here too."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(interval)

    @property
    def ec2_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.clc.port}/"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.walrus.port}/"

    def client(self, service: str = "ec2", credential: Credential | None = None, **config):
        credential = credential or self.admin
        return boto3.client(
            service, endpoint_url=self.ec2_url if service in ("ec2", "sts", "iam", "cloudwatch")
            else self.s3_url,
            region_name=self.settings.cloud.region,
            aws_access_key_id=credential.access_key_id,
            aws_secret_access_key=credential.secret_access_key,
            config=Config(retries={"max_attempts": 1}, **config))

    def aws(self, *args: str, credential: Credential | None = None):
        """The awscli command line after `source eucarc`: parsed JSON output, or
        AssertionError with awscli's own message when it fails."""
        out = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"],
                             env=self.cli_env(credential), capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, f"aws {' '.join(args)}: {out.stderr}"
        return json.loads(out.stdout) if out.stdout.strip() else None

    def mallee(self, *args: str) -> subprocess.CompletedProcess:
        """The `mallee` command on this cloud's host, as an admin runs it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLEE_")}
        env.update(self.env, MALLEE_HOME=str(self.home))
        return subprocess.run([sys.executable, "-m", "mallee_cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    def publish_test_image(self, workdir: Path) -> dict:
        """The test image, bundled, uploaded and registered by the admin as `make up`
        does (public): publish_test_image's answer (its "image" id and more)."""
        from mallee.images.publish import Signer, publish_test_image
        return publish_test_image(self.client("ec2"), self.client("s3"),
                                  Signer.from_env(self.cli_env()), workdir)

    def cli_env(self, credential: Credential | None = None) -> dict:
        """The environment a user has after `source eucarc`."""
        credential = credential or self.admin

        rc = self.run(write_user_eucarc(self.settings, self.admin_client, credential,
                                        self.home / "credentials" / credential.account_name /
                                        credential.user_name / "eucarc"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        for line in rc.read_text().splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                env[key] = value.strip("'")
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.home / "none")
        return env
