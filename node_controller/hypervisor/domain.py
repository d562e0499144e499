"""What a guest is made of, as plain data, and its libvirt domain XML.

The NC fills a DomainSpec from the instance's VM type and image; only
`domain_xml` knows libvirt's schema. XML is built with ElementTree from these
dataclasses (never from string templates) so every value is escaped and the
structure is checked by construction.
"""
from __future__ import annotations

import uuid as uuid_module
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DomainType = Literal["kvm", "qemu"]
OWNER_NS = "https://mallee.dev/ns/owner/1"  # <metadata> element naming the NC that made it


@dataclass(frozen=True)
class DirectKernelBoot:
    """Boot a kernel and ramdisk from host files (the EC2 aki/ari model).

    Never overwrite these files while a domain uses them: QEMU re-reads them
    on every reset.
    """
    kernel: Path
    initrd: Path | None = None
    cmdline: str = ""


@dataclass(frozen=True)
class FileDisk:
    """A disk backed by a host file: qcow2 overlays, sparse raw ephemeral/swap."""
    path: Path
    target_dev: str  # vda, vdb...; QEMU names guest disks in PCI order, not by this
    format: Literal["qcow2", "raw"] = "qcow2"
    serial: str | None = None  # what the guest sees in /sys/block/vdX/serial
    read_only: bool = False
    cache: str = "none"  # no host page cache: predictable I/O, safe for live changes


@dataclass(frozen=True)
class IscsiDisk:
    """An EBS volume: a LUN on the SC's tgtd, reached by QEMU's own iSCSI client
    (it reconnects and retries by itself, so an SC or tgtd restart only stalls the
    guest). The CHAP password is a libvirt secret named by `secret_usage`, set
    through the API, never written in XML or on a command line."""
    host: str
    port: int
    iqn: str
    lun: int
    initiator: str       # this node's initiator IQN: the target's ACL names it
    chap_user: str
    secret_usage: str    # the libvirt secret (usage type iscsi) holding the password
    serial: str          # volume_serial(volume id): the guest finds the disk by it
    target_dev: str      # vdb...; the guest names disks in PCI order, not by this


def volume_serial(volume_id: str) -> str:
    """The serial a guest sees for a volume: its id without the dash, as EC2's
    Nitro instances show it (vol0123...); virtio-blk keeps only 20 bytes, one
    fewer than a long volume id has."""
    return volume_id.replace("-", "", 1)[:20]


@dataclass(frozen=True)
class UserInterface:
    """QEMU user-mode (slirp) NIC: no host setup, for development only."""
    mac: str
    model: str = "virtio"


@dataclass(frozen=True)
class TapInterface:
    """A tap the NC created beforehand (EDGE networking); libvirt must not touch it."""
    mac: str
    tap: str
    model: str = "virtio"
    # False: the guest fills in its own checksums (virtio-net host side csum off), as
    # OVS's userspace datapath needs for a guest on br-int (DESIGN.md "VPC on OVN")
    checksum_offload: bool = True


Interface = UserInterface | TapInterface


@dataclass(frozen=True)
class DomainSpec:
    name: str
    vcpus: int
    memory_mb: int
    uuid: str = field(default_factory=lambda: str(uuid_module.uuid4()))
    boot: DirectKernelBoot | None = None  # None: boot the first disk through the BIOS
    disks: tuple[FileDisk | IscsiDisk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    console_path: Path | None = None  # serial console (ttyS0) written to this file
    domain_type: DomainType | None = None  # None: the driver picks (KVM if it works)
    machine: str = "pc"  # i440fx: ACPI hot-plug of disks, nothing needed in the guest
    arch: str = "x86_64"
    # Which NC made it (its instance root): a restarted NC removes only its
    # own domains that have no spec, never another NC's on the same libvirtd.
    owner: str | None = None


def domain_xml(spec: DomainSpec) -> str:
    if spec.domain_type is None:
        raise ValueError("domain_type must be resolved by the driver before building XML")
    root = ET.Element("domain", type=spec.domain_type)
    _text(root, "name", spec.name)
    _text(root, "uuid", spec.uuid)
    _text(root, "memory", str(spec.memory_mb), unit="MiB")
    _text(root, "vcpu", str(spec.vcpus))
    if spec.owner is not None:
        metadata = ET.SubElement(root, "metadata")
        ET.SubElement(metadata, f"{{{OWNER_NS}}}owner", path=spec.owner)
    root.append(_os_element(spec))
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")  # the guest can be asked to power off
    ET.SubElement(features, "apic")
    _text(root, "on_poweroff", "destroy")
    _text(root, "on_reboot", "restart")
    _text(root, "on_crash", "destroy")
    devices = ET.SubElement(root, "devices")
    devices.extend(_disk_element(disk) for disk in spec.disks)
    devices.extend(_interface_element(nic) for nic in spec.interfaces)
    if spec.console_path is not None:
        devices.append(_serial_element(spec.console_path))
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(root, encoding="unicode")


def owner_from_xml(xml: str) -> str | None:
    """The owner domain_xml recorded, from libvirt's XML of the domain."""
    element = ET.fromstring(xml).find(f"metadata/{{{OWNER_NS}}}owner")
    return None if element is None else element.get("path")


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def _os_element(spec: DomainSpec) -> ET.Element:
    os_el = ET.Element("os")
    _text(os_el, "type", "hvm", arch=spec.arch, machine=spec.machine)
    if spec.boot is not None:
        _text(os_el, "kernel", str(spec.boot.kernel))
        if spec.boot.initrd is not None:
            _text(os_el, "initrd", str(spec.boot.initrd))
        if spec.boot.cmdline:
            _text(os_el, "cmdline", spec.boot.cmdline)
    else:
        ET.SubElement(os_el, "boot", dev="hd")
    return os_el


def disk_xml(disk: FileDisk | IscsiDisk) -> str:
    """One <disk> element, for hot attach and detach."""
    return ET.tostring(_disk_element(disk), encoding="unicode")


def _disk_element(disk: FileDisk | IscsiDisk) -> ET.Element:
    if isinstance(disk, IscsiDisk):
        return _iscsi_element(disk)
    element = ET.Element("disk", type="file", device="disk")
    ET.SubElement(element, "driver", name="qemu", type=disk.format, cache=disk.cache)
    ET.SubElement(element, "source", file=str(disk.path))
    ET.SubElement(element, "target", dev=disk.target_dev, bus="virtio")
    if disk.serial:
        _text(element, "serial", disk.serial)
    if disk.read_only:
        ET.SubElement(element, "readonly")
    return element


def _iscsi_element(disk: IscsiDisk) -> ET.Element:
    element = ET.Element("disk", type="network", device="disk")
    # cache=none: every write the guest is told is done went to the target, which
    # writes O_SYNC; io errors stop the guest's I/O rather than fail it while the
    # target is away (QEMU reconnects), as a real disk's controller retries.
    ET.SubElement(element, "driver", name="qemu", type="raw", cache="none")
    auth = ET.SubElement(element, "auth", username=disk.chap_user)
    ET.SubElement(auth, "secret", type="iscsi", usage=disk.secret_usage)
    source = ET.SubElement(element, "source", protocol="iscsi", name=f"{disk.iqn}/{disk.lun}")
    ET.SubElement(source, "host", name=disk.host, port=str(disk.port))
    initiator = ET.SubElement(source, "initiator")
    ET.SubElement(initiator, "iqn", name=disk.initiator)
    ET.SubElement(element, "target", dev=disk.target_dev, bus="virtio")
    _text(element, "serial", disk.serial)
    return element


def disks_in(xml: str) -> dict[str, str]:
    """A domain's disks that have a serial, from libvirt's XML of it: serial -> the
    target device libvirt names it by."""
    found = {}
    for disk in ET.fromstring(xml).findall("devices/disk"):
        serial, target = disk.findtext("serial"), disk.find("target")
        if serial and target is not None:
            found[serial] = target.get("dev")
    return found


def _interface_element(nic: Interface) -> ET.Element:
    match nic:
        case UserInterface():
            element = ET.Element("interface", type="user")
        case TapInterface():
            element = ET.Element("interface", type="ethernet")
            ET.SubElement(element, "target", dev=nic.tap, managed="no")
        case _:
            raise TypeError(f"unknown interface {nic!r}")
    ET.SubElement(element, "mac", address=nic.mac)
    ET.SubElement(element, "model", type=nic.model)
    if isinstance(nic, TapInterface) and not nic.checksum_offload:
        driver = ET.SubElement(element, "driver")
        ET.SubElement(driver, "host", csum="off", gso="off", tso4="off", tso6="off",
                      ecn="off", ufo="off")
    return element


def _serial_element(path: Path) -> ET.Element:
    element = ET.Element("serial", type="file")
    # append: a reboot must not wipe what the guest printed before it, and
    # O_APPEND lets the NC empty the log while QEMU (or virtlogd) writes it
    ET.SubElement(element, "source", path=str(path), append="on")
    ET.SubElement(element, "target", port="0")
    return element
