"""Several nodes on one segment, the pure parts: what the cluster port's
guard and the filter table say, the anycast gateway's MAC, the gratuitous
ARP frame, and the link settings."""
from __future__ import annotations

import pytest

from mallee import settings as settings_mod
from node_controller.network import NetworkConfig, NetworkError, firewall, names
from node_controller.network.cluster_link import ClusterLink
from node_controller.network.elastic import gratuitous_arp_frame
from node_controller.network.port import Port
from node_controller.network.view import empty_view

PORT = Port("i-0123456789abcdef0", "d0:0d:01:23:45:67", "10.64.0.5", ("sg-web",))


def test_gateway_mac_is_one_locally_administered_unicast_mac_per_subnet():
    mac = names.gateway_mac("10.64.0.0/16")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01
    assert mac == names.gateway_mac("10.64.0.0/16") != names.gateway_mac("10.65.0.0/16")


def test_cluster_port_keeps_the_gateway_local_both_ways():
    alone = firewall.render_bridge_guard([PORT])
    assert "cluster-port" not in alone and "postrouting" not in alone
    joined = firewall.render_bridge_guard([PORT], ("02:aa:bb:cc:dd:ee", "10.64.0.1"))
    assert 'iifname "l2" jump cluster-port' in joined
    assert 'oifname "l2" jump cluster-port' in joined
    assert "ether saddr 02:aa:bb:cc:dd:ee drop" in joined
    assert "arp daddr ip { 10.64.0.1, 169.254.169.254 } drop" in joined
    assert "udp dport { 67, 68 } drop" in joined
    assert f'iifname "{PORT.tap}" jump from-{PORT.tap}' in joined  # guests still guarded


def test_filter_lets_checked_egress_onto_the_segment_and_vxlan_from_peers():
    view = empty_view("10.64.0.0/16", "10.64.0.1")
    alone = firewall.render_filter(view, [PORT], "10.64.0.1")
    assert "physdev-out l2" not in alone
    netns = firewall.render_filter(view, [PORT], "10.64.0.1", ClusterLink("netns", "c-l2"))
    lines = netns.splitlines()
    onto = lines.index("-A FORWARD -m physdev --physdev-out l2 --physdev-is-bridged -j ACCEPT")
    assert onto > lines.index(f"-A FORWARD -m physdev --physdev-in {PORT.tap} "
                              f"-j from-{PORT.instance_id}")  # after the sender's egress
    assert "--dport 4789" not in netns
    vxlan = firewall.render_filter(view, [PORT], "10.64.0.1",
                                   ClusterLink("vxlan", peers=("192.0.2.3",), vxlan_id=6464, vxlan_port=4789))
    assert "-A INPUT -i uplink -s 192.0.2.3/32 -p udp --dport 4789 -j ACCEPT" in vxlan


def test_gratuitous_arp_frame():
    frame = gratuitous_arp_frame("02:00:00:00:00:01", "198.51.100.10")
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex("020000000001")
    assert frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01"  # ARP request
    sender_ip, target_ip = frame[28:32], frame[38:42]
    assert sender_ip == target_ip == bytes([198, 51, 100, 10])
    assert len(frame) == 42


def test_link_settings(tmp_path):
    with pytest.raises(NetworkError, match="cluster_link 'bridge'"):
        ClusterLink("bridge")
    assert ClusterLink("vxlan", vxlan_id=1, vxlan_port=4789).guest_mtu == 1450 and ClusterLink().guest_mtu is None
    s = settings_mod.load(home=tmp_path, env={"MALLEE_NC_NAME": "n2",
                                         "MALLEE_NETWORK_CLUSTER_LINK": "vxlan",
                                         "MALLEE_NETWORK_VXLAN_PEERS": "192.0.2.2,192.0.2.3"})
    config = NetworkConfig.from_settings(s)
    assert config.node == "n2" and config.link.peers == ("192.0.2.2", "192.0.2.3")
    default = NetworkConfig.from_settings(settings_mod.load(home=tmp_path, env={}))
    assert default.link.mode == "none" and default.link.netns == "mallee-cluster1-l2"
