"""The real hypervisor: libvirt, qemu:///system by default (any URI works,
including libvirt's in-process test:///default used by the contract tests).

All calls block; see protocol.py for how the NC runs them and for the
idempotency rules. One connection is shared by all threads (libvirt
connections are thread-safe) and reopened if the daemon went away.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import libvirt

from node_controller.hypervisor.domain import (
    DomainSpec,
    DomainType,
    IscsiDisk,
    disk_xml,
    domain_xml,
    owner_from_xml,
    disks_in,
)
from node_controller.hypervisor.guest_files import check_reachable, guest_paths
from node_controller.hypervisor.guest_stats import libvirt_counters
from node_controller.hypervisor.kvm_probe import probe_domain_type
from node_controller.hypervisor.protocol import (
    DomainExists,
    DomainNotFound,
    DomainState,
    DomainStatus,
    GuestCounters,
    HostInfo,
    HypervisorError,
    InvalidDomainState,
)

log = logging.getLogger(__name__)

# libvirt prints every error to stderr by default; ours become exceptions.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: DomainState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: DomainState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: DomainState.RUNNING,  # running, vCPUs idle
    libvirt.VIR_DOMAIN_PAUSED: DomainState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: DomainState.SHUTTING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: DomainState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: DomainState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: DomainState.SUSPENDED,
}

# Leave nothing behind: managed save images, snapshot/checkpoint metadata, UEFI vars.
_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)


class LibvirtDriver:
    def __init__(
        self,
        uri: str = "qemu:///system",
        domain_type: DomainType | None = None,
        kvm_probe_timeout: float = 10.0,
    ) -> None:
        """domain_type=None probes KVM on first use (QEMU URIs only); pass
        'kvm' or 'qemu' to skip the probe."""
        self.uri = uri
        self._domain_type = domain_type
        self._kvm_probe_timeout = kvm_probe_timeout
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()  # guards the connection
        self._probe_lock = threading.Lock()  # the probe takes seconds; others keep working

    # -- connection and host -------------------------------------------------

    @property
    def conn(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is None or not self._conn.isAlive():
                try:
                    self._conn = libvirt.open(self.uri)
                except libvirt.libvirtError as exc:
                    raise HypervisorError(f"cannot connect to libvirt at {self.uri}: {exc}") from exc
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

    @property
    def domain_type(self) -> DomainType:
        conn = self.conn
        with self._probe_lock:
            if self._domain_type is None:
                is_qemu = conn.getType() == "QEMU"
                self._domain_type = (
                    probe_domain_type(conn, self._kvm_probe_timeout) if is_qemu else "qemu"
                )
            return self._domain_type

    def host_info(self) -> HostInfo:
        conn = self.conn
        _model, memory_mb, cpus, *_ = conn.getInfo()
        hypervisor = self.domain_type if conn.getType() == "QEMU" else conn.getType().lower()
        return HostInfo(cores=cpus, memory_mb=memory_mb, hypervisor=hypervisor)

    # -- lifecycle -------------------------------------------------------------

    def define(self, spec: DomainSpec) -> None:
        if spec.domain_type is None:
            spec = dataclasses.replace(spec, domain_type=self.domain_type)
        if self.uri.startswith("qemu:///system"):  # QEMU runs as another user
            check_reachable(guest_paths(spec))
        try:
            self.conn.defineXML(domain_xml(spec))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_FAILED and "already" in str(exc):
                raise DomainExists(str(exc)) from exc
            raise HypervisorError(f"cannot define {spec.name!r}: {exc}") from exc

    def start(self, name: str, paused: bool = False) -> None:
        domain = self._lookup(name)

        def start_paused() -> None:
            # only drivers without START_PAUSED (libvirt's test driver) get here
            domain.create()
            domain.suspend()

        action = (
            _with_flags(lambda: domain.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED), start_paused)
            if paused
            else domain.create
        )
        _change_power(domain, name, want_active=True, action=action)

    def resume(self, name: str) -> None:
        domain = self._lookup(name)
        state = self._state_of(domain, name)
        if state == DomainState.RUNNING:
            return
        if state != DomainState.PAUSED:
            raise InvalidDomainState(f"domain {name!r} is {state}, not paused")
        with _translated(name):
            domain.resume()

    def shutdown(self, name: str) -> None:
        domain = self._lookup_or_none(name)
        if domain is None:
            return
        _change_power(
            domain,
            name,
            want_active=False,
            action=_with_flags(
                lambda: domain.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN), domain.shutdown
            ),
        )

    def destroy(self, name: str) -> None:
        domain = self._lookup_or_none(name)
        if domain is None:
            return
        with contextlib.suppress(DomainNotFound):  # a transient domain may vanish meanwhile
            _change_power(domain, name, want_active=False, action=domain.destroy)

    def undefine(self, name: str) -> None:
        domain = self._lookup_or_none(name)
        if domain is None:
            return
        with contextlib.suppress(DomainNotFound), _translated(name):
            if not domain.isPersistent():
                return  # already undefined, still running as a transient domain
            usages = _secret_usages(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            _with_flags(lambda: domain.undefineFlags(_UNDEFINE_FLAGS), domain.undefine)()
        for usage in usages:  # its volumes' CHAP secrets were its alone
            self.drop_secret(usage)

    def reboot(self, name: str, hard: bool = False) -> None:
        domain = self._lookup(name)
        with _translated(name):
            if not domain.isActive():
                raise InvalidDomainState(f"domain {name!r} is not running")
            if hard:
                domain.reset(0)
            else:
                _with_flags(lambda: domain.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN), domain.reboot)()

    # -- volumes ---------------------------------------------------------------

    def attach_disk(self, name: str, disk: IscsiDisk, password: str) -> None:
        domain = self._lookup(name)
        self.put_secret(disk.secret_usage, password)
        if disk.serial in self.disks(name):
            return
        with _translated(name):
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            if domain.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            try:
                domain.attachDeviceFlags(disk_xml(disk), flags)
            except libvirt.libvirtError:
                self.drop_secret(disk.secret_usage)
                raise

    def detach_disk(self, name: str, serial: str, timeout: float = 60.0) -> None:
        domain = self._lookup_or_none(name)
        if domain is None:
            return
        with _translated(name):
            live = domain.XMLDesc(0) if domain.isActive() else None
            config = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) \
                if domain.isPersistent() else None
        usage = None
        for xml, flag in ((live, libvirt.VIR_DOMAIN_AFFECT_LIVE),
                          (config, libvirt.VIR_DOMAIN_AFFECT_CONFIG)):
            element = _disk_by_serial(xml, serial) if xml else None
            if element is None:
                continue
            secret = element.find("auth/secret")
            usage = secret.get("usage") if secret is not None else usage
            with _translated(name):
                domain.detachDeviceFlags(ET.tostring(element, encoding="unicode"), flag)
        # The call returns when the guest was asked; the disk is gone when the guest
        # (ACPI hot-unplug) has let it go.
        deadline = time.monotonic() + timeout
        while live is not None and serial in self.disks(name):
            if time.monotonic() > deadline:
                raise HypervisorError(f"domain {name!r} did not release disk {serial} "
                                      f"within {timeout:.0f} s")
            time.sleep(0.2)
        if usage:
            self.drop_secret(usage)

    def guest_counters(self, names: list[str]) -> dict[str, GuestCounters]:
        found = {}
        for name in names:
            domain = self._lookup_or_none(name)
            if domain is None or not domain.isActive():
                continue
            try:
                found[name] = libvirt_counters(domain)
            except libvirt.libvirtError as exc:  # it stopped meanwhile: no sample this time
                log.debug("no counters for %s: %s", name, exc)
        return found

    def disks(self, name: str) -> dict[str, str]:
        domain = self._lookup_or_none(name)
        if domain is None:
            return {}
        with contextlib.suppress(DomainNotFound), _translated(name):
            return disks_in(domain.XMLDesc(0))
        return {}

    def put_secret(self, usage: str, password: str) -> None:
        """The iSCSI CHAP secret `usage`, private (libvirt never shows its value)."""
        with _translated(usage):
            try:
                secret = self.conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, usage)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_SECRET:
                    raise
                root = ET.Element("secret", ephemeral="no", private="yes")
                ET.SubElement(ET.SubElement(root, "usage", type="iscsi"), "target").text = usage
                secret = self.conn.secretDefineXML(ET.tostring(root, encoding="unicode"))
            secret.setValue(password.encode())

    def drop_secret(self, usage: str) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, usage).undefine()

    def secret_usages(self, prefix: str) -> list[str]:
        """Usage names of the iSCSI secrets starting with `prefix` (leftover checks)."""
        found = []
        with _translated("*"):
            for secret in self.conn.listAllSecrets(0):
                if secret.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_ISCSI and \
                        secret.usageID().startswith(prefix):
                    found.append(secret.usageID())
        return found

    # -- inspection ------------------------------------------------------------

    def list_domains(self) -> list[DomainStatus]:
        statuses = []
        with _translated("*"):
            domains = self.conn.listAllDomains(0)
        for domain in domains:
            try:
                statuses.append(self._status(domain))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise HypervisorError(str(exc)) from exc  # else: it vanished meanwhile
        return statuses

    def domain_state(self, name: str) -> DomainState:
        return self._state_of(self._lookup(name), name)

    def domain_owner(self, name: str) -> str | None:
        domain = self._lookup(name)
        with _translated(name):
            return owner_from_xml(domain.XMLDesc(0))

    # -- helpers -------------------------------------------------------------

    def _lookup_or_none(self, name: str) -> libvirt.virDomain | None:
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise HypervisorError(str(exc)) from exc

    def _lookup(self, name: str) -> libvirt.virDomain:
        domain = self._lookup_or_none(name)
        if domain is None:
            raise DomainNotFound(name)
        return domain

    @staticmethod
    def _state_of(domain: libvirt.virDomain, name: str) -> DomainState:
        with _translated(name):
            state, _reason = domain.state()
        return _STATES.get(state, DomainState.UNKNOWN)

    @staticmethod
    def _status(domain: libvirt.virDomain) -> DomainStatus:
        state, max_mem_kib, _mem, vcpus, _cpu_time = domain.info()
        return DomainStatus(
            name=domain.name(),
            uuid=domain.UUIDString(),
            state=_STATES.get(state, DomainState.UNKNOWN),
            vcpus=vcpus,
            memory_mb=max_mem_kib // 1024,
            persistent=bool(domain.isPersistent()),
        )


def _secret_usages(xml: str) -> list[str]:
    return [el.get("usage") for el in ET.fromstring(xml).findall("devices/disk/auth/secret")
            if el.get("usage")]


def _disk_by_serial(xml: str, serial: str) -> ET.Element | None:
    for disk in ET.fromstring(xml).findall("devices/disk"):
        if disk.findtext("serial") == serial:
            return disk
    return None


@contextlib.contextmanager
def _translated(name: str) -> Iterator[None]:
    """libvirt errors as the Protocol's exceptions."""
    try:
        yield
    except libvirt.libvirtError as exc:
        code = exc.get_error_code()
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            raise DomainNotFound(name) from exc
        if code == libvirt.VIR_ERR_OPERATION_INVALID:
            raise InvalidDomainState(f"domain {name!r}: {exc}") from exc
        raise HypervisorError(f"domain {name!r}: {exc}") from exc


def _change_power(
    domain: libvirt.virDomain, name: str, want_active: bool, action: Callable[[], object]
) -> None:
    """Run the call only if it changes something, and treat losing a race to
    another caller doing the same thing as success (retries are harmless)."""
    with _translated(name):
        if bool(domain.isActive()) == want_active:
            return
        try:
            action()
        except libvirt.libvirtError:
            # drivers disagree on the error code for "already running"; the
            # outcome is what counts
            if bool(domain.isActive()) == want_active:
                return
            raise


def _with_flags(flagged: Callable[[], object], plain: Callable[[], object]) -> Callable[[], None]:
    """Call with flags; fall back to the plain call on drivers that reject them."""

    def call() -> None:
        try:
            flagged()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
                raise
            plain()

    return call
