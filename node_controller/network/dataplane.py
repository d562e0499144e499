"""One node's data plane, rebuilt from whole state on every change.

`DataPlane` is synchronous and thread-safe (the NC calls it off the event
loop). Its state is the last network view plus the local ports; every change
(apply_view, plug, unplug) re-renders all tables and replaces them
atomically (ipset swap, iptables-restore, one nft transaction), so a
restarted NC that calls ensure(), plug()s its running instances and applies
the saved view ends up exactly where it was, without cutting connections
(conntrack survives a table swap).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from mallee.files import write_json_atomic
from node_controller.hypervisor.guest_files import check_reachable
from node_controller.hypervisor.protocol import HypervisorError
from node_controller.network import cluster_link, elastic, firewall, names, namespace
from node_controller.network.cluster_link import ClusterLink
from node_controller.network.commands import NetworkError, in_namespace, run
from node_controller.network.dhcp import Dnsmasq
from node_controller.network.leftovers import Leftover, LeftoverTaps
from node_controller.network.port import Port
from node_controller.network.view import NetworkView, empty_view, parse_view

log = logging.getLogger(__name__)

LEFTOVER_RETRY_SECONDS = 2.0  # between background tries at a tap that would not go
LEFTOVER_RETRIES = 150  # about five minutes; then its address stays blocked (logged)


@dataclass(frozen=True)
class NetworkConfig:
    """The node's data plane; values come from settings (conf/defaults.toml)."""
    node: str
    subnet: str
    uplink_netns: str
    uplink_bridge: str
    uplink_address: str
    uplink_gateway: str
    dns_domain: str
    link: ClusterLink = ClusterLink()  # the cluster's shared L2 segment, if any

    @classmethod
    def from_settings(cls, settings) -> "NetworkConfig":
        """The node's data plane as mallee.settings describes it ([nc] name, [network])."""
        n = settings.network
        link = ClusterLink(mode=n.cluster_link,
                           netns=n.cluster_link_netns or names.cluster_namespace_name(settings.cc.name),
                           vxlan_id=n.vxlan_id, vxlan_port=n.vxlan_port, peers=n.vxlan_peers)
        return cls(node=settings.nc.name, subnet=n.private_subnet, uplink_netns=n.uplink_netns,
                   uplink_bridge=n.uplink_bridge, uplink_address=n.uplink_address,
                   uplink_gateway=n.uplink_gateway, dns_domain=n.dns_domain, link=link)

    @property
    def namespace(self) -> str:
        return names.namespace_name(self.node)

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.IPv4Network(self.subnet).hosts()))

    @property
    def gateway_cidr(self) -> str:
        return f"{self.gateway}/{ipaddress.IPv4Network(self.subnet).prefixlen}"

    @property
    def gateway_mac(self) -> str:
        return names.gateway_mac(str(ipaddress.IPv4Network(self.subnet)))

    @property
    def uplink_outer(self) -> str:
        return names.uplink_outer_name(self.node)


class DataPlane:
    def __init__(self, config: NetworkConfig, state_dir: Path):
        self.config = config
        self.state_dir = Path(state_dir)
        self.view_file = self.state_dir / "view.json"
        self.dhcp = Dnsmasq(config.namespace, self.state_dir, config.subnet, config.dns_domain,
                            mtu=config.link.guest_mtu)
        self.view: NetworkView = empty_view(config.subnet, config.gateway)
        self.ports: dict[str, Port] = {}
        self._elastic: dict[str, str] = {}  # public -> private IP, as the NAT table has it
        self._lock = threading.RLock()
        self._leftovers = LeftoverTaps(lambda tap: _remove_tap(tap, config.namespace, attempts=1),
                                       self._lock, lambda: LEFTOVER_RETRY_SECONDS,
                                       LEFTOVER_RETRIES)

    # -- building -------------------------------------------------------------
    def ensure(self) -> None:
        """Namespace, bridge, uplink, dnsmasq: made if missing, kept if present."""
        c = self.config
        with self._lock:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.state_dir.chmod(0o755)  # dnsmasq (as nobody) re-reads its hosts file here
            try:
                check_reachable([self.dhcp.hosts_file])
            except HypervisorError as exc:  # the same rule as QEMU's: o+x on every parent
                raise NetworkError(f"dnsmasq runs as nobody: {exc}") from None
            namespace.ensure_namespace(c.namespace)
            namespace.ensure_bridge(c.namespace, c.gateway_cidr, c.gateway_mac)
            namespace.ensure_uplink(c.namespace, c.uplink_outer, c.uplink_netns, c.uplink_bridge,
                                    c.uplink_address, c.uplink_gateway)
            # After the bridge's guard is in place (a restart) or before any
            # port is (a new node): the first _apply installs the guard.
            cluster_link.ensure(c.link, c.node, c.namespace, c.uplink_address)
            self.dhcp.ensure_running()

    def load_saved_view(self) -> NetworkView | None:
        """The last view given to this node, kept across NC restarts."""
        try:
            return parse_view(json.loads(self.view_file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, OSError) as exc:
            log.warning("ignoring saved network view %s: %s", self.view_file, exc)
            return None

    # -- changes --------------------------------------------------------------
    def apply_view(self, view: NetworkView, raw: dict | None = None) -> float:
        """Enforce a whole view; returns the seconds it took."""
        if ipaddress.IPv4Network(view.subnet) != ipaddress.IPv4Network(self.config.subnet):
            raise NetworkError(f"the view's subnet {view.subnet} is not this node's "
                               f"[network] private_subnet {self.config.subnet}")
        with self._lock:
            if raw is not None:
                write_json_atomic(self.view_file, raw, 0o600)
            self.view = view
            return self._apply()

    def rebuild(self, ports: list[Port], view: NetworkView | None) -> float:
        """After an NC restart: the guests that still run and the last view,
        applied once; their taps are normally still on the bridge."""
        with self._lock:
            self.ports.update({p.instance_id: p for p in ports})
            if view is not None:
                self.view = view
            seconds = self._apply()
            for port in ports:
                namespace.attach_tap(self.config.namespace, port.tap)
            return seconds

    def plug(self, port: Port) -> None:
        """Rules and lease first, then the tap onto the bridge: the guest's
        first frame already meets its anti-spoofing and group rules."""
        with self._lock:
            # One address, one port: port_by_ip (metadata: user data, keys) must never guess.
            live = next((p for p in self.ports.values() if p.private_ip == port.private_ip
                         and p.instance_id != port.instance_id), None)
            if live is not None:
                raise NetworkError(f"{port.private_ip} is still held by {live.instance_id}, "
                                   f"which is plugged")
            old = self._leftovers.holder(port.private_ip)
            if old is not None:
                raise NetworkError(f"{port.private_ip} is still held by {old.instance_id}, "
                                   f"whose tap {old.tap} has not gone yet")
            self.ports[port.instance_id] = port
            self._apply()
            namespace.attach_tap(self.config.namespace, port.tap)

    def unplug(self, instance_id: str) -> None:
        """The port's state goes first, whatever its tap does: a tap that
        will not go is retried in the background and blocks its address."""
        with self._lock:
            port = self.ports.pop(instance_id, None)
            if port is not None:
                self._apply()
            tap = names.tap_name(instance_id)
            try:
                _remove_tap(tap, self.config.namespace)
            except NetworkError as exc:
                log.warning("%s: %s; retrying in the background", instance_id, exc)
                self._leftovers.add(Leftover(instance_id, tap, port and port.private_ip))

    def leftover_taps(self) -> list[Leftover]:
        return self._leftovers.all()

    def effective_ports(self) -> list[Port]:
        """Local ports with the view's groups and public IP where it knows the instance."""
        out = []
        for port in self.ports.values():
            entry = self.view.instance(port.instance_id)
            if entry is not None:
                port = replace(port, groups=entry.groups, public_ip=entry.public_ip)
                if entry.metadata is not None:
                    port = replace(port, tokens_required=entry.metadata.tokens_required,
                                   hop_limit=entry.metadata.hop_limit)
            out.append(port)
        return sorted(out, key=lambda p: p.instance_id)

    def port_by_ip(self, ip: str) -> Port | None:
        with self._lock:
            return next((p for p in self.effective_ports() if p.private_ip == ip), None)

    def _apply(self) -> float:
        started = time.monotonic()
        c, view, ports = self.config, self.view, self.effective_ports()
        ns = c.namespace
        members = firewall.group_members(view, ports)
        in_namespace(ns, "ipset", "restore", input=firewall.render_ipsets(members))
        tables = (firewall.render_filter(view, ports, c.gateway, c.link)
                  + firewall.render_nat(ports, c.subnet, masquerade=bool(c.uplink_address)))
        in_namespace(ns, "iptables-restore", "-w", input=tables)
        guard = (c.gateway_mac, c.gateway) if c.link.enabled else None
        in_namespace(ns, "nft", "-f", "-", input=firewall.render_bridge_guard(ports, guard))
        self._destroy_stale_sets(set(members))
        elastic_ips = {p.public_ip: p.private_ip for p in ports if p.public_ip}
        added = namespace.set_public_addresses(ns, set(elastic_ips), c.uplink_address)
        elastic.announce(ns, names.UPLINK, added)
        # An address gone from this node, or now for another guest here.
        elastic.forget_connections(ns, {pub for pub, private in self._elastic.items()
                                        if elastic_ips.get(pub) != private})
        self._elastic = elastic_ips
        if self.dhcp.write_hosts(ports):
            self.dhcp.reload()
        return time.monotonic() - started

    def _destroy_stale_sets(self, groups: set[str]) -> None:
        wanted = {names.group_set(g) for g in groups}
        existing = in_namespace(self.config.namespace, "ipset", "list", "-n").split()
        stale = [s for s in existing if s.startswith(("g-sg-", "t-sg-")) and s not in wanted]
        if stale:  # iptables no longer refers to them: the new tables are in
            in_namespace(self.config.namespace, "ipset", "restore",
                         input="".join(f"destroy {s}\n" for s in stale))

    # -- ending ---------------------------------------------------------------
    def teardown(self) -> None:
        """Remove everything: namespace (its processes, taps, veth), saved state."""
        with self._lock:
            self.dhcp.stop()
            teardown_all(self.config.node, self.config.link)
            self.ports.clear()
            self._leftovers.forget()


def teardown_all(node: str, link: ClusterLink = ClusterLink()) -> None:
    """What `mallee down` calls: no namespace, rule, tap or process of this
    node's data plane is left (rules and sets live in the namespace), and the
    node leaves the cluster's segment (the last one removes it). Guests
    still running lose their network, so call it after stopping them."""
    cluster_link.remove(link, node, names.namespace_name(node))
    namespace.delete_namespace(names.namespace_name(node))
    outer = names.uplink_outer_name(node)
    if namespace.link_exists(outer):
        run("ip", "link", "del", outer, check=False)


def _remove_tap(tap: str, ns: str, attempts: int = 20) -> None:
    """Delete a guest's tap and make sure it is gone: on a loaded host the
    tap was once still there after its QEMU had been destroyed, so delete
    again until no namespace shows it (bounded), else say so."""
    error = None
    for _ in range(attempts):
        try:
            namespace.remove_link(tap, ns)
        except NetworkError as exc:
            error = exc
        if not namespace.link_exists(tap, ns) and not namespace.link_exists(tap):
            return
        time.sleep(0.1)
    raise NetworkError(f"tap {tap} is still there after {attempts} deletions"
                       + (f": {error}" if error else ""))
