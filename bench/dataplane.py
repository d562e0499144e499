"""Data-plane measures between network namespaces (bench/network.py): TCP
throughput (iperf3), TCP round-trip latency, and the time from an API reply to
the first TCP connection it allows. The namespaces stand in for guests: on OVN
they are bound to the instances' own logical ports (tests/integration/ovn_probe.py),
on the peer they hang on a plain Linux bridge. Every process started here is
bounded in time and waited for."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

IPERF_PORT = 5201
ECHO_PORT = 7000

_ECHO_SERVER = """
import socket, sys, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(64); srv.settimeout(1)
end = time.monotonic() + float(sys.argv[2])
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); c.settimeout(5)
    try:
        while (b := c.recv(64)):
            c.sendall(b)
    except OSError:
        pass
    c.close()
print("listening", flush=True)
while time.monotonic() < end:
    try:
        threading.Thread(target=echo, args=(srv.accept()[0],), daemon=True).start()
    except socket.timeout:
        pass
"""

_ROUND_TRIPS = """
import socket, statistics, sys, time
address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((address, port), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(count):
    t = time.perf_counter(); s.sendall(b"x"); s.recv(1); rtts.append(time.perf_counter() - t)
print(statistics.median(rtts) * 1e6)
"""

# Waits for a line on stdin (sent just after the API call is answered), then tries
# new connections every few ms until one is accepted: ms from the line, or -1.
_FIRST_CONNECTION = """
import socket, sys, time
address, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True); sys.stdin.readline()
start = time.perf_counter()
while time.perf_counter() - start < limit:
    s = socket.socket(); s.settimeout(0.003)
    try:
        s.connect((address, port)); print((time.perf_counter() - start) * 1000); break
    except OSError:
        pass
    finally:
        s.close()
else:
    print(-1)
"""


def in_namespace(namespace: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]


def throughput_gbit(client: str, server: str, address: str, seconds: float) -> float:
    """iperf3's received rate from `client` to `server`'s `address`, in Gbit/s."""
    daemon = subprocess.Popen(in_namespace(server, "iperf3", "-s", "-1", "-p", str(IPERF_PORT)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # its listener is up within a few hundred ms
            out = subprocess.run(in_namespace(client, "iperf3", "-c", address, "-p",
                                              str(IPERF_PORT), "-t", str(seconds), "-J"),
                                 capture_output=True, text=True, timeout=seconds + 30)
            report = json.loads(out.stdout or "{}")
            if out.returncode == 0 and "sum_received" in report.get("end", {}):
                return report["end"]["sum_received"]["bits_per_second"] / 1e9
            if "connect" not in report.get("error", "connect"):  # not merely too early
                break
            time.sleep(0.1)
        raise RuntimeError(f"iperf3 {client} -> {address}: {out.stdout[-300:]} {out.stderr}")
    finally:
        daemon.kill()
        daemon.wait()


@dataclass
class EchoServer:
    """A TCP echo server in a namespace, for round trips and first connections."""
    namespace: str
    port: int = ECHO_PORT
    seconds: float = 120

    def __enter__(self) -> "EchoServer":
        self.proc = subprocess.Popen(in_namespace(self.namespace, sys.executable, "-c",
                                                  _ECHO_SERVER, str(self.port), str(self.seconds)),
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "listening"
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def round_trip_us(client: str, address: str, port: int = ECHO_PORT, count: int = 2000) -> float:
    """The median of `count` one-byte TCP round trips on one connection, in µs."""
    out = subprocess.run(in_namespace(client, sys.executable, "-c", _ROUND_TRIPS, address,
                                      str(port), str(count)),
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"round trips {client} -> {address}:{port}: {out.stderr[-300:]}")
    return float(out.stdout)


def first_connection_ms(client: str, address: str, port: int, call, limit: float = 5.0
                        ) -> tuple[float, float]:
    """(ms the `call` took to be answered, ms from its answer to the first TCP connection
    from `client` to address:port it lets through; -1 if none within `limit` s)."""
    proc = subprocess.Popen(in_namespace(client, sys.executable, "-c", _FIRST_CONNECTION,
                                         address, str(port), str(limit)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        start = time.perf_counter()
        call()
        answered = (time.perf_counter() - start) * 1000
        proc.stdin.write("go\n")
        proc.stdin.flush()
        return answered, float(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


class EdgeNode:
    """EDGE mode's data plane (node_controller/network): the node namespace's bridge with
    its iptables/ipset group rules, two namespaces plugged as guests of one group."""

    SUBNET, GATEWAY = "10.98.0.0/16", "10.98.0.1"

    def __init__(self):
        from tests.integration.network.netutil import unique
        # dnsmasq runs as nobody: its state must be reachable, as /var/lib/mallee is
        self.state = Path(tempfile.mkdtemp(prefix="mallee-bench-edge-"))
        self.state.chmod(0o755)
        self.outside = unique("dpout-")
        self.addresses = ["10.98.0.10", "10.98.0.11"]

    def __enter__(self) -> "EdgeNode":
        self.guests, self.plane = [], None
        try:
            return self._build()
        except BaseException:
            self.__exit__()  # nothing of a half-built node is left
            raise

    def _build(self) -> "EdgeNode":
        from node_controller.network import DataPlane, NetworkConfig, Port, parse_view
        from tests.integration.network.netutil import FakeGuest, unique, view_of
        sh("ip", "netns", "add", self.outside)
        sh("ip", "-n", self.outside, "link", "add", "pub0", "type", "bridge")
        sh("ip", "-n", self.outside, "link", "set", "pub0", "up")
        config = NetworkConfig(node=unique("dp"), subnet=self.SUBNET, uplink_netns=self.outside,
                               uplink_bridge="pub0", uplink_address="192.0.2.2/24",
                               uplink_gateway="", dns_domain="mallee.internal")
        self.plane = DataPlane(config, self.state / "network")
        self.plane.ensure()
        ids = [f"i-{n:017x}" for n in range(2)]
        macs = [f"d0:0d:00:00:01:{n:02x}" for n in range(2)]
        for n, (iid, mac, ip) in enumerate(zip(ids, macs, self.addresses)):
            self.guests.append(FakeGuest.create(iid, mac, ip))
            self.guests[-1].default_route(self.GATEWAY)
            self.plane.plug(Port(iid, mac, ip, ("sg-a",), spec={}))
        members = {0: ["sg-a"], 1: ["sg-a"]}
        self.plane.apply_view(parse_view(view_of(
            1, self.SUBNET, self.GATEWAY, members,
            {"sg-a": [{"protocol": "-1", "source_groups": ["sg-a"]}]}, None,
            ids.__getitem__, macs.__getitem__, self.addresses.__getitem__)))
        self.namespaces = [g.namespace for g in self.guests]
        return self

    def __exit__(self, *exc) -> None:
        for guest in self.guests:
            guest.delete()
        if self.plane is not None:
            self.plane.teardown()
        subprocess.run(["ip", "netns", "del", self.outside], capture_output=True, timeout=30)
        shutil.rmtree(self.state, ignore_errors=True)


class LinuxBridge:
    """The peer: namespaces on a plain Linux bridge inside a namespace of its own."""

    def __init__(self, stem: str, count: int = 2, subnet: str = "10.99.0"):
        self.stem, self.hub = stem, f"{stem}-hub"
        self.namespaces = [f"{stem}-{i}" for i in range(count)]
        self.addresses = [f"{subnet}.{10 + i}" for i in range(count)]

    def __enter__(self) -> "LinuxBridge":
        try:
            return self._build()
        except BaseException:
            self.__exit__()
            raise

    def _build(self) -> "LinuxBridge":
        sh("ip", "netns", "add", self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge", "forward_delay", "0")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, (namespace, address) in enumerate(zip(self.namespaces, self.addresses)):
            sh("ip", "netns", "add", namespace)
            sh("ip", "-n", self.hub, "link", "add", f"p{i}", "type", "veth", "peer", "name",
               "eth0", "netns", namespace)
            sh("ip", "-n", self.hub, "link", "set", f"p{i}", "master", "br0", "up")
            for argv in (("link", "set", "lo", "up"), ("link", "set", "eth0", "up"),
                         ("addr", "add", f"{address}/24", "dev", "eth0")):
                sh("ip", "-n", namespace, *argv)
        return self

    def __exit__(self, *exc) -> None:
        for namespace in (*self.namespaces, self.hub):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
