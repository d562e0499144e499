"""The node's network namespace: bridge, gateway and metadata addresses, the
uplink veth and the elastic IPs on it. Every step checks before it changes,
so building again over an existing namespace is harmless."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

from node_controller.network.commands import NetworkError, in_namespace, run
from node_controller.network.names import BRIDGE, METADATA_IP, UPLINK

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000


def exists(namespace: str) -> bool:
    return (NETNS_DIR / namespace).exists()


def link_exists(name: str, namespace: str | None = None) -> bool:
    where = ["-n", namespace] if namespace else []
    return bool(run("ip", *where, "-o", "link", "show", "dev", name, check=False).strip())


def ensure_namespace(namespace: str, router: bool = True) -> None:
    """router=False: a namespace that only bridges (the cluster segment): no
    forwarding, no netfilter on bridged frames (nothing to filter there, and
    with br_netfilter on that bridge too the first ARP across nodes was at
    times lost, costing the guest a 1 s retry)."""
    if not exists(namespace):
        try:
            run("ip", "netns", "add", namespace)
        except NetworkError:
            if not exists(namespace):  # else another node made it (a shared cluster namespace)
                raise
    run("ip", "-n", namespace, "link", "set", "lo", "up")
    # Guests have no IPv6 here; forwarding for elastic IPs and the uplink;
    # br_netfilter hands bridged frames to iptables (physdev, conntrack).
    for key, value in (("net.ipv6.conf.all.disable_ipv6", "1"),
                       ("net.ipv6.conf.default.disable_ipv6", "1"),
                       ("net.ipv4.ip_forward", "1" if router else "0"),
                       ("net.bridge.bridge-nf-call-iptables", "1" if router else "0"),
                       ("net.bridge.bridge-nf-call-arptables", "1" if router else "0")):
        in_namespace(namespace, "sysctl", "-q", "-w", f"{key}={value}")


def ensure_bridge(namespace: str, gateway_cidr: str, mac: str | None = None) -> None:
    make_bridge(namespace, BRIDGE)
    if mac:
        run("ip", "-n", namespace, "link", "set", BRIDGE, "address", mac)
    run("ip", "-n", namespace, "addr", "replace", gateway_cidr, "dev", BRIDGE)
    run("ip", "-n", namespace, "addr", "replace", f"{METADATA_IP}/32", "dev", BRIDGE)
    run("ip", "-n", namespace, "link", "set", BRIDGE, "up")


def make_bridge(namespace: str, name: str) -> None:
    """A plain learning bridge (no STP: each segment is a star, no loops)."""
    if not link_exists(name, namespace):
        try:
            run("ip", "-n", namespace, "link", "add", name, "type", "bridge",
                "forward_delay", "0", "stp_state", "0")
        except NetworkError:
            if not link_exists(name, namespace):  # else another node made it meanwhile
                raise
    run("ip", "-n", namespace, "link", "set", name, "up")


def ensure_uplink(namespace: str, outer: str, outer_namespace: str, outer_bridge: str,
                  address: str, gateway: str) -> None:
    """A veth from the node's namespace (`uplink`) to `outer` in outer_namespace
    (the root namespace when empty), enslaved to outer_bridge when given."""
    outer_where = ["-n", outer_namespace] if outer_namespace else []
    if not link_exists(UPLINK, namespace):
        if link_exists(outer, outer_namespace or None):  # a half-made pair from a crash
            run("ip", *outer_where, "link", "del", outer)
        run("ip", "link", "add", outer, *(["netns", outer_namespace] if outer_namespace else []),
            "type", "veth", "peer", "name", UPLINK, "netns", namespace)
    if outer_bridge:
        run("ip", *outer_where, "link", "set", outer, "master", outer_bridge)
    run("ip", *outer_where, "link", "set", outer, "up")
    if address:
        run("ip", "-n", namespace, "addr", "replace", address, "dev", UPLINK)
    run("ip", "-n", namespace, "link", "set", UPLINK, "up")
    if gateway:
        run("ip", "-n", namespace, "route", "replace", "default", "via", gateway, "dev", UPLINK)


def set_public_addresses(namespace: str, public_ips: set[str], uplink_address: str) -> set[str]:
    """Elastic IPs are /32s on the uplink, so the outside's ARP finds us.
    Returns the ones added now (to be announced)."""
    own = uplink_address.split("/")[0] if uplink_address else None
    current = set()
    for link in json.loads(run("ip", "-n", namespace, "-j", "addr", "show", "dev", UPLINK) or "[]"):
        for info in link.get("addr_info", ()):
            if info.get("family") == "inet" and info.get("prefixlen") == 32 and info["local"] != own:
                current.add(info["local"])
    for ip in sorted(current - public_ips):
        run("ip", "-n", namespace, "addr", "del", f"{ip}/32", "dev", UPLINK)
    for ip in sorted(public_ips - current):
        run("ip", "-n", namespace, "addr", "add", f"{ip}/32", "dev", UPLINK)
    return public_ips - current


def attach_tap(namespace: str, tap: str) -> None:
    """Move a tap from the root namespace into ours (if not there yet) and onto the bridge."""
    if not link_exists(tap, namespace):
        if not link_exists(tap):
            raise NetworkError(f"tap {tap} exists neither in the root namespace nor in {namespace}")
        run("ip", "link", "set", "dev", tap, "netns", namespace)
    run("ip", "-n", namespace, "link", "set", "dev", tap, "master", BRIDGE)
    run("ip", "-n", namespace, "link", "set", "dev", tap, "up")


def create_tap(tap: str, namespace: str) -> None:
    """A fresh tap in the root namespace for libvirt to open (managed='no')."""
    remove_link(tap, namespace)
    run("ip", "tuntap", "add", "dev", tap, "mode", "tap")


def remove_link(name: str, namespace: str) -> None:
    for where in (namespace, None):
        if where and not exists(where):
            continue
        if link_exists(name, where):
            run("ip", *(["-n", where] if where else []), "link", "del", name)


def call_in_namespace(namespace: str, fn):
    """fn() on a short thread that has entered the namespace (setns affects
    only the calling thread); its result, or its OSError as a NetworkError.
    Sockets made there keep their namespace after the thread ends."""
    result: dict = {}

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({namespace}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=work, name=f"setns-{namespace}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def socket_in_namespace(namespace: str, host: str, port: int, ttl: int | None = None) -> socket.socket:
    """A listening TCP socket that lives in another namespace, so the NC's
    event loop can serve it."""
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if ttl is not None:  # accepted connections inherit it
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    try:
        return call_in_namespace(namespace, make)
    except OSError as exc:
        raise NetworkError(f"cannot listen on {host}:{port} in {namespace}: {exc}") from None


def delete_namespace(namespace: str) -> None:
    """Stop every process inside, then delete: its links (the taps, the uplink
    veth and its outer end) go with it."""
    if not exists(namespace):
        return
    pids = [int(p) for p in run("ip", "netns", "pids", namespace, check=False).split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Deleting our end of the veth removes its peer now, not when the last
    # reference to the namespace goes away.
    if link_exists(UPLINK, namespace):
        run("ip", "-n", namespace, "link", "del", UPLINK, check=False)
    run("ip", "netns", "delete", namespace)


ETHTOOL_STXCSUM = 0x17
SIOCETHTOOL = 0x8946


def tx_checksum_off(device: str, namespace: str | None = None) -> None:
    """What `ethtool -K DEV tx off` does (ethtool is not always installed): packets
    leave with their checksums filled in, as OVS's userspace datapath needs from a
    veth (DESIGN.md "VPC on OVN")."""
    def apply() -> None:
        import fcntl
        import struct
        command = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
        request = struct.pack("16sQ", device.encode(), ctypes.addressof(command))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
    try:
        call_in_namespace(namespace, apply) if namespace else apply()
    except OSError as exc:
        raise NetworkError(f"cannot turn transmit checksum offload off on {device}: {exc}") \
            from None
