"""The domain XML built from DomainSpec, parsed back element by element."""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from node_controller.hypervisor.domain import (
    DirectKernelBoot,
    DomainSpec,
    FileDisk,
    TapInterface,
    UserInterface,
    domain_xml,
)


def parse(spec: DomainSpec) -> ET.Element:
    return ET.fromstring(domain_xml(spec))


def full_spec(**overrides) -> DomainSpec:
    values = dict(
        name="i-0123456789abcdef0",
        uuid="0a6b9d39-4f4e-4a49-9d0e-3f0b4a9c2d11",
        vcpus=2,
        memory_mb=512,
        boot=DirectKernelBoot(Path("/var/lib/mallee/k"), Path("/var/lib/mallee/r"), "console=ttyS0 root=/dev/vda"),
        disks=(
            FileDisk(Path("/var/lib/mallee/i/root.qcow2"), "vda", serial="root"),
            FileDisk(Path("/var/lib/mallee/i/ephemeral0"), "vdb", format="raw"),
        ),
        interfaces=(TapInterface(mac="d0:0d:12:34:56:78", tap="vn-i0123"),),
        console_path=Path("/var/lib/mallee/i/console.log"),
        domain_type="qemu",
    )
    return DomainSpec(**(values | overrides))


def test_identity_and_size():
    root = parse(full_spec())
    assert root.tag == "domain" and root.get("type") == "qemu"
    assert root.findtext("name") == "i-0123456789abcdef0"
    assert root.findtext("uuid") == "0a6b9d39-4f4e-4a49-9d0e-3f0b4a9c2d11"
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "512"
    assert root.findtext("vcpu") == "2"


def test_direct_kernel_boot_on_pc_machine():
    os_el = parse(full_spec()).find("os")
    assert os_el.find("type").text == "hvm"
    assert os_el.find("type").get("machine") == "pc"
    assert os_el.findtext("kernel") == "/var/lib/mallee/k"
    assert os_el.findtext("initrd") == "/var/lib/mallee/r"
    assert os_el.findtext("cmdline") == "console=ttyS0 root=/dev/vda"
    assert os_el.find("boot") is None


def test_whole_disk_image_boots_from_disk():
    os_el = parse(full_spec(boot=None)).find("os")
    assert os_el.find("kernel") is None
    assert os_el.find("boot").get("dev") == "hd"


def test_acpi_so_the_guest_can_be_asked_to_power_off():
    root = parse(full_spec())
    assert root.find("features/acpi") is not None
    assert root.findtext("on_poweroff") == "destroy"
    assert root.findtext("on_reboot") == "restart"


def test_disks_are_virtio_files_with_format_and_serial():
    disks = parse(full_spec()).findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]
    assert all(d.find("target").get("bus") == "virtio" for d in disks)
    assert [d.find("driver").get("type") for d in disks] == ["qcow2", "raw"]
    assert disks[0].find("source").get("file") == "/var/lib/mallee/i/root.qcow2"
    assert disks[0].findtext("serial") == "root"
    assert disks[1].find("serial") is None


def test_read_only_disk():
    spec = full_spec(disks=(FileDisk(Path("/x.qcow2"), "vda", read_only=True),))
    assert parse(spec).find("devices/disk/readonly") is not None


def test_pre_created_tap_is_not_managed_by_libvirt():
    nic = parse(full_spec()).find("devices/interface")
    assert nic.get("type") == "ethernet"
    assert nic.find("target").get("dev") == "vn-i0123"
    assert nic.find("target").get("managed") == "no"
    assert nic.find("mac").get("address") == "d0:0d:12:34:56:78"
    assert nic.find("model").get("type") == "virtio"


def test_tap_for_br_int_turns_host_checksum_offload_off():
    """OVS's userspace datapath drops TCP whose checksum is left to the host
    (DESIGN.md "VPC on OVN"): a guest on br-int computes its own."""
    assert parse(full_spec()).find("devices/interface/driver") is None  # EDGE: as before
    tap = TapInterface(mac="d0:0d:12:34:56:78", tap="vn-i0123", checksum_offload=False)
    nic = parse(full_spec(interfaces=(tap,))).find("devices/interface")
    assert nic.get("type") == "ethernet" and nic.find("target").get("managed") == "no"
    host = nic.find("driver/host")
    assert host.get("csum") == "off" and host.get("tso4") == "off" and host.get("gso") == "off"


def test_user_mode_interface():
    nic = parse(full_spec(interfaces=(UserInterface(mac="52:54:00:00:00:01"),))).find("devices/interface")
    assert nic.get("type") == "user" and nic.find("target") is None


def test_no_interfaces():
    assert parse(full_spec(interfaces=())).find("devices/interface") is None


def test_serial_console_appends_to_a_file():
    serial = parse(full_spec()).find("devices/serial")
    assert serial.get("type") == "file"
    assert serial.find("source").get("path") == "/var/lib/mallee/i/console.log"
    assert serial.find("source").get("append") == "on"
    assert serial.find("target").get("port") == "0"


def test_values_are_escaped_not_templated():
    spec = full_spec(boot=DirectKernelBoot(Path("/k"), None, "a='b' <c> & \"d\""))
    assert parse(spec).find("os").findtext("cmdline") == "a='b' <c> & \"d\""


def test_domain_type_must_be_resolved_first():
    with pytest.raises(ValueError):
        domain_xml(full_spec(domain_type=None))


def test_fresh_uuid_per_spec():
    a = DomainSpec(name="a", vcpus=1, memory_mb=64)
    b = DomainSpec(name="a", vcpus=1, memory_mb=64)
    assert a.uuid != b.uuid
