"""The NC's hypervisor layer: a Protocol, domain specs, and its drivers.

LibvirtDriver is imported from its own module (libvirt_driver) so that code
using only FakeDriver does not need libvirt-python installed.
"""
from node_controller.hypervisor.console import read_console_tail
from node_controller.hypervisor.domain import (
    DirectKernelBoot,
    DomainSpec,
    FileDisk,
    IscsiDisk,
    TapInterface,
    UserInterface,
    domain_xml,
    volume_serial,
)
from node_controller.hypervisor.fake import BOOT_MARKER, FakeDriver
from node_controller.hypervisor.protocol import (
    DomainExists,
    DomainNotFound,
    DomainState,
    DomainStatus,
    HostInfo,
    Hypervisor,
    HypervisorError,
    InvalidDomainState,
)

__all__ = [
    "BOOT_MARKER",
    "DirectKernelBoot",
    "DomainExists",
    "DomainNotFound",
    "DomainSpec",
    "DomainState",
    "DomainStatus",
    "FakeDriver",
    "FileDisk",
    "HostInfo",
    "IscsiDisk",
    "Hypervisor",
    "HypervisorError",
    "InvalidDomainState",
    "TapInterface",
    "UserInterface",
    "domain_xml",
    "volume_serial",
    "read_console_tail",
]
