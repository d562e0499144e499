"""The NC's view of a hypervisor: a small synchronous Protocol.

Methods block (libvirt calls do); the NC runs them off the event loop with
`await asyncio.to_thread(driver.start, name)`. Implementations are
thread-safe, so several calls may run at once.

Idempotency, so that a retried RPC is harmless: starting a running domain,
resuming a running one, shutting down or destroying a stopped or missing one,
and undefining a missing one all succeed without doing anything. Asking for
a domain that does not exist otherwise raises DomainNotFound.

Undefining a running domain follows libvirt: it keeps running as a transient
domain and disappears once it stops. The NC destroys before it undefines.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from node_controller.hypervisor.domain import DomainSpec, IscsiDisk


class DomainState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUTTING_DOWN = "shutting-down"  # ACPI shutdown asked for, guest not yet off
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    SUSPENDED = "suspended"  # guest-initiated power management sleep
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class HostInfo:
    cores: int
    memory_mb: int
    hypervisor: str  # domain type guests get: 'kvm' | 'qemu'; or 'fake' | 'test'


@dataclass(frozen=True)
class DomainStatus:
    name: str
    uuid: str
    state: DomainState
    vcpus: int
    memory_mb: int
    persistent: bool  # False once undefined while still running


@dataclass(frozen=True)
class GuestCounters:
    """A guest's cumulative counters since its domain started (libvirt's, or the
    FakeDriver's synthetic ones): what the NC samples for CloudWatch (docs/metrics.md)."""
    cpu_ns: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    net_rx_packets: int = 0
    net_tx_packets: int = 0
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    disk_read_ops: int = 0
    disk_write_ops: int = 0


class HypervisorError(Exception):
    """A hypervisor call failed; the message says why."""


class DomainNotFound(HypervisorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no domain named {name!r}")
        self.name = name


class DomainExists(HypervisorError):
    """Another domain (different uuid) already has this name."""


class InvalidDomainState(HypervisorError):
    """The call makes no sense in the domain's state (e.g. resuming a shut off domain)."""


@runtime_checkable
class Hypervisor(Protocol):
    def host_info(self) -> HostInfo: ...

    def define(self, spec: DomainSpec) -> None:
        """Create or update the persistent definition (same name and uuid: update)."""

    def start(self, name: str, paused: bool = False) -> None:
        """Boot a defined domain; paused=True leaves vCPUs stopped until resume()
        (the NC plugs the tap into its bridge in between)."""

    def resume(self, name: str) -> None: ...

    def shutdown(self, name: str) -> None:
        """Press the ACPI power button and return; the guest powers off in its own time."""

    def destroy(self, name: str) -> None:
        """Pull the plug at once."""

    def undefine(self, name: str) -> None: ...

    def reboot(self, name: str, hard: bool = False) -> None:
        """ACPI reboot (libvirt powers the guest back on after it shuts down);
        hard=True resets the machine at once."""

    def list_domains(self) -> list[DomainStatus]: ...

    def domain_state(self, name: str) -> DomainState: ...

    def domain_owner(self, name: str) -> str | None:
        """The DomainSpec.owner it was defined with (None: not recorded)."""

    def attach_disk(self, name: str, disk: IscsiDisk, password: str) -> None:
        """Hot-plug a volume into a running domain, and into its definition (so it
        stays through a reboot and an NC restart); the CHAP password goes into the
        libvirt secret `disk.secret_usage`. Attaching a disk already there (same
        serial) does nothing."""

    def detach_disk(self, name: str, serial: str, timeout: float = 60.0) -> None:
        """Hot-unplug the disk with this serial, from the live domain and its
        definition, and remove its secret; returns once the guest has let it go
        (the device is gone from the live domain), or raises HypervisorError after
        `timeout`. Detaching a disk that is not there does nothing."""

    def put_secret(self, usage: str, password: str) -> None:
        """Set the iSCSI CHAP secret `usage` (made private if new), for a volume that
        a domain about to be defined boots with; undefining the domain removes it."""

    def drop_secret(self, usage: str) -> None:
        """Remove the secret `usage`; one that is not there is fine."""

    def guest_counters(self, names: list[str]) -> dict[str, GuestCounters]:
        """The cumulative counters of those of the named domains that are running
        (one call for all: the NC samples every guest at once)."""

    def disks(self, name: str) -> dict[str, str]:
        """The domain's disks now (its live devices when running), serial -> target
        device; {} for a domain that does not exist."""
