"""OVN's central part for a cloud in VPC mode (docs/vpc.md): the northbound and
southbound OVSDB servers and ovn-northd, run by Mallee itself, not by systemd.

Everything lives in the cloud's own state directory: the databases in
data/ovn/, sockets, pid files and control sockets in run/ovn/, logs in
log/ovn/. `start` is idempotent (it creates what is missing and keeps what
runs); `stop` ends exactly the processes named by our pid files, each
checked to be the one we started (its command line names our pid file).
The binaries come from Debian's ovn-central and openvswitch-switch
(scripts/host-deps.sh).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mallee.settings import Settings

SCHEMAS = Path("/usr/share/ovn")
BINARIES = ("ovsdb-tool", "ovsdb-server", "ovn-nbctl", "ovn-sbctl", "ovn-northd")
SUN_PATH_MAX = 107  # a unix socket's path, less its NUL


class OvnCentralError(RuntimeError):
    """OVN's central processes could not be started (the message says why)."""


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None] + \
        [s.name for s in (SCHEMAS / "ovn-nb.ovsschema", SCHEMAS / "ovn-sb.ovsschema")
         if not s.exists()]


@dataclass(frozen=True)
class Database:
    """One OVSDB server: its file, schema, socket, pid file and log."""
    name: str  # "nb" or "sb"
    data: Path
    run: Path
    log: Path

    @property
    def file(self) -> Path:
        return self.data / f"ovn{self.name}_db.db"

    @property
    def schema(self) -> Path:
        return SCHEMAS / f"ovn-{self.name}.ovsschema"

    @property
    def socket(self) -> Path:
        return self.run / f"ovn{self.name}_db.sock"

    @property
    def pidfile(self) -> Path:
        return self.run / f"ovsdb-server-{self.name}.pid"

    @property
    def remote(self) -> str:
        return f"unix:{self.socket}"


@dataclass(frozen=True)
class OvnCentral:
    data: Path
    run: Path
    log: Path

    @classmethod
    def of(cls, settings: Settings) -> "OvnCentral":
        return cls(settings.data_dir("ovn"), settings.run_dir / "ovn", settings.log_dir / "ovn")

    @property
    def nb(self) -> Database:
        return Database("nb", self.data, self.run, self.log)

    @property
    def sb(self) -> Database:
        return Database("sb", self.data, self.run, self.log)

    @property
    def northd_pidfile(self) -> Path:
        return self.run / "ovn-northd.pid"

    @property
    def pidfiles(self) -> tuple[Path, ...]:
        """Every process of ours, in the order to stop them (northd first)."""
        return (self.northd_pidfile, self.sb.pidfile, self.nb.pidfile)

    def _run(self, *argv: str, timeout: float = 30) -> None:
        ovs_tool(argv, self.data, self.run, self.log, OvnCentralError, timeout)

    def start(self) -> None:
        """Create the databases if need be, start what is not running, initialize."""
        missing = missing_binaries()
        if missing:
            raise OvnCentralError(f"OVN is not installed (missing {', '.join(missing)}): "
                                  "run scripts/host-deps.sh as root")
        for directory in (self.data, self.run, self.log):
            directory.mkdir(parents=True, exist_ok=True)
        for db in (self.nb, self.sb):
            if len(str(db.socket)) > SUN_PATH_MAX:
                raise OvnCentralError(f"{db.socket}: too long for a unix socket path; "
                                      "use a shorter MALLEE_HOME")
            if not db.file.exists():
                self._run("ovsdb-tool", "create", str(db.file), str(db.schema))
            if running_pid(db.pidfile) is None:
                self._run("ovsdb-server", str(db.file), f"--remote=punix:{db.socket}",
                          f"--pidfile={db.pidfile}", "--detach", "--no-chdir",
                          f"--unixctl={self.run / f'ovsdb-server-{db.name}.ctl'}",
                          f"--log-file={self.log / f'ovsdb-server-{db.name}.log'}")
        self._run("ovn-nbctl", f"--db={self.nb.remote}", "--no-wait", "init")
        self._run("ovn-sbctl", f"--db={self.sb.remote}", "init")  # 23.03: no --no-wait
        if running_pid(self.northd_pidfile) is None:
            self._run("ovn-northd", f"--ovnnb-db={self.nb.remote}",
                      f"--ovnsb-db={self.sb.remote}", f"--pidfile={self.northd_pidfile}",
                      "--detach", "--no-chdir",
                      f"--unixctl={self.run / 'ovn-northd.ctl'}",
                      f"--log-file={self.log / 'ovn-northd.log'}")

    def running(self) -> dict[str, int]:
        """Our processes that run: pid file name -> pid."""
        return {p.name: pid for p in self.pidfiles if (pid := running_pid(p)) is not None}

    def stop(self, timeout: float = 10.0) -> list[int]:
        """End the processes our pid files name (SIGTERM, then SIGKILL); their pids."""
        return stop_pidfiles(self.pidfiles, timeout)


def ovs_tool(argv, data: Path, run: Path, log: Path, error: type[Exception],
             timeout: float = 30) -> str:
    """Run an OVS/OVN tool with its default control sockets, logs and databases
    in our own directories, never the host's /var/run/openvswitch or /var/run/ovn
    (ovn-controller, which rejects --unixctl in 23.03, finds vswitchd's sockets
    there too); its stdout, or `error` with what it said."""
    env = dict(os.environ, OVS_RUNDIR=str(run), OVN_RUNDIR=str(run), OVS_LOGDIR=str(log),
               OVN_LOGDIR=str(log), OVS_DBDIR=str(data), OVN_DBDIR=str(data))
    proc = subprocess.run(list(argv), env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise error(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout}")
    return proc.stdout


def stop_pidfiles(pidfiles, timeout: float = 10.0) -> list[int]:
    """End, in order, the processes these pid files name if each is ours (SIGTERM,
    then SIGKILL), and remove the files; the pids ended. The node's chassis
    (node_controller/network/ovn_chassis.py) stops its processes the same way."""
    ended = []
    for pidfile in pidfiles:
        pid = running_pid(pidfile)
        if pid is not None:
            _end(pid, timeout)
            ended.append(pid)
        pidfile.unlink(missing_ok=True)
    return ended


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running_pid(pidfile: Path) -> int | None:
    """The pid in `pidfile` if that process runs and is ours (its command line
    names this pid file, so a reused pid is never taken for it)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if f"--pidfile={pidfile}" in _cmdline(pid) else None


def alive(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _end(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_command(prog: str, make, error: type[Exception], argv: list[str] | None,
                socket_line) -> int:
    """`python -m PROG start|stop|status` for a set of OVS/OVN processes: `make(settings)`
    builds it (start, stop, running), `socket_line(it)` is the last line printed."""
    import argparse
    import sys

    from mallee import settings as settings_mod
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("action", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    processes = make(settings_mod.load())
    try:
        if args.action == "start":
            processes.start()
        elif args.action == "stop":
            processes.stop()
    except error as err:
        print(f"mallee: {err}", file=sys.stderr)
        return 1
    for name, pid in processes.running().items():
        print(f"{name} {pid}")
    print(socket_line(processes))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m mallee.ovn_central start|stop|status` on a cloud's settings."""
    return run_command("mallee.ovn_central", OvnCentral.of, OvnCentralError, argv,
                       lambda central: f"nb {central.nb.remote}")


if __name__ == "__main__":
    raise SystemExit(main())
