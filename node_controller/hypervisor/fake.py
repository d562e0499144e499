"""An in-memory hypervisor for tests and scale runs: libvirt's state rules, no guests.

Starting a domain writes console lines (the test image's boot marker by
default) to its console file, so everything above the driver - console
output, boot detection - can be tested without QEMU.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from node_controller.hypervisor.domain import DomainSpec, IscsiDisk
from node_controller.hypervisor.guest_stats import fake_counters
from node_controller.hypervisor.protocol import (
    DomainExists,
    DomainNotFound,
    DomainState,
    DomainStatus,
    GuestCounters,
    HostInfo,
    InvalidDomainState,
)

BOOT_MARKER = "MALLEE-TEST-BOOTED"


@dataclass
class _FakeDomain:
    spec: DomainSpec
    state: DomainState = DomainState.SHUTOFF
    persistent: bool = True
    booted: bool = False  # vCPUs have run since the last power on
    ran: float = 0.0  # seconds of running time since the last power on, until `since`
    since: float | None = None  # time.monotonic() it last began running; None: not running

    def running_seconds(self, now: float) -> float:
        return self.ran + (now - self.since if self.since is not None else 0.0)

    def set_running(self, running: bool, now: float) -> None:
        """Its vCPUs go (or stop): the running time the counters come from."""
        self.ran = self.running_seconds(now)
        self.since = now if running else None


class FakeDriver:
    def __init__(
        self,
        host: HostInfo = HostInfo(cores=64, memory_mb=256 * 1024, hypervisor="fake"),
        console_lines: tuple[str, ...] = (BOOT_MARKER,),
        honours_acpi: bool = True,
        boot_seconds: float = 0.0,
        guest_load: float = 0.25,
        clock=time.monotonic,
    ) -> None:
        self._host = host
        self._console_lines = console_lines
        self._honours_acpi = honours_acpi  # False: a guest that ignores the power button
        # How long a power-on takes before the call returns (libvirt's create blocks
        # while QEMU starts; simulated clouds model a launch's time with it). The wait
        # holds no lock: other domains' calls and list_domains go on meanwhile.
        self.boot_seconds = boot_seconds
        self._domains: dict[str, _FakeDomain] = {}
        # Each guest keeps its vCPUs this busy (0..1); counters: guest_stats.fake_counters.
        self.guest_load = guest_load
        self._clock = clock
        self.secrets: dict[str, str] = {}  # libvirt's secrets: usage -> value
        self._lock = threading.Lock()

    def host_info(self) -> HostInfo:
        return self._host

    def define(self, spec: DomainSpec) -> None:
        with self._lock:
            for other in self._domains.values():
                same_name = other.spec.name == spec.name
                if same_name != (other.spec.uuid == spec.uuid):
                    raise DomainExists(
                        f"domain {other.spec.name!r} ({other.spec.uuid}) clashes with "
                        f"{spec.name!r} ({spec.uuid})"
                    )
            existing = self._domains.get(spec.name)
            if existing is None:
                self._domains[spec.name] = _FakeDomain(spec=replace(spec, domain_type="qemu"))
            else:
                existing.spec = replace(spec, domain_type="qemu")
                existing.persistent = True

    def start(self, name: str, paused: bool = False) -> None:
        if not paused and self.domain_state(name) == DomainState.SHUTOFF:
            self._wait_boot()
        with self._lock:
            domain = self._get(name)
            if domain.state != DomainState.SHUTOFF:
                return
            domain.booted = False
            domain.ran, domain.since = 0.0, None  # a new power-on: counters start at 0
            domain.state = DomainState.PAUSED if paused else DomainState.RUNNING
            if not paused:
                domain.set_running(True, self._clock())
                self._boot(domain)

    def resume(self, name: str) -> None:
        with self._lock:
            domain = self._get(name)
            unbooted = domain.state == DomainState.PAUSED and not domain.booted
        if unbooted:
            self._wait_boot()
        with self._lock:
            domain = self._get(name)
            if domain.state == DomainState.RUNNING:
                return
            if domain.state != DomainState.PAUSED:
                raise InvalidDomainState(f"domain {name!r} is {domain.state}, not paused")
            domain.state = DomainState.RUNNING
            domain.set_running(True, self._clock())
            if not domain.booted:
                self._boot(domain)

    def shutdown(self, name: str) -> None:
        with self._lock:
            domain = self._domains.get(name)
            if domain is None or domain.state == DomainState.SHUTOFF:
                return
            if self._honours_acpi and domain.state == DomainState.RUNNING:
                self._power_off(domain)

    def destroy(self, name: str) -> None:
        with self._lock:
            domain = self._domains.get(name)
            if domain is not None and domain.state != DomainState.SHUTOFF:
                self._power_off(domain)

    def undefine(self, name: str) -> None:
        with self._lock:
            domain = self._domains.get(name)
            if domain is None:
                return
            for disk in domain.spec.disks:  # its volumes' CHAP secrets were its alone
                if isinstance(disk, IscsiDisk):
                    self.secrets.pop(disk.secret_usage, None)
            if domain.state == DomainState.SHUTOFF:
                del self._domains[name]
            else:
                domain.persistent = False

    def reboot(self, name: str, hard: bool = False) -> None:
        with self._lock:
            domain = self._get(name)
            if domain.state not in (DomainState.RUNNING, DomainState.PAUSED):
                raise InvalidDomainState(f"domain {name!r} is {domain.state}, not running")
            if hard or self._honours_acpi:
                domain.booted = False
                if domain.state == DomainState.RUNNING:
                    self._boot(domain)

    def list_domains(self) -> list[DomainStatus]:
        with self._lock:
            return [self._status(domain) for domain in self._domains.values()]

    def domain_state(self, name: str) -> DomainState:
        with self._lock:
            return self._get(name).state

    def domain_owner(self, name: str) -> str | None:
        with self._lock:
            return self._get(name).spec.owner

    def attach_disk(self, name: str, disk: IscsiDisk, password: str) -> None:
        with self._lock:
            domain = self._get(name)
            if disk.serial not in {getattr(d, "serial", None) for d in domain.spec.disks}:
                domain.spec = replace(domain.spec, disks=domain.spec.disks + (disk,))
            self.secrets[disk.secret_usage] = password

    def detach_disk(self, name: str, serial: str, timeout: float = 60.0) -> None:
        with self._lock:
            domain = self._domains.get(name)
            if domain is None:
                return
            for disk in domain.spec.disks:
                if isinstance(disk, IscsiDisk) and disk.serial == serial:
                    self.secrets.pop(disk.secret_usage, None)
            domain.spec = replace(domain.spec, disks=tuple(
                d for d in domain.spec.disks if getattr(d, "serial", None) != serial))

    def put_secret(self, usage: str, password: str) -> None:
        with self._lock:
            self.secrets[usage] = password

    def drop_secret(self, usage: str) -> None:
        with self._lock:
            self.secrets.pop(usage, None)

    def guest_counters(self, names: list[str]) -> dict[str, GuestCounters]:
        with self._lock:
            now = self._clock()
            return {name: fake_counters(d.running_seconds(now), d.spec.vcpus, self.guest_load)
                    for name in names
                    if (d := self._domains.get(name)) is not None
                    and d.state in (DomainState.RUNNING, DomainState.PAUSED)}

    def disks(self, name: str) -> dict[str, str]:
        with self._lock:
            domain = self._domains.get(name)
            return {d.serial: d.target_dev for d in domain.spec.disks if d.serial} \
                if domain else {}

    def _wait_boot(self) -> None:
        if self.boot_seconds > 0:
            time.sleep(self.boot_seconds)

    def _get(self, name: str) -> _FakeDomain:
        try:
            return self._domains[name]
        except KeyError:
            raise DomainNotFound(name) from None

    def _boot(self, domain: _FakeDomain) -> None:
        domain.booted = True
        if domain.spec.console_path is not None and self._console_lines:
            _append_lines(domain.spec.console_path, self._console_lines)

    def _power_off(self, domain: _FakeDomain) -> None:
        domain.set_running(False, self._clock())
        domain.state = DomainState.SHUTOFF
        if not domain.persistent:
            del self._domains[domain.spec.name]

    @staticmethod
    def _status(domain: _FakeDomain) -> DomainStatus:
        spec = domain.spec
        return DomainStatus(
            name=spec.name,
            uuid=spec.uuid,
            state=domain.state,
            vcpus=spec.vcpus,
            memory_mb=spec.memory_mb,
            persistent=domain.persistent,
        )


def _append_lines(path: Path, lines: tuple[str, ...]) -> None:
    with open(path, "a", encoding="utf-8") as console:
        console.write("".join(f"{line}\r\n" for line in lines))
