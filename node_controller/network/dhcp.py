"""dnsmasq in the node's namespace: fixed MAC -> IP leases only, from a hosts
file that SIGHUP re-reads; DNS answers the guests' own names and nothing else.

dnsmasq daemonizes with a pid file in the NC's state dir, so it outlives an
NC restart (guests keep renewing) and the next NC adopts it; we only ever
signal the pid whose command line names our pid file.
"""
from __future__ import annotations

import ipaddress
import os
import signal
import time
from pathlib import Path

from node_controller.network.commands import NetworkError, in_namespace
from node_controller.network.names import BRIDGE
from node_controller.network.port import Port

LEASE_TIME = "12h"


class Dnsmasq:
    def __init__(self, namespace: str, directory: Path, subnet: str, domain: str,
                 mtu: int | None = None):
        self.namespace = namespace
        self.directory = Path(directory)
        self.subnet = ipaddress.IPv4Network(subnet)
        self.domain = domain
        self.mtu = mtu  # told to guests when the cluster segment carries less than 1500
        self.hosts_file = self.directory / "dhcp-hosts"
        self.pid_file = self.directory / "dnsmasq.pid"
        self.log_file = self.directory / "dnsmasq.log"

    def write_hosts(self, ports: list[Port]) -> bool:
        """Write the leases; True when they changed (then reload)."""
        text = "".join(f"{p.mac},{p.private_ip},{(p.hostname or '').split('.')[0] or 'guest'},"
                       f"{LEASE_TIME}\n" for p in sorted(ports, key=lambda p: p.private_ip))
        if self.hosts_file.exists() and self.hosts_file.read_text() == text:
            return False
        tmp = self.hosts_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)  # dnsmasq re-reads it after dropping to nobody
        os.replace(tmp, self.hosts_file)
        return True

    def pid(self) -> int | None:
        """Our dnsmasq's pid, if it runs (checked by its command line)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if f"--pid-file={self.pid_file}".encode() in cmdline else None

    def ensure_running(self) -> None:
        if self.pid() is not None:
            return
        if not self.hosts_file.exists():
            self.write_hosts([])
        self.pid_file.unlink(missing_ok=True)
        gateway = next(self.subnet.hosts())
        in_namespace(
            self.namespace, "dnsmasq", "--conf-file=/dev/null", f"--pid-file={self.pid_file}",
            "--user=nobody", "--group=nogroup", f"--interface={BRIDGE}", "--bind-interfaces",
            f"--dhcp-range={self.subnet.network_address},static,{self.subnet.netmask},{LEASE_TIME}",
            f"--dhcp-hostsfile={self.hosts_file}", f"--dhcp-option=option:router,{gateway}",
            # Only this node's guests are in the hosts file. On a segment
            # shared with other nodes, never answer (or NAK) anyone else's.
            "--dhcp-ignore=tag:!known",
            *([f"--dhcp-option=option:mtu,{self.mtu}"] if self.mtu else []),
            "--dhcp-authoritative", "--leasefile-ro", "--no-ping",
            "--no-resolv", "--no-hosts", f"--domain={self.domain}",
            f"--local=/{self.domain}/", f"--log-facility={self.log_file}")
        deadline = time.monotonic() + 5
        while self.pid() is None:
            if time.monotonic() > deadline:
                raise NetworkError(f"dnsmasq in {self.namespace} did not start; see {self.log_file}")
            time.sleep(0.02)

    def reload(self) -> None:
        pid = self.pid()
        if pid is None:
            self.ensure_running()  # a fresh one reads the file anyway
            return
        os.kill(pid, signal.SIGHUP)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
