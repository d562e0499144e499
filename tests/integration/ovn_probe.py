"""A network namespace on a VPC subnet, as a test's window into OVN: a veth
whose outer end is a port of the node's br-int bound (iface-id) to a logical
switch port the test adds by hand (no mallee: tag, so the CLC's reconcile
leaves it alone), or to a port the CLC wrote (an instance's, with its port
security and groups: bench/network.py's data plane). From it a test pings and connects to guests as a neighbour
in the subnet would. Checksum offload is off on the veth (DESIGN.md "VPC on
OVN": OVS's userspace conntrack drops TCP with checksums left to fill in)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from cloud_controller.ovn.ports import port_name
from node_controller.network.namespace import tx_checksum_off
from node_controller.network.ovn_chassis import OvnChassis
from tests.ovn_nb import nbctl


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, f"{' '.join(argv)}: {out.stderr}"
    return out


@dataclass
class Probe:
    cloud: object
    name: str        # the namespace, the logical port and the veth's stem
    switch: str      # the subnet's logical switch
    mac: str
    address: str     # ip/prefix
    gateway: str
    port: str = ""   # an existing logical port to bind; "" adds one named `name`

    @property
    def outer(self) -> str:
        return f"{self.name}o"

    @property
    def logical_port(self) -> str:
        return self.port or self.name

    def start(self) -> "Probe":
        ip = self.address.split("/")[0]
        if not self.port:
            nbctl(self.cloud, "lsp-add", self.switch, self.name, "--", "lsp-set-addresses",
                  self.name, f"{self.mac} {ip}")
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "add", self.outer, "type", "veth", "peer", "name", "eth0",
           "netns", self.name)
        sh("ip", "-n", self.name, "link", "set", "eth0", "address", self.mac)
        tx_checksum_off("eth0", self.name)
        sh("ip", "-n", self.name, "link", "set", "eth0", "up")
        sh("ip", "link", "set", self.outer, "up")
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        sh("ip", "-n", self.name, "addr", "add", self.address, "dev", "eth0")
        sh("ip", "-n", self.name, "route", "add", "default", "via", self.gateway)
        OvnChassis.of(self.cloud.settings).plug(self.outer, self.logical_port, self.mac)
        return self

    def stop(self) -> None:
        OvnChassis.of(self.cloud.settings).unplug(self.outer)
        sh("ip", "netns", "del", self.name, check=False)
        sh("ip", "link", "del", self.outer, check=False)
        if not self.port:
            nbctl(self.cloud, "--if-exists", "lsp-del", self.name)

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A command inside the namespace."""
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, timeout=timeout)

    def ping(self, address: str, count: int = 1) -> bool:
        return sh("ip", "netns", "exec", self.name, "busybox", "ping", "-c", str(count), "-W", "1",
                  address, check=False).returncode == 0

    def neighbour_mac(self, address: str) -> str:
        out = sh("ip", "-n", self.name, "neigh", "show", address).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else ""

    def banner(self, address: str, port: int = 22) -> str:
        """The first line a TCP server at address:port sends ('' if none in 3 s)."""
        probe = (f"import socket; s = socket.create_connection(({address!r}, {port}), "
                 f"timeout=3); print(s.recv(64).decode(errors='replace').strip())")
        out = sh("ip", "netns", "exec", self.name, sys.executable, "-c", probe, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""


def instance_probe(cloud, ec2, image: str, subnet: dict, group: str, name: str) -> Probe:
    """An instance in `subnet` (with FakeDriver nodes: no guest) and a probe, not yet
    started, that stands in for it on its own logical port: its MAC and address, its
    port security, its group's ACLs."""
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 SubnetId=subnet["SubnetId"], SecurityGroupIds=[group])[
                                     "Instances"][0]
    nic = instance["NetworkInterfaces"][0]
    prefix = subnet["CidrBlock"].split("/")[1]
    gateway = subnet["CidrBlock"].rsplit(".", 1)[0] + ".1"
    return Probe(cloud, name, f"mallee-{subnet['SubnetId']}", nic["MacAddress"],
                 f"{nic['PrivateIpAddress']}/{prefix}", gateway,
                 port=port_name(nic["NetworkInterfaceId"]))
