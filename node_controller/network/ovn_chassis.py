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

The NC plugs a guest's tap into br-int through `ovs-vsctl --db=<our socket>`
(`plug` / `unplug`), never through the host's default database.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mallee.ovn_central import (SUN_PATH_MAX, OvnCentral, run_command, running_pid,
                                stop_pidfiles)
from mallee.settings import Settings

VSWITCH_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
BINARIES = ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-vswitchd", "ovn-controller")
INTEGRATION_BRIDGE = "br-int"


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

    @classmethod
    def of(cls, settings: Settings) -> "OvnChassis":
        node = settings.nc.name
        return cls(node, settings.data_dir(f"ovs-{node}"), settings.run_dir / f"ovs-{node}",
                   settings.log_dir / f"ovs-{node}", OvnCentral.of(settings).sb.remote,
                   encap_ip(settings))

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

    def _env(self) -> dict:
        # vswitchd's OpenFlow socket (br-int.mgmt) and every control socket land in our
        # run dir, where ovn-controller (23.03 rejects --unixctl) looks for them.
        return dict(os.environ, OVS_RUNDIR=str(self.run), OVN_RUNDIR=str(self.run),
                    OVS_LOGDIR=str(self.log), OVN_LOGDIR=str(self.log),
                    OVS_DBDIR=str(self.data))

    def _run(self, *argv: str, timeout: float = 30) -> str:
        proc = subprocess.run(argv, env=self._env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise OvnChassisError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout}")
        return proc.stdout

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
        self._daemon("ovs-vswitchd", self.remote,
                     f"--unixctl={self.run / 'ovs-vswitchd.ctl'}")
        self._daemon("ovn-controller", self.remote)

    def running(self) -> dict[str, int]:
        return {p.name: pid for p in self.pidfiles if (pid := running_pid(p)) is not None}

    def stop(self, timeout: float = 10.0) -> list[int]:
        """End our processes; vswitchd first removes its datapath and br-int's
        internal device (`exit --cleanup`), which a plain SIGTERM would leave."""
        if running_pid(self.pidfile("ovs-vswitchd")) is not None:
            try:
                self._run("ovs-appctl", "-t", str(self.run / "ovs-vswitchd.ctl"), "exit",
                          "--cleanup", timeout=timeout)
            except (OvnChassisError, subprocess.TimeoutExpired):
                pass  # SIGTERM below, then SIGKILL
        return stop_pidfiles(self.pidfiles, timeout)

    # ---- the NC's plug: a guest's tap as a port of br-int -----------------------

    def plug(self, tap: str, port_name: str, mac: str) -> None:
        """Make `tap` (the guest's, opened by QEMU) a port of br-int bound to the
        logical switch port `port_name`; ovn-controller claims it for this chassis."""
        self.vsctl("--may-exist", "add-port", INTEGRATION_BRIDGE, tap, "--", "set",
                   "Interface", tap, f"external_ids:iface-id={port_name}",
                   f"external_ids:attached-mac={mac}", "external_ids:iface-status=active")

    def unplug(self, tap: str) -> None:
        self.vsctl("--if-exists", "del-port", INTEGRATION_BRIDGE, tap)

    def ports(self) -> list[str]:
        return self.vsctl("list-ports", INTEGRATION_BRIDGE).split()


def main(argv: list[str] | None = None) -> int:
    """`python -m node_controller.network.ovn_chassis start|stop|status` on a node's settings."""
    return run_command("node_controller.network.ovn_chassis", OvnChassis.of, OvnChassisError,
                       argv, lambda chassis: f"db {chassis.remote}")


if __name__ == "__main__":
    raise SystemExit(main())
