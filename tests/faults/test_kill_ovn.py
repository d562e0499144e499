"""kill -9 of each OVN process under a VPC's traffic (issue 15, "Faults"):
ovn-controller, ovs-vswitchd, ovn-northd, and the NB database, once with its
file lost. Namespaces bound to two instances' own logical ports stand in for
guests (tests/integration/ovn_probe.py: their port security and groups' ACLs
are the CLC's), on a chassis the test runs as a node would. After each fault,
what `mallee up` does again (start the missing processes) brings the cloud
back: traffic that was allowed flows, a rule authorized meanwhile takes
effect, and a lost NB database is written again by the CLC's reconcile."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

import pytest

from mallee.ovn_central import missing_binaries
from node_controller.network.ovn_chassis import (OvnChassis, kernel_datapath,
                                                 missing_binaries as missing_node)
from tests.faults.survival import SURVIVED
from tests.harness import Cloud, available_components
from tests.integration.network.netutil import Server, tcp_reply
from tests.integration.ovn_probe import instance_probe
from tests.ovn_nb import by_mallee_id

pytestmark = [pytest.mark.faults,
              pytest.mark.skipif(bool(missing_binaries() + missing_node()),
                                 reason="Open vSwitch / OVN not installed")]

OPEN, LATER = 8080, 8081  # allowed from the start; authorized while a process is down
CONVERGE = 30.0


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    cloud = Cloud(tmp_path_factory.mktemp("kill-ovn"), available_components(),
                  env={"MALLEE_NETWORK_MODE": "vpc",
                       "MALLEE_NETWORK_OVN_RECONCILE_SECONDS": "0.5"}).start()
    # FakeDriver nodes: the test's own chassis, without an outside bridge (no
    # gateway here, and FakeDriver clouds make no outside namespace to put it in)
    chassis = replace(OvnChassis.of(cloud.settings), outside_bridge="")
    probes, servers = [], []
    try:
        chassis.start()
        ec2 = cloud.client("ec2")
        image = cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
        vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c)["Subnet"]
                   for c in ("10.43.1.0/24", "10.43.2.0/24")]
        server_group, client_group = (ec2.create_security_group(
            GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("server", "client"))
        _allow(ec2, server_group, OPEN)
        port = cloud.settings.nc.port
        probes = [instance_probe(cloud, ec2, image, subnets[0], server_group, f"kos{port}"),
                  instance_probe(cloud, ec2, image, subnets[1], client_group, f"koc{port}")]
        for probe in probes:
            probe.start()
        server, client = probes
        address = server.address.split("/")[0]
        servers = [Server(server.name, address, p) for p in (OPEN, LATER)]
        net = {"cloud": cloud, "ec2": ec2, "chassis": chassis, "server": server,
               "client": client, "address": address, "group": server_group}
        assert _reaches(net, OPEN, timeout=CONVERGE), "no traffic before any fault"
        yield net
    finally:
        for s in servers:
            s.close()
        for probe in probes:
            probe.stop()
        chassis.stop()
        cloud.stop()


def _allow(ec2, group: str, port: int) -> None:
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "IpRanges": [{"CidrIp": "10.43.0.0/16"}]}])


def _revoke(ec2, group: str, port: int) -> None:
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "IpRanges": [{"CidrIp": "10.43.0.0/16"}]}])


def _reply(net, port: int) -> str | None:
    return tcp_reply(net["client"].name, net["address"], port, timeout=0.5)


def _reaches(net, port: int, timeout: float) -> float | None:
    """Seconds until a new connection from the client gets the server's answer."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _reply(net, port) is not None:
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}") or \
                open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            return
        time.sleep(0.05)


def _authorized_while_down(net, restart, frozen: bool = True) -> tuple[float, float]:
    """Authorize LATER while the process is down (`frozen`: and see that nothing can
    put it in force yet), bring it back with `restart`: (s until the old traffic flows,
    s until LATER does); then revoke LATER again."""
    _allow(net["ec2"], net["group"], LATER)
    try:
        if frozen:
            time.sleep(0.5)  # what a running chassis takes well under (bench/network.py)
            assert _reply(net, LATER) is None, "a rule took effect with its path down"
        restart()
        back = _reaches(net, OPEN, CONVERGE)
        assert back is not None, f"tcp/{OPEN} does not flow {CONVERGE} s after the restart"
        later = _reaches(net, LATER, CONVERGE)
        assert later is not None, f"tcp/{LATER} authorized meanwhile never took effect"
        return back, later
    finally:
        _revoke(net["ec2"], net["group"], LATER)
        assert net["cloud"].wait_for(lambda: _reply(net, LATER) is None, timeout=CONVERGE)


@pytest.mark.parametrize("process, pidfile, owner", [
    ("ovn-controller", "ovn-controller.pid", "chassis"),
    ("ovn-northd", "ovn-northd.pid", "central"),
])
def test_kill_keeps_flows(net, process, pidfile, owner):
    """ovn-controller or ovn-northd killed: the flows already installed stay in
    vswitchd, so traffic goes on; a change made meanwhile reaches the chassis once
    the process is back."""
    daemons = net["chassis"] if owner == "chassis" else net["cloud"].ovn
    _kill(daemons.running()[pidfile])
    assert _reply(net, OPEN) is not None, f"traffic stopped with {process}"
    back, later = _authorized_while_down(net, daemons.start)
    SURVIVED.record(process, "kill -9 under traffic",
                    f"flows kept; a rule made meanwhile in force {later:.1f} s after restart")


def test_kill_vswitchd_resumes_after_restart(net):
    """On the userspace datapath vswitchd is the datapath: traffic stops with it (the
    kernel datapath would keep forwarding) and resumes once it is started again, the
    probes' veths re-attached from the database."""
    chassis = net["chassis"]
    _kill(chassis.running()["ovs-vswitchd.pid"])
    if not kernel_datapath():
        assert _reply(net, OPEN) is None, "traffic without the userspace datapath's vswitchd"
    back, later = _authorized_while_down(net, chassis.start, frozen=False)
    SURVIVED.record("ovs-vswitchd", "kill -9 under traffic",
                    f"traffic back {back:.1f} s after restart; new rule {later:.1f} s")


def test_lost_nb_database_is_written_again(net):
    """kill -9 of the NB ovsdb-server and its file gone: started again empty, the CLC's
    reconcile writes the VPC back (routers, switches, ports, groups), and traffic
    flows through the rebuilt rows."""
    cloud, central = net["cloud"], net["cloud"].ovn
    vpcs = set(by_mallee_id(cloud, "Logical_Router", "mallee:vpc-id"))
    _kill(central.running()["ovsdb-server-nb.pid"])
    central.nb.file.unlink()
    started = time.monotonic()
    central.start()
    assert cloud.wait_for(lambda: set(by_mallee_id(
        cloud, "Logical_Router", "mallee:vpc-id")) == vpcs, timeout=CONVERGE)
    back = _reaches(net, OPEN, CONVERGE)
    assert back is not None, "no traffic through the rebuilt NB rows"
    assert _reply(net, LATER) is None, "a port no rule allows is open after the rebuild"
    SURVIVED.record("ovn NB ovsdb-server", "kill -9 and its file deleted",
                    f"rewritten by the reconcile; traffic back "
                    f"{time.monotonic() - started:.1f} s after the restart")
