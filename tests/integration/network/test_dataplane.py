"""The node data plane with namespaces standing in for guests (fast): leases,
security groups, anti-spoofing, elastic IPs, metadata, restart, cleanup.
Run with -s to see the measured apply and propagation times."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from node_controller.network import DataPlane, NetworkError, Port, parse_view
from node_controller.network.names import METADATA_IP, tap_name
from node_controller.network.namespace import exists, link_exists
from node_controller.network.service import NodeNetwork
from tests.integration.network.conftest import GATEWAY, PUBLIC_GATEWAY, SUBNET
from tests.integration.network.netutil import (FakeGuest, Server, in_ns, sh, tcp_reply, view_of,
                                               wait_until)


def iid(n: int) -> str:
    return f"i-{n:017x}"


def mac(n: int) -> str:
    return f"d0:0d:00:00:{n // 256:02x}:{n % 256:02x}"


def ip(n: int) -> str:
    return f"10.77.0.{n + 10}"


def view(version: int, members: dict[int, list[str]], groups: dict[str, list[dict]],
         public: dict[int, str] | None = None) -> dict:
    return view_of(version, SUBNET, GATEWAY, members, groups, public, iid, mac, ip)


def plug_guest(plane: DataPlane, guests: list, n: int, groups: list[str], address=True,
               spec: dict | None = None) -> FakeGuest:
    guest = FakeGuest.create(iid(n), mac(n), ip(n) if address else "")
    guests.append(guest)
    if address:
        guest.default_route(GATEWAY)
    plane.plug(Port(iid(n), mac(n), ip(n), tuple(groups), spec=spec or {}))
    return guest


SELF = [{"protocol": "-1", "source_groups": ["sg-a"]}]


def test_namespace_is_built_idempotently_and_torn_down(config, state_dir):
    plane = DataPlane(config, state_dir / "network")
    plane.ensure()
    plane.ensure()  # again over the existing one: no error, same result
    ns = config.namespace
    addrs = sh("ip", "-n", ns, "-o", "addr", "show", "dev", "br0").stdout
    assert f"{GATEWAY}/16" in addrs and f"{METADATA_IP}/32" in addrs
    assert link_exists("uplink", ns) and link_exists(config.uplink_outer, config.uplink_netns)
    assert plane.dhcp.pid() is not None
    pid = plane.dhcp.pid()
    plane.teardown()
    assert not exists(ns)
    assert not link_exists(config.uplink_outer, config.uplink_netns)
    assert wait_until(lambda: not __import__("os").path.exists(f"/proc/{pid}"), 3) is not None


def test_ten_guests_get_distinct_leases_by_dhcp(plane, guests, state_dir):
    started = time.monotonic()
    for n in range(10):
        plug_guest(plane, guests, n, ["sg-a"], address=False)
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        leases = list(pool.map(lambda g: g.dhcp(state_dir), guests))
    print(f"\n10 guests plugged and leased in {time.monotonic() - started:.2f}s")
    assert leases == [ip(n) for n in range(10)]


def test_same_group_talks_other_groups_only_when_a_rule_allows(plane, guests):
    a = plug_guest(plane, guests, 1, ["sg-a"])
    b = plug_guest(plane, guests, 2, ["sg-a"])
    c = plug_guest(plane, guests, 3, ["sg-c"])
    groups = {"sg-a": SELF, "sg-c": []}
    plane.apply_view(parse_view(view(1, {1: ["sg-a"], 2: ["sg-a"], 3: ["sg-c"]}, groups)))
    server = Server(b.namespace, ip(2), 8080)
    try:
        assert tcp_reply(a.namespace, ip(2), 8080) == f"hello from {ip(1)}"
        assert a.ping(ip(2))
        assert tcp_reply(c.namespace, ip(2), 8080, timeout=0.5) is None
        assert not c.ping(ip(2))
        # authorize tcp 8080 from sg-c: measure from apply to a working connection
        groups["sg-a"] = SELF + [{"protocol": "tcp", "from_port": 8080, "to_port": 8080,
                                  "source_groups": ["sg-c"]}]
        started = time.monotonic()
        plane.apply_view(parse_view(view(2, {1: ["sg-a"], 2: ["sg-a"], 3: ["sg-c"]}, groups)))
        applied = time.monotonic() - started
        assert tcp_reply(c.namespace, ip(2), 8080) == f"hello from {ip(3)}"
        enforced = time.monotonic() - started
        print(f"\nauthorize: apply_view {applied * 1000:.0f} ms, first connection through "
              f"after {enforced * 1000:.0f} ms")
        assert not c.ping(ip(2))  # only what the rule names
        groups["sg-a"] = SELF  # revoke
        started = time.monotonic()
        plane.apply_view(parse_view(view(3, {1: ["sg-a"], 2: ["sg-a"], 3: ["sg-c"]}, groups)))
        assert tcp_reply(c.namespace, ip(2), 8080, timeout=0.5) is None
        print(f"revoke: enforced (new connection refused) {(time.monotonic() - started) * 1000:.0f} ms "
              "after apply_view began (includes the 0.5 s probe)")
        assert tcp_reply(a.namespace, ip(2), 8080) == f"hello from {ip(1)}"
    finally:
        server.close()


def test_cidr_rule_and_egress_rules(plane, guests):
    a = plug_guest(plane, guests, 1, ["sg-a"])
    b = plug_guest(plane, guests, 2, ["sg-b"])
    groups = {"sg-a": [], "sg-b": [{"protocol": "tcp", "from_port": 8000, "to_port": 8100,
                                     "cidrs": [f"{ip(1)}/32"]}]}
    raw = view(1, {1: ["sg-a"], 2: ["sg-b"]}, groups)
    plane.apply_view(parse_view(raw))
    server = Server(b.namespace, ip(2), 8080)
    try:
        assert tcp_reply(a.namespace, ip(2), 8080) is not None
        raw["groups"][0]["egress"] = [{"protocol": "udp", "from_port": 53, "to_port": 53,
                                       "cidrs": ["0.0.0.0/0"]}]  # sg-a may no longer send tcp
        raw["version"] = 2
        plane.apply_view(parse_view(raw))
        assert tcp_reply(a.namespace, ip(2), 8080, timeout=0.5) is None
    finally:
        server.close()


def test_spoofed_source_address_and_mac_are_dropped(plane, guests):
    a = plug_guest(plane, guests, 1, ["sg-a"])
    b = plug_guest(plane, guests, 2, ["sg-a"])
    plane.apply_view(parse_view(view(1, {1: ["sg-a"], 2: ["sg-a"]}, {"sg-a": SELF})))
    server = Server(b.namespace, ip(2), 8080)
    try:
        assert tcp_reply(a.namespace, ip(2), 8080) == f"hello from {ip(1)}"
        # a claims another member's address (allowed by the group, so only anti-spoofing stops it)
        a.run("ip", "addr", "flush", "dev", "eth0")
        a.run("ip", "addr", "add", f"{ip(3)}/16", "dev", "eth0")
        plane.apply_view(parse_view(view(2, {1: ["sg-a"], 2: ["sg-a"], 3: ["sg-a"]},
                                         {"sg-a": SELF})))
        assert tcp_reply(a.namespace, ip(2), 8080, timeout=0.5) is None
        assert not a.ping(ip(2))
        # its own address but another MAC
        a.run("ip", "addr", "flush", "dev", "eth0")
        a.run("ip", "addr", "add", f"{ip(1)}/16", "dev", "eth0")
        a.run("ip", "link", "set", "eth0", "address", "d0:0d:ee:ee:ee:ee")
        assert tcp_reply(a.namespace, ip(2), 8080, timeout=0.5) is None
        a.run("ip", "link", "set", "eth0", "address", mac(1))
        assert wait_until(lambda: tcp_reply(a.namespace, ip(2), 8080) is not None, 5) is not None
    finally:
        server.close()


def test_elastic_ip_dnat_snat_and_move(plane, guests, public_ns):
    a = plug_guest(plane, guests, 1, ["sg-a"])
    b = plug_guest(plane, guests, 2, ["sg-a"])
    ssh_anywhere = [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0"]}]
    plane.apply_view(parse_view(view(1, {1: ["sg-a"], 2: ["sg-a"]}, {"sg-a": ssh_anywhere},
                                     public={1: "192.0.2.50"})))
    servers = [Server(a.namespace, "0.0.0.0", 22), Server(b.namespace, "0.0.0.0", 22),
               Server(public_ns, "0.0.0.0", 9000)]
    try:
        # the outside reaches a through its elastic IP and sees its own address
        assert tcp_reply(public_ns, "192.0.2.50", 22) == f"hello from {PUBLIC_GATEWAY}"
        # a's own connections out leave from its elastic IP; b's from the node's uplink address
        assert tcp_reply(a.namespace, PUBLIC_GATEWAY, 9000) == "hello from 192.0.2.50"
        assert tcp_reply(b.namespace, PUBLIC_GATEWAY, 9000) == "hello from 192.0.2.2"
        # move the address to b
        plane.apply_view(parse_view(view(2, {1: ["sg-a"], 2: ["sg-a"]}, {"sg-a": ssh_anywhere},
                                         public={2: "192.0.2.50"})))
        assert tcp_reply(b.namespace, PUBLIC_GATEWAY, 9000) == "hello from 192.0.2.50"
        assert wait_until(lambda: tcp_reply(public_ns, "192.0.2.50", 22) is not None, 3) is not None
        # dissociate: nothing answers on it any more
        plane.apply_view(parse_view(view(3, {1: ["sg-a"], 2: ["sg-a"]}, {"sg-a": ssh_anywhere})))
        assert tcp_reply(public_ns, "192.0.2.50", 22, timeout=0.5) is None
        assert "192.0.2.50" not in sh("ip", "-n", plane.config.namespace, "addr").stdout
    finally:
        for server in servers:
            server.close()


def test_metadata_served_in_the_namespace_by_caller_address(config, state_dir, guests):
    import asyncio

    async def scenario():
        network = NodeNetwork(DataPlane(config, state_dir / "network"))
        await network.start()
        try:
            spec = {"instance_id": iid(1), "mac": mac(1), "private_ip": ip(1), "groups": ["sg-a"],
                    "user_data": None, "public_key": "ssh-ed25519 AAAA k"}
            guest = FakeGuest.create(iid(1), mac(1), ip(1))
            guests.append(guest)
            guest.default_route(GATEWAY)
            await network.plug(spec)

            def fetch(path, headers=None, method="GET"):
                request = urllib.request.Request(f"http://{METADATA_IP}{path}", method=method,
                                                 headers=headers or {})
                try:
                    with urllib.request.urlopen(request, timeout=2) as resp:
                        return resp.status, resp.read().decode()
                except urllib.error.HTTPError as err:
                    return err.code, ""
            get = lambda *a, **k: in_ns(guest.namespace, lambda: fetch(*a, **k))  # noqa: E731
            assert await asyncio.to_thread(get, "/latest/meta-data/instance-id") == (200, iid(1))
            status, token = await asyncio.to_thread(
                get, "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, "PUT")
            assert status == 200
            assert (await asyncio.to_thread(get, "/latest/meta-data/local-ipv4",
                                            {"X-aws-ec2-metadata-token": token}))[1] == ip(1)
            assert (await asyncio.to_thread(get, "/latest/meta-data/local-ipv4",
                                            {"X-aws-ec2-metadata-token": "bad"}))[0] == 401
            assert (await asyncio.to_thread(get, "/latest/user-data"))[0] == 404
            # the status a CC sees, and a malformed view refused without change
            result = await network.apply(view(5, {1: ["sg-a"]}, {"sg-a": SELF}))
            assert result == {"version": 5, "applied": True} and network.status()["error"] is None
            assert (await network.apply(view(4, {}, {})))["applied"] is False
            from mallee import errors
            with pytest.raises(errors.ApiError):
                await network.apply({"version": 6, "subnet": "10.9.0.0/16", "gateway": "10.9.0.1"})
            assert network.status()["version"] == 5 and "subnet" in network.status()["error"]
            saved = json.loads((state_dir / "network" / "view.json").read_text())
            assert saved["version"] == 5
        finally:
            await network.close()
            network.plane.teardown()

    asyncio.run(scenario())


def test_restart_rebuilds_without_cutting_connections(plane, guests, config, state_dir):
    a = plug_guest(plane, guests, 1, ["sg-a"])
    b = plug_guest(plane, guests, 2, ["sg-a"])
    raw = view(7, {1: ["sg-a"], 2: ["sg-a"]}, {"sg-a": SELF})
    plane.apply_view(parse_view(raw), raw)
    server = Server(b.namespace, ip(2), 8080)
    try:
        import socket
        conn = in_ns(a.namespace, lambda: socket.create_connection((ip(2), 8080), timeout=2))
        assert conn.recv(100)
        # a new NC process: fresh DataPlane object over the same namespace and state
        again = DataPlane(config, state_dir / "network")
        again.ensure()
        ports = [Port(iid(1), mac(1), ip(1), ("sg-a",)), Port(iid(2), mac(2), ip(2), ("sg-a",))]
        again.rebuild(ports, again.load_saved_view())
        assert again.view.version == 7
        conn.sendall(b"still there")  # the established connection survived the table swap
        assert tcp_reply(a.namespace, ip(2), 8080) == f"hello from {ip(1)}"
        conn.close()
        again.unplug(iid(1))
        assert not link_exists(tap_name(iid(1)), config.namespace)
        assert ip(1) not in (state_dir / "network" / "dhcp-hosts").read_text()
        again.apply_view(parse_view(view(8, {2: ["sg-a"]}, {"sg-a": SELF})))  # the CC's next view
        assert ip(1) not in sh("ip", "netns", "exec", config.namespace, "ipset", "list").stdout
    finally:
        server.close()


def test_a_view_that_cannot_be_applied_is_an_error(plane):
    with pytest.raises(NetworkError, match="subnet"):
        plane.apply_view(parse_view({**view(2, {}, {}), "subnet": "10.1.0.0/16"}))
    plane.apply_view(parse_view(view(1, {}, {"sg-a": SELF})))  # a good one still applies


def test_apply_time_100_groups_x_20_rules(plane, guests):
    for n in range(20):
        plug_guest(plane, guests, n, [f"sg-g{n % 100}"], address=False)
    groups = {}
    for g in range(100):
        rules = [{"protocol": "tcp", "from_port": 1000 + r, "to_port": 1000 + r,
                  "cidrs": [f"172.{g % 32}.{r}.0/24"]} for r in range(10)]
        rules += [{"protocol": "udp", "from_port": 2000 + r, "to_port": 2100 + r,
                   "source_groups": [f"sg-g{(g + r) % 100}"]} for r in range(10)]
        groups[f"sg-g{g}"] = rules
    members = {n: [f"sg-g{n % 100}"] for n in range(200)}
    started = time.monotonic()
    plane.apply_view(parse_view(view(1, members, groups)))
    first = time.monotonic() - started
    started = time.monotonic()
    plane.apply_view(parse_view(view(2, members, groups)))
    again = time.monotonic() - started
    rules = sh("ip", "netns", "exec", plane.config.namespace, "iptables-save").stdout.count("\n-A ")
    print(f"\n100 groups x 20 rules, 200 instances, 20 local: first apply {first:.2f}s, "
          f"re-apply {again:.2f}s, {rules} iptables rules")
    assert first < 5


def test_a_tap_that_will_not_go_leaves_no_port_and_blocks_its_address(
        plane, guests, config, monkeypatch):
    """Issue 11 #5: the port's state goes even when its tap stays; the old
    address is not handed to a new guest while the old tap is there; the tap
    is removed in the background once removal works again."""
    from node_controller.network import dataplane, namespace
    plug_guest(plane, guests, 1, ["sg-a"], spec={"user_data": "old tenant"})
    plane.apply_view(parse_view(view(1, {1: ["sg-a"]}, {"sg-a": SELF})))
    real_remove = namespace.remove_link

    def stuck(name, ns):
        raise NetworkError(f"cannot delete {name}: Device or resource busy")
    monkeypatch.setattr(namespace, "remove_link", stuck)
    monkeypatch.setattr(dataplane, "LEFTOVER_RETRY_SECONDS", 0.2, raising=False)
    plane.unplug(iid(1))  # the instance is gone either way
    assert plane.port_by_ip(ip(1)) is None and iid(1) not in plane.ports
    plane.apply_view(parse_view(view(2, {}, {"sg-a": SELF})))  # the CC's view without it
    members = sh("ip", "netns", "exec", config.namespace, "ipset", "list").stdout
    assert ip(1) not in members  # the old tenant's group sets no longer hold it
    with pytest.raises(NetworkError, match=f"{ip(1)} is still held by {iid(1)}"):
        plane.plug(Port(iid(2), mac(2), ip(1), ("sg-b",), spec={"user_data": "new"}))
    assert iid(2) not in plane.ports and plane.port_by_ip(ip(1)) is None
    monkeypatch.setattr(namespace, "remove_link", real_remove)
    assert wait_until(lambda: not link_exists(tap_name(iid(1)), config.namespace), 5) is not None
    assert wait_until(lambda: not plane.leftover_taps(), 5) is not None
    guest = FakeGuest.create(iid(2), mac(2), ip(1))
    guests.append(guest)
    plane.plug(Port(iid(2), mac(2), ip(1), ("sg-b",), spec={"user_data": "new"}))
    assert plane.port_by_ip(ip(1)).spec == {"user_data": "new"}


def test_an_address_a_plugged_port_holds_is_not_plugged_again(plane, guests):
    plug_guest(plane, guests, 1, ["sg-a"], spec={"user_data": "first"})
    with pytest.raises(NetworkError, match=f"{ip(1)} is still held by {iid(1)}"):
        plane.plug(Port(iid(2), mac(2), ip(1), ("sg-b",), spec={"user_data": "second"}))
    assert plane.port_by_ip(ip(1)).spec == {"user_data": "first"} and iid(2) not in plane.ports
