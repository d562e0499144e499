"""Security groups, elastic IP NAT and anti-spoofing, rendered as whole
tables from the view and the local ports (pure functions: no commands here).

- ipsets: one `hash:ip` set per group holding its members' private IPs,
  filled under a temporary name and swapped in (`ipset restore`).
- iptables filter table (stateful: the host kernel has no bridge conntrack,
  so bridged frames go through iptables via br_netfilter): a packet from a
  guest must pass its instance's egress chain (any group allows -> mark and
  return) and, towards a guest, that guest's ingress chain (any group
  allows -> accept). Replies pass on conntrack ESTABLISHED,RELATED.
- iptables nat table: elastic IPs as DNAT/SNAT; other guests masquerade
  behind the uplink address when there is one.
- nft bridge table: a guest's frames must carry its own MAC and IP (ARP
  too); DHCP discovery from 0.0.0.0 is allowed, acting as a DHCP server not.
  On the port to the cluster's shared segment, each node's gateway (the same
  address and MAC on every node) stays local: its frames, ARP for it or for
  the metadata address, and DHCP do not cross to other nodes.
"""
from __future__ import annotations

from collections.abc import Iterable

from node_controller.network import names
from node_controller.network.cluster_link import ClusterLink
from node_controller.network.names import BRIDGE, CLUSTER_PORT, METADATA_IP, UPLINK
from node_controller.network.port import Port
from node_controller.network.view import Group, NetworkView, Rule

EGRESS_OK_MARK = "0x1/0x1"
EGRESS_OK_CHAIN = "egress-ok"
ANY = "0.0.0.0/0"
PROTOCOL_ZERO = "6&0xFF=0x0"  # u32: the IPv4 protocol field is 0


def group_members(view: NetworkView, ports: Iterable[Port]) -> dict[str, set[str]]:
    """Every group's members' private IPs: the cluster's (view) plus local ports."""
    members: dict[str, set[str]] = {g.group_id: set() for g in view.groups}
    for entry in (*view.instances, *ports):
        for group_id in entry.groups:
            members.setdefault(group_id, set()).add(entry.private_ip)
    for group in view.groups:
        for rule in (*group.ingress, *(group.egress or ())):
            for source in rule.source_groups:
                members.setdefault(source, set())
    return members


def render_ipsets(members: dict[str, set[str]]) -> str:
    lines = []
    for group_id in sorted(members):
        live, swap = names.group_set(group_id), names.group_swap_set(group_id)
        lines += [f"create {live} hash:ip family inet -exist",
                  f"create {swap} hash:ip family inet -exist",
                  f"flush {swap}"]
        lines += [f"add {swap} {ip}" for ip in sorted(members[group_id])]
        lines += [f"swap {swap} {live}", f"destroy {swap}"]
    return "\n".join(lines) + "\n"


def _protocol_match(rule: Rule) -> list[str]:
    if rule.protocol == "all":
        return []
    if rule.protocol in ("tcp", "udp"):
        if rule.from_port is None or (rule.from_port, rule.to_port) == (0, 65535):
            return ["-p", rule.protocol]
        ports = (str(rule.from_port) if rule.from_port == rule.to_port
                 else f"{rule.from_port}:{rule.to_port}")
        return ["-p", rule.protocol, "--dport", ports]
    if rule.protocol == "icmp":
        if rule.from_port is None:
            return ["-p", "icmp"]
        icmp_type = str(rule.from_port) + (f"/{rule.to_port}" if rule.to_port is not None else "")
        return ["-p", "icmp", "--icmp-type", icmp_type]
    if int(rule.protocol) == 0:
        # iptables reads `-p 0` as every protocol; protocol 0 (HOPOPT) itself
        # is matched on the IPv4 header's protocol byte (octet 9: the low byte
        # of the word at offset 6), which every fragment carries.
        return ["-m", "u32", "--u32", f'"{PROTOCOL_ZERO}"']
    return ["-p", str(int(rule.protocol))]


def _rule_lines(chain: str, rule: Rule, direction: str, target: list[str]) -> list[str]:
    """One iptables line per source (cidr or group) of one rule."""
    address_flag, set_flag = ("-s", "src") if direction == "ingress" else ("-d", "dst")
    proto = _protocol_match(rule)
    peers = [[] if cidr == ANY else [address_flag, cidr] for cidr in rule.cidrs]
    peers += [["-m", "set", "--match-set", names.group_set(g), set_flag]
              for g in rule.source_groups]
    return [" ".join(["-A", chain, *peer, *proto, *target]) for peer in peers]


def _group_chains(group: Group) -> tuple[list[str], list[str]]:
    """(chain declarations, rules) of one group's ingress and egress chains."""
    ingress, egress = names.group_ingress_chain(group.group_id), names.group_egress_chain(group.group_id)
    rules = []
    for rule in group.ingress:
        rules += _rule_lines(ingress, rule, "ingress", ["-j", "ACCEPT"])
    if group.egress is None:
        rules.append(f"-A {egress} -g {EGRESS_OK_CHAIN}")
    else:
        for rule in group.egress:
            rules += _rule_lines(egress, rule, "egress", ["-g", EGRESS_OK_CHAIN])
    return [ingress, egress], rules


def render_filter(view: NetworkView, ports: list[Port], gateway: str,
                  link: ClusterLink = ClusterLink()) -> str:
    groups = {g.group_id: g for g in view.groups}
    for port in ports:  # a group the view does not know yet: members isolated, egress open
        for group_id in port.groups:
            groups.setdefault(group_id, Group(group_id))
    chains, rules = [EGRESS_OK_CHAIN], [f"-A {EGRESS_OK_CHAIN} -j MARK --set-xmark {EGRESS_OK_MARK}"]
    for group_id in sorted(groups):
        declared, lines = _group_chains(groups[group_id])
        chains += declared
        rules += lines
    forward = ["-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
               "-A FORWARD -m conntrack --ctstate INVALID -j DROP"]
    for port in ports:
        to_chain = names.instance_ingress_chain(port.instance_id)
        from_chain = names.instance_egress_chain(port.instance_id)
        chains += [to_chain, from_chain]
        forward.append(f"-A FORWARD -m physdev --physdev-in {port.tap} -j {from_chain}")
        for group_id in port.groups:
            rules.append(f"-A {from_chain} -j {names.group_egress_chain(group_id)}")
            rules.append(f"-A {from_chain} -m mark --mark {EGRESS_OK_MARK} -j RETURN")
        rules.append(f"-A {from_chain} -j DROP")
        rules += [f"-A {to_chain} -j {names.group_ingress_chain(g)}" for g in port.groups]
        rules.append(f"-A {to_chain} -j DROP")
    for port in ports:
        to_chain = names.instance_ingress_chain(port.instance_id)
        # Bridged frames are matched on the port they leave by; routed packets
        # (elastic IP DNAT, the uplink) have no output port yet: match the address.
        forward.append(f"-A FORWARD -m physdev --physdev-out {port.tap} --physdev-is-bridged "
                       f"-j {to_chain}")
        forward.append(f"-A FORWARD -o {BRIDGE} -d {port.private_ip}/32 "
                       f"-m physdev ! --physdev-is-bridged -j {to_chain}")
    forward.append(f"-A FORWARD -i {BRIDGE} -o {UPLINK} -j ACCEPT")  # egress already passed
    if link.enabled:
        # To a guest on another node: this node checked the sender's egress
        # above, the peer's node checks its guest's ingress (physdev-out tap).
        forward.append(f"-A FORWARD -m physdev --physdev-out {CLUSTER_PORT} --physdev-is-bridged "
                       f"-j ACCEPT")
    inputs = [
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A INPUT -i {BRIDGE} -p udp --dport 67 -j ACCEPT",
        f"-A INPUT -i {BRIDGE} -d {gateway}/32 -p udp --dport 53 -j ACCEPT",
        f"-A INPUT -i {BRIDGE} -d {gateway}/32 -p tcp --dport 53 -j ACCEPT",
        f"-A INPUT -i {BRIDGE} -d {METADATA_IP}/32 -p tcp --dport 80 -j ACCEPT",
        "-A INPUT -p icmp -j ACCEPT",
    ]
    inputs += [f"-A INPUT -i {UPLINK} -s {peer}/32 -p udp --dport {link.vxlan_port} -j ACCEPT"
               for peer in (link.peers if link.mode == "vxlan" else ())]
    return "\n".join([
        "*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
        *(f":{c} - [0:0]" for c in chains), *inputs, *forward, *rules, "COMMIT", ""])


def render_nat(ports: list[Port], subnet: str, masquerade: bool) -> str:
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
             ":POSTROUTING ACCEPT [0:0]"]
    for port in ports:
        if port.public_ip:
            lines.append(f"-A PREROUTING -d {port.public_ip}/32 -j DNAT "
                         f"--to-destination {port.private_ip}")
            lines.append(f"-A OUTPUT -d {port.public_ip}/32 -j DNAT "
                         f"--to-destination {port.private_ip}")
            lines.append(f"-A POSTROUTING -s {port.private_ip}/32 -o {UPLINK} -j SNAT "
                         f"--to-source {port.public_ip}")
    # A guest reaching a peer's elastic IP (hairpin): the reply must come back through us.
    lines.append(f"-A POSTROUTING -s {subnet} -o {BRIDGE} -m conntrack --ctstate DNAT "
                 f"-j MASQUERADE")
    if masquerade:
        lines.append(f"-A POSTROUTING -s {subnet} -o {UPLINK} -j MASQUERADE")
    return "\n".join([*lines, "COMMIT", ""])


BRIDGE_TABLE = "mallee-guard"


def render_bridge_guard(ports: list[Port], cluster_gateway: tuple[str, str] | None = None) -> str:
    """nft script replacing the bridge table atomically (create, delete, define).
    cluster_gateway: (gateway MAC, gateway IP) when the bridge has a port
    onto the cluster's shared segment, which must not carry them."""
    lines = [f"table bridge {BRIDGE_TABLE} {{}}", f"delete table bridge {BRIDGE_TABLE}",
             f"table bridge {BRIDGE_TABLE} {{",
             "  chain prerouting {",
             "    type filter hook prerouting priority -200; policy accept;"]
    lines += [f'    iifname "{p.tap}" jump from-{p.tap}' for p in ports]
    if cluster_gateway:
        lines.append(f'    iifname "{CLUSTER_PORT}" jump cluster-port')
    lines.append("  }")
    for p in ports:
        lines += [
            f"  chain from-{p.tap} {{",
            f"    ether saddr != {p.mac} drop",
            f"    ether type arp arp saddr ether {p.mac} arp saddr ip {{ {p.private_ip}, 0.0.0.0 }} accept",
            "    ether type ip udp sport 67 drop",
            f"    ether type ip ip saddr {p.private_ip} accept",
            "    ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept",
            "    drop",
            "  }",
        ]
    if cluster_gateway:
        lines += _cluster_port_chains(*cluster_gateway)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster_port_chains(gateway_mac: str, gateway: str) -> list[str]:
    """Every node's bridge is the gateway (same IP, same MAC) and the
    metadata and DHCP server for its own guests only. Filtering both ways
    keeps each node's answers local, so a guest never learns or reaches
    another node's services, and no bridge sees its own MAC arrive from the
    segment. Guest-to-guest frames pass untouched."""
    return [
        "  chain postrouting {",
        "    type filter hook postrouting priority -200; policy accept;",
        f'    oifname "{CLUSTER_PORT}" jump cluster-port',
        "  }",
        "  chain cluster-port {",
        f"    ether saddr {gateway_mac} drop",
        f"    ether type arp arp daddr ip {{ {gateway}, {METADATA_IP} }} drop",
        "    ether type ip udp dport { 67, 68 } drop",
        "  }",
    ]
