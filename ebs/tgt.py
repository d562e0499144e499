"""tgt, the Linux SCSI target Eucalyptus exports volumes with: the daemon the SC
starts and watches, and `tgtadm`, through which it is configured.

tgtd keeps no configuration: after it restarts, every target is gone. So the SC
never edits tgtd step by step and hopes; it states what must be exported
(`Target`s, from its database) and `reconcile` makes tgtd match, adding what is
missing and removing what is left over. The same call repairs a restarted tgtd,
a restarted SC and a half-done export.

tgtd ignores SIGTERM; it is stopped with `tgtadm --op delete --mode system`, or
by pid. QEMU's iSCSI initiator reconnects by itself, so a guest only stalls while
tgtd is away.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ebs.teardown import stop_tgtd

log = logging.getLogger(__name__)
START_SECONDS = 20.0  # tgtd answers in well under a second, unless the host is loaded


class TgtError(Exception):
    """tgtadm refused a change (its message says why)."""


@dataclass(frozen=True)
class Target:
    """One volume's target as it must be: LUN 1 is the volume's file; only the
    initiators in `acl` may log in, each with a CHAP account in `accounts`."""
    tid: int
    iqn: str
    backing: str
    accounts: dict[str, str] = field(default_factory=dict)  # CHAP user -> password
    acl: frozenset[str] = frozenset()                       # initiator IQNs


@dataclass
class Shown:
    """A target as tgtd reports it."""
    iqn: str
    luns: dict[int, str] = field(default_factory=dict)
    accounts: set[str] = field(default_factory=set)
    acl: set[str] = field(default_factory=set)


_TARGET = re.compile(r"^Target (\d+): (\S+)$")
_LUN = re.compile(r"^\s+LUN: (\d+)$")
_BACKING = re.compile(r"^\s+Backing store path: (.*)$")
_SECTION = re.compile(r"^    (Account|ACL) information:$")
_ITEM = re.compile(r"^        (\S+)$")


def parse_show(text: str) -> dict[int, Shown]:
    """`tgtadm --mode target --op show`, as targets by tid."""
    targets: dict[int, Shown] = {}
    current: Shown | None = None
    lun: int | None = None
    section = None
    for line in text.splitlines():
        if m := _TARGET.match(line):
            current = targets[int(m[1])] = Shown(m[2])
            lun, section = None, None
        elif current is None:
            continue
        elif m := _SECTION.match(line):
            section = m[1]
        elif section and (m := _ITEM.match(line)):
            (current.accounts if section == "Account" else current.acl).add(m[1])
        elif m := _LUN.match(line):
            lun, section = int(m[1]), None
        elif lun is not None and (m := _BACKING.match(line)):
            if m[1] != "None":  # LUN 0, the controller, has none
                current.luns[lun] = m[1]
        elif not line.startswith("        "):
            section = None
    return targets


class Tgt:
    """One tgtd (ours: its own control port) and the targets on it."""

    def __init__(self, portal: str, control_port: int, log_path: Path, prefix: str):
        self.portal = portal                # host:port tgtd listens on for iSCSI
        self.prefix = prefix                # IQN prefix of our targets; others are left be
        self.control_port = control_port
        self.log_path = log_path
        self._lock = asyncio.Lock()         # one reconcile or change at a time
        self._process: subprocess.Popen | None = None

    async def _adm(self, *args: str, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            "tgtadm", "-C", str(self.control_port), "--lld", "iscsi", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if check and proc.returncode != 0:
            raise TgtError(f"tgtadm {' '.join(a for a in args if a != '--password')}: "
                           f"{err.decode(errors='replace').strip()}")
        return out.decode(errors="replace")

    async def running(self) -> bool:
        try:
            await self._adm("--mode", "system", "--op", "show")
            return True
        except TgtError:
            return False

    async def ensure_running(self) -> bool:
        """Start tgtd when nothing answers on our control port; True if it was started
        (it then holds no targets). A tgtd left by an SC that was killed is kept: its
        targets still serve guests."""
        if await self.running():
            return False
        host, _, port = self.portal.rpartition(":")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            # Its own session: tgtd outlives an SC killed with -9, so guests keep their
            # disks while the SC restarts.
            self._process = subprocess.Popen(
                ["tgtd", "-f", "--iscsi", f"portal={host}:{port}",
                 "--control-port", str(self.control_port)],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if await self.running():
                log.info("tgtd started (pid %d, portal %s)", self._process.pid, self.portal)
                return True
            if self._process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        raise TgtError(f"tgtd did not start on {self.portal} (see {self.log_path})")

    @property
    def pid(self) -> int | None:
        """The pid of the tgtd this SC started, if it did."""
        return self._process.pid if self._process else None

    async def stop(self) -> None:
        """Stop our tgtd (tests); guests lose their disks."""
        await asyncio.to_thread(stop_tgtd, self.control_port)
        if self._process is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._process.wait), 5)
            except asyncio.TimeoutError:
                self._process.kill()
            self._process = None

    async def show(self) -> dict[int, Shown]:
        return parse_show(await self._adm("--mode", "target", "--op", "show"))

    @contextlib.asynccontextmanager
    async def quiesced(self, tid: int):
        """Target `tid` offline for the body (its initiators' commands wait and are
        retried: a guest stalls), then `ready` again. No reconcile runs meanwhile, so
        a target cannot appear under the body either. A target not exported: nothing
        to take offline."""
        async with self._lock:
            exported = tid in await self.show()
            if exported:
                await self._adm("--mode", "target", "--op", "update", "--tid", str(tid),
                                "--name", "state", "--value", "offline")
            try:
                yield exported
            finally:
                if exported:
                    await self._adm("--mode", "target", "--op", "update", "--tid", str(tid),
                                    "--name", "state", "--value", "ready")

    async def _accounts(self) -> set[str]:
        text = await self._adm("--mode", "account", "--op", "show")
        return {line.strip() for line in text.splitlines()[1:] if line.strip()}

    async def reconcile(self, wanted: list[Target]) -> None:
        """Make tgtd export exactly `wanted`: targets, LUNs, CHAP accounts and ACLs
        missing are added, those left over (from a failure, or an SC that died
        between steps) removed. Idempotent."""
        async with self._lock:
            await self._reconcile(wanted)

    async def _reconcile(self, wanted: list[Target]) -> None:
        shown = await self.show()
        accounts = await self._accounts()
        by_tid = {t.tid: t for t in wanted}
        for tid, have in shown.items():
            want = by_tid.get(tid)
            if want is None and not have.iqn.startswith(self.prefix + ":"):
                continue  # not ours
            if want is None or want.iqn != have.iqn or \
                    have.luns.get(1, want.backing) != want.backing:
                await self._adm("--mode", "target", "--op", "delete", "--force",
                                "--tid", str(tid))
                stale = have.accounts
            else:
                stale = have.accounts - set(want.accounts)
                for initiator in have.acl - want.acl:
                    await self._adm("--mode", "target", "--op", "unbind", "--tid", str(tid),
                                    "--initiator-name", initiator)
            for user in stale:  # deleting an account unbinds it from every target
                await self._adm("--mode", "account", "--op", "delete", "--user", user,
                                check=False)
                accounts.discard(user)
        shown = await self.show()
        for want in wanted:
            have = shown.get(want.tid)
            if have is None:
                await self._adm("--mode", "target", "--op", "new", "--tid", str(want.tid),
                                "--targetname", want.iqn)
                have = Shown(want.iqn)
            if 1 not in have.luns:
                # Writes reach the file's page cache only when tgtd acknowledges them
                # with O_SYNC: an acknowledged write is on disk.
                await self._adm("--mode", "logicalunit", "--op", "new", "--tid",
                                str(want.tid), "--lun", "1", "--backing-store", want.backing,
                                "--bsoflags", "sync")
            for user, password in want.accounts.items():
                if user not in accounts:
                    await self._adm("--mode", "account", "--op", "new", "--user", user,
                                    "--password", password)
                    accounts.add(user)
                if user not in have.accounts:
                    await self._adm("--mode", "account", "--op", "bind", "--tid",
                                    str(want.tid), "--user", user)
            for initiator in want.acl - have.acl:
                await self._adm("--mode", "target", "--op", "bind", "--tid", str(want.tid),
                                "--initiator-name", initiator)
        # Accounts bound to no target (an SC that died between account new and bind).
        bound = {u for t in wanted for u in t.accounts}
        for user in accounts - bound:
            if user.startswith("vol-"):  # ours; never an operator's own
                await self._adm("--mode", "account", "--op", "delete", "--user", user,
                                check=False)

