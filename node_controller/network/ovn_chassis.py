"""A node's part of OVN in VPC mode (docs/vpc.md): its own ovsdb-server
(conf.db), ovs-vswitchd with the integration bridge br-int, and
ovn-controller, which turns the southbound database's logical flows into
br-int's OpenFlow rules. Run by Mallee itself, not by systemd, under the
cloud's state directory (run/ovs-<node>/, data/ovs-<node>/, log/ovs-<node>/).

- `start` is idempotent: it creates what is missing and keeps what runs.
- The chassis is configured in Open_vSwitch's external_ids (system-id = the
  node's name, ovn-remote = the SB socket, Geneve with ovn-encap-ip) and, where
  the host has no openvswitch kernel module, on OVS's userspace datapath
  (`datapath_type=netdev`, DESIGN.md "VPC on OVN").
- `stop` ends exactly the pids of our pid files, each checked to be ours (its
  command line names our pid file), as ovn_central does.
- vswitchd runs in the root namespace: br-int carries no address, so no guest
  address lives there; one chassis per host (br-int's internal device is named
  after the bridge).
- The outside bridge br-ex (same datapath type as br-int) is joined to the
  outside world by a veth: one end a port of br-ex, the other on
  [network] uplink_bridge in uplink_netns (the one-host outside namespace, or
  the root namespace), transmit checksum offload off on both. The chassis maps
  it as `ovn-bridge-mappings=mallee-outside:br-ex`, the physical network of
  every internet gateway's localnet port, so the CLC names it a gateway chassis
  and northd centralises the gateways' NAT here. `stop` removes the veth.

The NC plugs a guest's tap into br-int through `ovs-vsctl --db=<our socket>`
(`plug` / `unplug`), never through the host's default database.
"""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mallee.ovn_central import (SUN_PATH_MAX, OvnCentral, alive, ovs_tool, run_command,
                                running_pid, stop_pidfiles)
from mallee.ovn_names import OUTSIDE_NETWORK
from mallee.settings import Settings
from node_controller.network.commands import NetworkError, run
from node_controller.network.names import outside_peer_name, outside_port_name
from node_controller.network.namespace import link_exists, tx_checksum_off

VSWITCH_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
BINARIES = ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-vswitchd", "ovn-controller")
INTEGRATION_BRIDGE = "br-int"
OUTSIDE_BRIDGE = "br-ex"


class OvnChassisError(RuntimeError):
    """The node's OVS/OVN processes could not be started or a port not plugged."""


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None] + \
        ([VSWITCH_SCHEMA.name] if not VSWITCH_SCHEMA.exists() else [])


def kernel_datapath() -> bool:
    """True where the openvswitch kernel module is loaded or could be."""
    if Path("/sys/module/openvswitch").exists():
        return True
    try:
        return subprocess.run(["modprobe", "-n", "openvswitch"], capture_output=True,
                              timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def encap_ip(settings: Settings) -> str:
    """The node's tunnel end: its uplink address, or loopback on a one-host cloud."""
    address = settings.network.uplink_address
    return str(ipaddress.IPv4Interface(address).ip) if address else "127.0.0.1"


@dataclass(frozen=True)
class OvnChassis:
    node: str
    data: Path
    run: Path
    log: Path
    sb_remote: str
    encap_ip: str
    outside_netns: str = ""  # where the outside bridge is ("": the root namespace)
    outside_bridge: str = ""  # the outside world's bridge ("": no outside bridge)

    @classmethod
    def of(cls, settings: Settings) -> "OvnChassis":
        node = settings.nc.name
        n = settings.network
        return cls(node, settings.data_dir(f"ovs-{node}"), settings.run_dir / f"ovs-{node}",
                   settings.log_dir / f"ovs-{node}", OvnCentral.of(settings).sb.remote,
                   encap_ip(settings), n.uplink_netns, n.uplink_bridge)

    @property
    def outside_port(self) -> str:
        """The veth end that is br-ex's port (root namespace)."""
        return outside_port_name(self.node)

    @property
    def outside_peer(self) -> str:
        """Its other end, on the outside bridge (in outside_netns)."""
        return outside_peer_name(self.node)

    @property
    def db_file(self) -> Path:
        return self.data / "conf.db"

    @property
    def socket(self) -> Path:
        return self.run / "db.sock"

    @property
    def remote(self) -> str:
        return f"unix:{self.socket}"

    def pidfile(self, program: str) -> Path:
        return self.run / f"{program}.pid"

    @property
    def pidfiles(self) -> tuple[Path, ...]:
        """In the order to stop them: ovn-controller, vswitchd, the database."""
        return tuple(self.pidfile(p) for p in ("ovn-controller", "ovs-vswitchd", "ovsdb-server"))

    def _run(self, *argv: str, timeout: float = 30) -> str:
        return ovs_tool(argv, self.data, self.run, self.log, OvnChassisError, timeout)

    def vsctl(self, *args: str) -> str:
        return self._run("ovs-vsctl", f"--db={self.remote}", "--timeout=10", *args)

    def _daemon(self, program: str, *argv: str) -> None:
        if running_pid(self.pidfile(program)) is None:
            self._run(program, *argv, f"--pidfile={self.pidfile(program)}", "--detach",
                      "--no-chdir", f"--log-file={self.log / f'{program}.log'}")

    def start(self) -> None:
        missing = missing_binaries()
        if missing:
            raise OvnChassisError(f"Open vSwitch / OVN is not installed (missing "
                                  f"{', '.join(missing)}): run scripts/host-deps.sh as root")
        for directory in (self.data, self.run, self.log):
            directory.mkdir(parents=True, exist_ok=True)
        if len(str(self.run / "br-int.mgmt")) > SUN_PATH_MAX:
            raise OvnChassisError(f"{self.run}: too long for unix socket paths; "
                                  "use a shorter MALLEE_HOME")
        if not self.db_file.exists():
            self._run("ovsdb-tool", "create", str(self.db_file), str(VSWITCH_SCHEMA))
        self._daemon("ovsdb-server", str(self.db_file), f"--remote=punix:{self.socket}",
                     f"--unixctl={self.run / 'ovsdb-server.ctl'}")
        self.vsctl("--no-wait", "init")
        netdev = not kernel_datapath()
        ids = {"system-id": self.node, "ovn-remote": self.sb_remote,
               "ovn-encap-type": "geneve", "ovn-encap-ip": self.encap_ip,
               "hostname": self.node}
        if netdev:
            ids["ovn-bridge-datapath-type"] = "netdev"
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   *(f"external_ids:{k}={v}" for k, v in ids.items()))
        bridge = ["--no-wait", "--may-exist", "add-br", INTEGRATION_BRIDGE, "--", "set",
                  "Bridge", INTEGRATION_BRIDGE, "fail-mode=secure",
                  "other_config:disable-in-band=true"]
        if netdev:
            bridge.append("datapath_type=netdev")
        self.vsctl(*bridge)
        self._outside(netdev)
        self._daemon("ovs-vswitchd", self.remote,
                     f"--unixctl={self.run / 'ovs-vswitchd.ctl'}")
        self._daemon("ovn-controller", self.remote)

    def _outside(self, netdev: bool) -> None:
        """br-ex, its veth onto the outside world and the chassis' bridge mapping;
        without an outside bridge in the settings, no mapping (no gateway here)."""
        if not self.outside_bridge:
            self.vsctl("--no-wait", "remove", "Open_vSwitch", ".", "external_ids",
                       "ovn-bridge-mappings")
            return
        bridge = ["--no-wait", "--may-exist", "add-br", OUTSIDE_BRIDGE]
        if netdev:
            bridge += ["--", "set", "Bridge", OUTSIDE_BRIDGE, "datapath_type=netdev"]
        self.vsctl(*bridge)
        where = ["-n", self.outside_netns] if self.outside_netns else []
        try:
            if not link_exists(self.outside_port):
                if link_exists(self.outside_peer, self.outside_netns or None):
                    run("ip", *where, "link", "del", self.outside_peer)  # half made (a crash)
                run("ip", "link", "add", self.outside_port, "type", "veth", "peer", "name",
                    self.outside_peer, *(["netns", self.outside_netns]
                                         if self.outside_netns else []))
            # OVS's userspace datapath: checksums filled in (DESIGN.md "VPC on OVN")
            tx_checksum_off(self.outside_port)
            tx_checksum_off(self.outside_peer, self.outside_netns or None)
            run("ip", *where, "link", "set", self.outside_peer, "master", self.outside_bridge)
            run("ip", *where, "link", "set", self.outside_peer, "up")
            run("ip", "link", "set", self.outside_port, "up")
        except NetworkError as err:
            raise OvnChassisError(f"the outside bridge's veth: {err}") from None
        self.vsctl("--no-wait", "--may-exist", "add-port", OUTSIDE_BRIDGE, self.outside_port)
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   f"external_ids:ovn-bridge-mappings={OUTSIDE_NETWORK}:{OUTSIDE_BRIDGE}")

    def _remove_outside(self) -> None:
        """The veth (both ends go with the root one); br-ex's datapath went with vswitchd."""
        try:
            if link_exists(self.outside_port):
                run("ip", "link", "del", self.outside_port)
            if self.outside_netns and link_exists(self.outside_peer, self.outside_netns):
                run("ip", "-n", self.outside_netns, "link", "del", self.outside_peer)
        except NetworkError:
            pass  # the outside namespace went meanwhile, and the peer with it

    def running(self) -> dict[str, int]:
        return {p.name: pid for p in self.pidfiles if (pid := running_pid(p)) is not None}

    def stop(self, timeout: float = 10.0) -> list[int]:
        """End our processes. First each one's own exit: ovn-controller takes its
        chassis out of SB (a SIGTERM leaves the row, and the node would stay a
        gateway chassis), vswitchd removes its datapath and the bridges' devices
        (`exit --cleanup`, which a plain SIGTERM would leave); then SIGTERM and
        SIGKILL whatever still runs, as ovn_central does."""
        controller = running_pid(self.pidfile("ovn-controller"))
        if controller is not None:
            self._exit(controller, "ovn-appctl", self.run / f"ovn-controller.{controller}.ctl",
                       timeout)
        vswitchd = running_pid(self.pidfile("ovs-vswitchd"))
        if vswitchd is not None:
            self._exit(vswitchd, "ovs-appctl", self.run / "ovs-vswitchd.ctl", timeout,
                       "--cleanup")
        ended = stop_pidfiles(self.pidfiles, timeout)
        self._remove_outside()
        return ended

    def _exit(self, pid: int, appctl: str, ctl: Path, timeout: float, *args: str) -> None:
        """`<appctl> -t CTL exit ARGS`, then wait (bounded) for the process to end:
        both answer before they have done their cleanup."""
        try:
            self._run(appctl, "-t", str(ctl), "exit", *args, timeout=timeout)
        except (OvnChassisError, OSError, subprocess.TimeoutExpired):
            return  # SIGTERM next, then SIGKILL
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    # ---- the NC's plug: a guest's tap as a port of br-int -----------------------

    def plug(self, tap: str, port_name: str, mac: str) -> None:
        """Make `tap` (the guest's, opened by QEMU) a port of br-int bound to the
        logical switch port `port_name`; ovn-controller claims it for this chassis."""
        self.vsctl("--may-exist", "add-port", INTEGRATION_BRIDGE, tap, "--", "set",
                   "Interface", tap, f"external_ids:iface-id={port_name}",
                   f"external_ids:attached-mac={mac}", "external_ids:iface-status=active")

    def unplug(self, tap: str) -> None:
        self.vsctl("--if-exists", "del-port", INTEGRATION_BRIDGE, tap)

    def ports(self, bridge: str = INTEGRATION_BRIDGE) -> list[str]:
        return self.vsctl("list-ports", bridge).split()


def main(argv: list[str] | None = None) -> int:
    """`python -m node_controller.network.ovn_chassis start|stop|status` on a node's settings."""
    return run_command("node_controller.network.ovn_chassis", OvnChassis.of, OvnChassisError,
                       argv, lambda chassis: f"db {chassis.remote}")


if __name__ == "__main__":
    raise SystemExit(main())
