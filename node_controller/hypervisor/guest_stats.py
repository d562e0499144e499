"""Guests' cumulative counters: read from a libvirt domain, or made up by the
FakeDriver from a load model (deterministic, so tests can check the numbers).

Kept apart from libvirt_driver so that both run without libvirt-python: the
libvirt side only calls the domain object's methods (a fake one in tests).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from node_controller.hypervisor.protocol import GuestCounters


def libvirt_counters(domain) -> GuestCounters:
    """A running virDomain's counters: CPU time from info() (ns, all vCPUs),
    interfaceStats() summed over its NICs' host devices (the taps; rx is what the
    host received from the guest, so the guest's out), blockStats() over its disks."""
    cpu_ns = int(domain.info()[4])
    root = ET.fromstring(domain.XMLDesc(0))
    guest_in = guest_out = packets_in = packets_out = 0
    for target in root.findall("devices/interface/target"):
        dev = target.get("dev")
        if not dev:
            continue
        rx_bytes, rx_packets, _, _, tx_bytes, tx_packets, _, _ = domain.interfaceStats(dev)
        # The tap's view: what it received came from the guest (NetworkOut).
        guest_out += rx_bytes
        packets_out += rx_packets
        guest_in += tx_bytes
        packets_in += tx_packets
    read_bytes = write_bytes = read_ops = write_ops = 0
    for target in root.findall("devices/disk/target"):
        dev = target.get("dev")
        if not dev:
            continue
        rd_req, rd_bytes, wr_req, wr_bytes, _errs = domain.blockStats(dev)
        read_ops += rd_req
        read_bytes += rd_bytes
        write_ops += wr_req
        write_bytes += wr_bytes
    return GuestCounters(cpu_ns=cpu_ns, net_rx_bytes=guest_in, net_tx_bytes=guest_out,
                         net_rx_packets=packets_in, net_tx_packets=packets_out,
                         disk_read_bytes=read_bytes, disk_write_bytes=write_bytes,
                         disk_read_ops=read_ops, disk_write_ops=write_ops)


# The FakeDriver's guest at full load, per second of running time and per vCPU
# (scaled by the load): what a busy small web server might do.
FAKE_RATES = {"net_rx_bytes": 20_000, "net_tx_bytes": 40_000, "net_rx_packets": 40,
              "net_tx_packets": 50, "disk_read_bytes": 409_600, "disk_write_bytes": 204_800,
              "disk_read_ops": 100, "disk_write_ops": 50}


def fake_counters(running_seconds: float, vcpus: int, load: float) -> GuestCounters:
    """A FakeDriver guest that has run this long at this load (0..1 of each vCPU):
    CPU time = load x vCPUs x time, the rest at FAKE_RATES x load x vCPUs."""
    scale = running_seconds * vcpus * load
    return GuestCounters(cpu_ns=int(scale * 1e9),
                         **{k: int(rate * scale) for k, rate in FAKE_RATES.items()})
