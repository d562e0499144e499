"""What a node does when an elastic IP arrives or leaves, beyond the /32 and
the NAT rules: tell the uplink's neighbours at once (gratuitous ARP), and
forget connections that were translated for the address's old owner.

An address that moves between nodes is added by the new node and removed by
the old one, in whatever order the view reaches them. Without an
announcement the outside keeps sending to the old node's MAC until its ARP
entry goes stale and is probed again (seconds); a gratuitous ARP request
(sender = target = the address, broadcast) makes Linux and most routers
override an existing entry at once. It is sent from Python over a packet
socket made inside the namespace: no arping binary needed.

Conntrack keeps a flow's NAT decision for the flow's life: after a move a
long-lived flow (a ping, a UDP stream, a TCP connection that keeps sending)
would still be translated to the old private address on a node that still
sees it. `conntrack -D` ends those entries; without the tool (Debian package
`conntrack`) they are left to time out, and only new flows reach the new
owner.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import socket
import struct

from node_controller.network.commands import NetworkError, in_namespace, run
from node_controller.network.namespace import call_in_namespace

log = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
ARP_REQUEST = 1
BROADCAST = b"\xff" * 6
ANNOUNCEMENTS = 2  # a second copy in case the first is lost; more is noise


def gratuitous_arp_frame(mac: str, ip: str) -> bytes:
    """Ethernet broadcast + ARP request whose sender and target are both ip."""
    hw = bytes.fromhex(mac.replace(":", ""))
    addr = ipaddress.IPv4Address(ip).packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, ARP_REQUEST, hw, addr, b"\0" * 6, addr)
    return BROADCAST + hw + struct.pack("!H", ETH_P_ARP) + arp


def link_mac(namespace: str, device: str) -> str:
    info = json.loads(run("ip", "-n", namespace, "-j", "link", "show", "dev", device))
    return info[0]["address"]


def announce(namespace: str, device: str, ips: set[str]) -> None:
    """Gratuitous ARP for each address from the device's MAC."""
    if not ips:
        return
    mac = link_mac(namespace, device)
    frames = [gratuitous_arp_frame(mac, ip) for ip in sorted(ips)]

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
            sock.bind((device, ETH_P_ARP))
            for _ in range(ANNOUNCEMENTS):
                for frame in frames:
                    sock.send(frame)

    try:
        call_in_namespace(namespace, send)
    except OSError as exc:
        # The address is in place; only the neighbours' caches lag behind.
        log.warning("gratuitous ARP for %s on %s in %s failed: %s", ", ".join(sorted(ips)),
                    device, namespace, exc)


def forget_connections(namespace: str, ips: set[str]) -> None:
    """End the conntrack entries translated for these elastic IPs: inbound
    flows to the address (DNAT) and outbound ones from it (SNAT)."""
    if not ips:
        return
    if shutil.which("conntrack") is None:
        log.info("conntrack is not installed: flows of moved elastic IPs %s run out by "
                 "themselves", ", ".join(sorted(ips)))
        return
    for ip in sorted(ips):
        for selector in ("--orig-dst", "--reply-dst"):
            try:
                in_namespace(namespace, "conntrack", "-D", selector, ip)
            except NetworkError as exc:
                if "0 flow entries" not in str(exc):  # exit 1 is also "nothing to delete"
                    log.warning("elastic IP %s moved; its old flows stay: %s", ip, exc)
    log.info("conntrack entries of elastic IP(s) %s removed in %s", ", ".join(sorted(ips)),
             namespace)
