"""Namespaces that stand in for guests and the outside world, and TCP probes
made from inside them (a thread enters the namespace; nothing is spawned)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

from mallee.images.guest_scripts import UDHCPC_SCRIPT
from node_controller.network.names import tap_name
from node_controller.network.namespace import CLONE_NEWNET, NETNS_DIR, socket_in_namespace


def view_of(version: int, subnet: str, gateway: str, members: dict, groups: dict[str, list[dict]],
            public: dict | None, iid, mac, ip) -> dict:
    """A network view as the CC sends it: guest n of `members` with its groups,
    named and addressed by the test's own iid/mac/ip functions."""
    return {"version": version, "subnet": subnet, "gateway": gateway,
            "instances": [{"instance_id": iid(n), "mac": mac(n), "private_ip": ip(n),
                           "public_ip": (public or {}).get(n), "groups": g}
                          for n, g in members.items()],
            "groups": [{"group_id": g, "ingress": rules} for g, rules in groups.items()]}


def sh(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, input=input)


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def in_ns(namespace: str, fn):
    """Run fn() on a thread that has entered namespace; return its result."""
    result: dict = {}

    def work():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
        try:
            assert libc.setns(fd, CLONE_NEWNET) == 0
        finally:
            os.close(fd)
        try:
            result["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def tcp_reply(namespace: str, ip: str, port: int, timeout: float = 1.0) -> str | None:
    """Connect from namespace and read the server's line, or None if refused/dropped."""
    def attempt():
        try:
            with socket.create_connection((ip, port), timeout=timeout) as s:
                return s.recv(200).decode().strip()
        except OSError:
            return None
    return in_ns(namespace, attempt)


class Server:
    """A TCP server in a namespace that answers each connection with the
    caller's address ("hello from <ip>")."""

    def __init__(self, namespace: str, ip: str, port: int):
        self.sock = socket_in_namespace(namespace, ip, port)
        self.sock.setblocking(True)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(f"hello from {peer[0]}\n".encode())

    def close(self):
        self._stop.set()
        self.thread.join()
        self.sock.close()


@dataclass
class FakeGuest:
    """A namespace with eth0 whose peer, named like the instance's tap, waits
    in the root namespace for DataPlane.plug to move it, as a tap would."""
    namespace: str
    instance_id: str
    mac: str
    ip: str

    @classmethod
    def create(cls, instance_id: str, mac: str, ip: str, prefix: int = 16) -> "FakeGuest":
        guest = cls(unique("mtg-"), instance_id, mac, ip)
        sh("ip", "netns", "add", guest.namespace)
        sh("ip", "link", "add", tap_name(instance_id), "type", "veth", "peer", "name", "eth0",
           "netns", guest.namespace)
        guest.run("ip", "link", "set", "eth0", "address", mac)
        guest.run("ip", "link", "set", "lo", "up")
        guest.run("ip", "link", "set", "eth0", "up")
        if ip:
            guest.run("ip", "addr", "add", f"{ip}/{prefix}", "dev", "eth0")
        return guest

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.namespace, *args, check=check)

    def default_route(self, gateway: str):
        self.run("ip", "route", "replace", "default", "via", gateway)

    def ping(self, ip: str) -> bool:
        return self.run("busybox", "ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0

    def dhcp(self, script_dir) -> str | None:
        """busybox udhcpc as the test image runs it; the address it got."""
        script = script_dir / "udhcpc.sh"
        if not script.exists():
            script.write_text(UDHCPC_SCRIPT)
            script.chmod(0o755)
        self.run("busybox", "udhcpc", "-i", "eth0", "-s", str(script), "-f", "-q", "-n",
                 "-t", "5", "-T", "1", "-A", "1", check=False)
        out = self.run("ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()
        return out[out.index("inet") + 1].split("/")[0] if "inet" in out else None

    def delete(self):
        sh("ip", "netns", "delete", self.namespace, check=False)


def wait_until(predicate, timeout: float, interval: float = 0.02) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    return None
