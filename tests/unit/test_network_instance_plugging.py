"""InstanceManager wires a guest's NIC in the right order: fresh tap, define
with it, start paused, plug (rules, lease, tap onto the bridge), resume; and
without a private address (or a data plane) boots with no NIC as before."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import xml.etree.ElementTree as ET

from node_controller.hypervisor import DomainState, FakeDriver, TapInterface
from node_controller.hypervisor.domain import domain_xml
from node_controller.instances import InstanceManager
from node_controller.network.ovn_plug import nic_taps
from node_controller.resources import Capacity
from tests.unit.nc_fakes import StubCache


class RecordingNetwork:
    """Stands in for NodeNetwork (unit test): records calls and the domain state at plug."""
    enforcing = True

    def __init__(self, driver):
        self.driver, self.calls = driver, []

    async def create_tap(self, instance_id):
        self.calls.append(("create_tap", instance_id))
        return "vn" + instance_id[-13:]

    async def plug(self, spec):
        self.calls.append(("plug", spec["instance_id"],
                           self.driver.domain_state(spec["instance_id"])))

    async def unplug(self, instance_id):
        self.calls.append(("unplug", instance_id))


class RecordingOvn(RecordingNetwork):
    """Stands in for OvnPlug: one tap per NIC of the spec, named as OvnPlug names them."""

    async def create_taps(self, spec):
        self.calls.append(("create_taps", spec["instance_id"]))
        return [tap for tap, _ in nic_taps(spec)]


SPEC = {"instance_id": "i-0123456789abcdef0", "mac": "d0:0d:01:23:45:67", "cpu": 1,
        "memory_mb": 128, "disk_gb": 1, "instance_type": "m1.small",
        "image": {"image_id": "emi-1", "kind": "machine", "manifest_url": "http://127.0.0.1:1/m",
                  "part_urls": {}}, "kernel": None, "ramdisk": None}


@pytest.fixture
def base():
    directory = Path(tempfile.mkdtemp(prefix="mallee-unit-"))
    directory.chmod(0o755)
    path = directory / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


def run(base: Path, spec: dict, network_enforcing=True, with_ovn=False):
    async def scenario():
        driver = FakeDriver()
        network = RecordingNetwork(driver)
        network.enforcing = network_enforcing
        ovn = RecordingOvn(driver) if with_ovn else None  # stands in for OvnPlug
        manager = InstanceManager(driver, StubCache(base), base.parent / "instances",
                                  Capacity(4, 4096, 100), network, ovn=ovn)
        await manager.run(spec)
        await manager.instances[spec["instance_id"]].task
        domain = driver._get(spec["instance_id"])
        state = manager.instances[spec["instance_id"]].state
        await manager.terminate(spec["instance_id"])
        if with_ovn:
            run.xml = domain_xml(domain.spec)
            return (network.calls, ovn.calls), domain.spec.interfaces, state
        return network.calls, domain.spec.interfaces, state
    return asyncio.run(scenario())


def test_a_vpc_port_is_plugged_into_br_int_not_into_edge(base):
    """VPC mode: the spec names an OVN port and has no EDGE address; the OVN plug
    makes the tap and plugs it while the guest is paused, with host checksum
    offload off on the NIC; EDGE only gets the (harmless) unplug at the end."""
    spec = {**SPEC, "private_ip": None, "vpc_port": {
        "name": "mallee-eni-1", "mac": SPEC["mac"], "private_ip": "10.40.1.4",
        "subnet_id": "subnet-1"}}
    (edge, ovn), interfaces, state = run(base, spec, with_ovn=True)
    assert state == "running"
    assert interfaces == (TapInterface("d0:0d:01:23:45:67", "vn456789abcdef0",
                                       checksum_offload=False),)
    assert ovn == [("create_taps", SPEC["instance_id"]),
                   ("plug", SPEC["instance_id"], DomainState.PAUSED),
                   ("unplug", SPEC["instance_id"])]
    assert edge == [("unplug", SPEC["instance_id"])]


def test_every_network_interface_is_a_nic_in_device_index_order(base):
    """Several network interfaces (vpc_ports, listed out of order): one tap and one
    <interface> each, in device-index order, each with its own MAC and tap, host
    checksum offload off on all; the primary keeps the instance's tap name."""
    ports = [{"name": "mallee-eni-c", "mac": "d0:0d:00:00:00:03", "device_index": 2,
              "private_ip": "10.40.2.9", "secondary_ips": [], "subnet_id": "subnet-2"},
             {"name": "mallee-eni-a", "mac": SPEC["mac"], "device_index": 0,
              "private_ip": "10.40.1.4", "secondary_ips": ["10.40.1.5"],
              "subnet_id": "subnet-1"},
             {"name": "mallee-eni-b", "mac": "d0:0d:00:00:00:02", "device_index": 1,
              "private_ip": "10.40.1.6", "secondary_ips": [], "subnet_id": "subnet-1"}]
    spec = {**SPEC, "private_ip": None, "vpc_port": ports[1], "vpc_ports": ports}
    (edge, ovn), interfaces, state = run(base, spec, with_ovn=True)
    assert state == "running"
    assert interfaces == (
        TapInterface("d0:0d:01:23:45:67", "vn456789abcdef0", checksum_offload=False),
        TapInterface("d0:0d:00:00:00:02", "v1456789abcdef0", checksum_offload=False),
        TapInterface("d0:0d:00:00:00:03", "v2456789abcdef0", checksum_offload=False))
    nics = ET.fromstring(run.xml).findall("./devices/interface")
    assert [(n.get("type"), n.find("mac").get("address"), n.find("target").get("dev"),
             n.find("model").get("type"), n.find("driver/host").get("csum"))
            for n in nics] == [
        ("ethernet", "d0:0d:01:23:45:67", "vn456789abcdef0", "virtio", "off"),
        ("ethernet", "d0:0d:00:00:00:02", "v1456789abcdef0", "virtio", "off"),
        ("ethernet", "d0:0d:00:00:00:03", "v2456789abcdef0", "virtio", "off")]
    assert ovn[0] == ("create_taps", SPEC["instance_id"])
    assert ovn[1] == ("plug", SPEC["instance_id"], DomainState.PAUSED)


def test_wired_launch_order(base):
    calls, interfaces, state = run(base, {**SPEC, "private_ip": "10.64.0.5", "groups": ["sg-1"]})
    assert state == "running"
    assert interfaces == (TapInterface("d0:0d:01:23:45:67", "vn456789abcdef0"),)
    assert calls == [("create_tap", SPEC["instance_id"]),
                     ("plug", SPEC["instance_id"], DomainState.PAUSED),
                     ("unplug", SPEC["instance_id"])]


def test_no_address_or_no_data_plane_means_no_nic(base):
    for spec, enforcing in ((SPEC, True), ({**SPEC, "private_ip": "10.64.0.5"}, False)):
        calls, interfaces, state = run(base, spec, enforcing)
        assert state == "running" and interfaces == ()
        assert [c[0] for c in calls] == ["unplug"]
