"""What the storage tests share: an SC of their own in this process (its tgtd
from the tgt_ports fixture in conftest.py), QEMU's iSCSI initiator through
qemu-io, tgtadm's view, and a bounded wait."""
from __future__ import annotations

import subprocess
import time

from ebs.app import VOLUMES, sites
from ebs.client import StorageClient
from mallee import settings as settings_mod
from mallee.pki import init_pki
from mallee.rpc import client_ssl_context
from mallee.service import start_sites, stop_sites
from tests.harness import free_port

NODE_A = "iqn.2026-12.org.mallee:node.a"
NODE_B = "iqn.2026-12.org.mallee:node.b"
TIMEOUT = 90.0


def wait_until(predicate, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def qemu_io(export: dict, *commands: str, initiator: str | None = None,
            password: str | None = None) -> subprocess.CompletedProcess:
    """Log in to an export as QEMU does and run qemu-io commands on its LUN."""
    opts = ",".join([
        "driver=iscsi", "transport=tcp", f"portal={export['portal']}",
        f"target={export['iqn']}", f"lun={export['lun']}", f"user={export['chap_user']}",
        f"password={password or export['chap_password']}",
        f"initiator-name={initiator or export['initiator']}"])
    args = ["qemu-io", "--image-opts", opts]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def tgt_show(port: int, mode: str, *more: str) -> str:
    return subprocess.run(["tgtadm", "-C", str(port), "--lld", "iscsi", "--mode", mode,
                           "--op", "show", *more], capture_output=True, text=True,
                          timeout=30).stdout


def sessions(control_port: int) -> str:
    """Target 1's connections and every target's state, as tgtadm shows them."""
    return tgt_show(control_port, "conn", "--tid", "1") + tgt_show(control_port, "target")


class Sc:
    """The SC app in this process, started and stopped like `mallee serve sc`
    (its tgtd outlives a stop, as it does when the process ends)."""

    def __init__(self, home, ports: tuple[int, int], **env: str):
        self.port = free_port()
        self.settings = settings_mod.load(home=home, env={
            "MALLEE_CLOUD_HOST": "127.0.0.1", "MALLEE_SC_PORT": str(self.port),
            "MALLEE_SC_ISCSI_PORT": str(ports[0]),
            "MALLEE_SC_TGT_CONTROL_PORT": str(ports[1]), **env})
        init_pki(self.settings.pki_dir)
        self.runners: list = []
        self.client: StorageClient | None = None

    async def start_sc(self) -> StorageClient:
        self.runners = await start_sites(sites(self.settings))
        self.client = StorageClient("127.0.0.1", self.port,
                                    client_ssl_context(self.settings.pki_dir, "clc"))
        return self.client

    async def stop_sc(self) -> None:
        """Stop it (once); its app stays readable until the next start."""
        if self.client is not None:
            await self.client.close()
            await stop_sites(self.runners)
            self.client = None

    start, stop = start_sc, stop_sc

    @property
    def volumes(self):
        return self.runners[0].app[VOLUMES]
