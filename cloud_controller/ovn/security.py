"""Security groups and network ACLs of own VPCs in OVN's NB database.

- A VPC security group is a Port_Group `mallee_sg_<hex of sg-<hex>>` (Port_Group
  names must match [a-zA-Z_.][a-zA-Z_.0-9]*, ovn-nb(5)) holding the group's ports
  (an input: the logical switch ports of the interfaces in the group), with one
  stateful ACL per rule: ingress `to-lport` `outport == @pg && ...src...`, egress
  `from-lport` `inport == @pg && ...dst...`, both `allow-related` at SG_PRIORITY.
  A source group is OVN's own address set of its port group, `$<pg>_ip4`.
- As Neutron's `neutron_pg_drop`: one Port_Group `mallee_pg_drop` holds every port
  of every VPC group and drops all IP both ways one priority below (DROP_PRIORITY),
  so a port's traffic is what its groups allow, and it lets DHCP through (EC2's
  groups never filter it; OVN's native DHCP answers in the switch).
- A network ACL is stateless and applies where traffic crosses the subnet's edge,
  the router port: entering, `from-lport` with `inport == "mallee-rp-<subnet>"`
  (the switch's ingress pipeline); leaving, `to-lport` with
  `outport == "mallee-rp-<subnet>"` (its egress pipeline). Those are the stages the
  groups do *not* use for that packet (a group's ingress rules are `to-lport` at
  the guest's port, its egress rules `from-lport` there), and no group holds a
  router port, so the two evaluations never meet: OVN 23.03 has no ACL tiers
  (the highest-priority match ends a stage's evaluation), yet a packet passes
  only if both the network ACL and the groups allow it, as in EC2. Each entry
  is one ACL, `allow` or `drop`, at priority NACL_TOP - rule number (rule-number
  order is priority order); the `*` entry is a `drop` at 0; the metadata address
  is never filtered (as EC2's ACLs do not). `allow-stateless` exists in 23.03 but
  "takes precedence before stateful ACLs" (ovn-nb(5)); `allow` follows the
  switch's conntrack like the groups' ACLs.

Every row carries mallee: external_ids; `converge_security` makes NB hold exactly
the model (adds what is missing, removes tagged rows nothing asks for) in one
transaction, after `Northbound.converge` has made the switches it needs.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

SG_ID = "mallee:sg-id"
NACL_ID = "mallee:network-acl-id"
SUBNET_ID = "mallee:subnet-id"
VPC_ID = "mallee:vpc-id"
ACCOUNT = "mallee:account"
ROLE = "mallee:role"

DROP_GROUP = "mallee_pg_drop"
METADATA = "169.254.169.254"  # EC2's network ACLs never filter it
NACL_TOP = 32767  # an entry's priority: NACL_TOP - its rule number (1-32766)
SG_PRIORITY = 1002
DROP_PRIORITY = 1001


def port_group_name(group_id: str) -> str:
    return "mallee_" + group_id.replace("-", "_")  # sg-0a1b... -> mallee_sg_0a1b...


@dataclass(frozen=True)
class AclSpec:
    direction: str  # from-lport (from the port: egress) or to-lport (to it: ingress)
    priority: int
    match: str
    action: str

    @property
    def key(self) -> tuple:
        return (self.direction, self.priority, self.match, self.action)


@dataclass(frozen=True)
class SgRule:
    egress: bool
    protocol: str  # tcp, udp, icmp, -1 or an IANA number
    from_port: int  # icmp: type (-1 all)
    to_port: int  # icmp: code (-1 all)
    cidr: str | None = None
    cidr_ipv6: str | None = None
    source_group: str | None = None  # sg- id


def _l4(protocol: str, from_port: int, to_port: int, ip: str) -> list[str]:
    if protocol in ("tcp", "udp"):
        if (from_port, to_port) == (0, 65535):
            return [protocol]
        if from_port == to_port:
            return [f"{protocol}.dst == {from_port}"]
        return [f"{protocol}.dst >= {from_port}", f"{protocol}.dst <= {to_port}"]
    if protocol == "icmp":
        icmp = "icmp4" if ip == "ip4" else "icmp6"
        out = [icmp]
        if from_port != -1:
            out.append(f"{icmp}.type == {from_port}")
        if to_port != -1:
            out.append(f"{icmp}.code == {to_port}")
        return out
    if protocol == "-1":
        return []
    return [f"ip.proto == {protocol}"]


def rule_match(pg: str, rule: SgRule) -> str | None:
    """The OVN match of one rule of port group `pg` (None: nothing to match, e.g. a
    prefix list, which this cloud cannot expand)."""
    side, peer = ("inport", "dst") if rule.egress else ("outport", "src")
    if rule.cidr:
        ip, target = "ip4", f"ip4.{peer} == {rule.cidr}"
    elif rule.cidr_ipv6:
        ip, target = "ip6", f"ip6.{peer} == {rule.cidr_ipv6}"
    elif rule.source_group:
        ip, target = "ip4", f"ip4.{peer} == ${port_group_name(rule.source_group)}_ip4"
    else:
        return None
    if target in (f"ip4.{peer} == 0.0.0.0/0", f"ip6.{peer} == ::/0"):
        target = None
    parts = [f"{side} == @{pg}", ip] + ([target] if target else [])
    return " && ".join(parts + _l4(rule.protocol, rule.from_port, rule.to_port, ip))


@dataclass(frozen=True)
class PortGroup:
    """One security group of an own VPC; `ports`: its logical switch ports' names."""
    group_id: str
    vpc_id: str
    account_id: str
    rules: tuple[SgRule, ...] = ()
    ports: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return port_group_name(self.group_id)

    @property
    def external_ids(self) -> dict[str, str]:
        return {SG_ID: self.group_id, VPC_ID: self.vpc_id, ACCOUNT: self.account_id}

    @property
    def acls(self) -> list[AclSpec]:
        out = {}
        for rule in self.rules:
            match = rule_match(self.name, rule)
            if match is not None:
                spec = AclSpec("from-lport" if rule.egress else "to-lport", SG_PRIORITY,
                               match, "allow-related")
                out[spec.key] = spec
        return list(out.values())


def drop_group_acls() -> list[AclSpec]:
    pg = f"@{DROP_GROUP}"
    return [AclSpec("from-lport", DROP_PRIORITY, f"inport == {pg} && ip", "drop"),
            AclSpec("to-lport", DROP_PRIORITY, f"outport == {pg} && ip", "drop"),
            AclSpec("from-lport", SG_PRIORITY, f"inport == {pg} && ip4 && udp.src == 68 && "
                                               "udp.dst == 67", "allow"),
            AclSpec("to-lport", SG_PRIORITY, f"outport == {pg} && ip4 && udp.src == 67 && "
                                             "udp.dst == 68", "allow")]


@dataclass(frozen=True)
class NaclEntry:
    rule_number: int
    egress: bool
    protocol: str  # -1 or an IANA number
    action: str  # allow or deny
    cidr: str
    from_port: int | None = None
    to_port: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None

    def match(self) -> str:
        """What the entry matches, of a packet that crosses the subnet's edge."""
        peer = "dst" if self.egress else "src"
        parts = ["ip4"]
        if ipaddress.IPv4Network(self.cidr).prefixlen:
            parts.append(f"ip4.{peer} == {self.cidr}")
        protocol = {"6": "tcp", "17": "udp", "1": "icmp"}.get(self.protocol, self.protocol)
        if protocol in ("tcp", "udp"):
            parts += _l4(protocol, self.from_port, self.to_port, "ip4")
        elif protocol == "icmp":
            parts += _l4(protocol, -1 if self.icmp_type is None else self.icmp_type,
                         -1 if self.icmp_code is None else self.icmp_code, "ip4")
        elif protocol != "-1":
            parts.append(f"ip.proto == {protocol}")
        return " && ".join(parts)


@dataclass(frozen=True)
class SwitchAcl:
    """The network ACL a subnet is associated with, as ACLs on its switch."""
    subnet_id: str
    vpc_id: str
    account_id: str
    cidr: str
    acl_id: str
    entries: tuple[NaclEntry, ...] = ()

    @property
    def switch(self) -> str:
        """northbound.switch_name (this module is imported by northbound.py)."""
        return f"mallee-{self.subnet_id}"

    @property
    def external_ids(self) -> dict[str, str]:
        return {NACL_ID: self.acl_id, SUBNET_ID: self.subnet_id, VPC_ID: self.vpc_id,
                ACCOUNT: self.account_id}

    def _edge(self, egress: bool) -> str:
        """The router port's side of the packet: leaving to it, or entering from it
        (the port is northbound.switch_router_port_name's)."""
        return f'{"outport" if egress else "inport"} == "mallee-rp-{self.subnet_id}"'

    @property
    def acls(self) -> list[AclSpec]:
        out = []
        for egress in (False, True):
            edge, direction = self._edge(egress), "to-lport" if egress else "from-lport"
            peer = "dst" if egress else "src"
            out.append(AclSpec(direction, NACL_TOP, f"{edge} && ip4.{peer} == {METADATA}",
                               "allow"))
            for entry in (e for e in self.entries if e.egress == egress):
                out.append(AclSpec(direction, NACL_TOP - entry.rule_number,
                                   f"{edge} && {entry.match()}",
                                   "allow" if entry.action == "allow" else "drop"))
            out.append(AclSpec(direction, 0, f"{edge} && ip4", "drop"))  # the `*` entry
        return out


@dataclass
class SecurityModel:
    port_groups: list[PortGroup] = field(default_factory=list)
    switch_acls: list[SwitchAcl] = field(default_factory=list)


def _tagged(table, key: str) -> dict[str, object]:
    return {row.external_ids[key]: row for row in table.rows.values()
            if key in row.external_ids}


def _sync_acls(api, txn, table: str, row, acls, want: list[AclSpec], external_ids: dict,
               changes, label: str) -> None:
    """Make `acls` (some of `row`'s) exactly `want`: remove others, add what is missing."""
    have = {(a.direction, a.priority, a.match, a.action): a for a in acls}
    wanted = {spec.key: spec for spec in want}
    for key, acl in have.items():
        if key not in wanted:
            txn.add(api.db_remove(table, row.uuid, "acls", acl.uuid))
            changes.removed.append(f"acl {label} {key[2]}")
    for key, spec in wanted.items():
        if key not in have:
            acl = txn.add(api.db_create("ACL", _as_row=True, direction=spec.direction,
                                        priority=spec.priority, match=spec.match,
                                        action=spec.action, external_ids=external_ids))
            txn.add(api.db_add(table, row.uuid, "acls", acl))
            changes.added.append(f"acl {label} {spec.match}")


def _new_port_group(api, txn, name: str, want: list[AclSpec], ports: list,
                    external_ids: dict, changes) -> None:
    acls = [txn.add(api.db_create("ACL", _as_row=True, direction=s.direction,
                                  priority=s.priority, match=s.match, action=s.action,
                                  external_ids=external_ids)) for s in want]
    txn.add(api.pg_add(name, acls=acls, ports=ports, external_ids=external_ids))
    changes.added.append(name)


def converge_security(api, model: SecurityModel, changes) -> None:
    """One transaction: NB's port groups, their ACLs and the switches' network ACLs
    become the model's (rows without mallee: external_ids are never touched)."""
    with api.ovsdb_connection.lock:
        tables = api.tables
        have_pg = _tagged(tables["Port_Group"], SG_ID)
        drop = next((r for r in tables["Port_Group"].rows.values()
                     if r.external_ids.get(ROLE) == "drop"), None)
        ports = {row.name: row for row in tables["Logical_Switch_Port"].rows.values()}
        switches = {row.name: row for row in tables["Logical_Switch"].rows.values()
                    if SUBNET_ID in row.external_ids}
    want_pg = {pg.group_id: pg for pg in model.port_groups}
    with api.transaction(check_error=True) as txn:
        for group_id in have_pg.keys() - want_pg.keys():
            txn.add(api.pg_del(have_pg[group_id].uuid, if_exists=True))
            changes.removed.append(port_group_name(group_id))
        members = set()
        for group_id, pg in want_pg.items():
            lsps = sorted(ports[p].uuid for p in pg.ports if p in ports)
            members.update(lsps)
            row = have_pg.get(group_id)
            if row is None:
                _new_port_group(api, txn, pg.name, pg.acls, lsps, pg.external_ids, changes)
                continue
            _sync_acls(api, txn, "Port_Group", row, row.acls, pg.acls, pg.external_ids, changes,
                       pg.name)
            if sorted(p.uuid for p in row.ports) != lsps:
                txn.add(api.db_set("Port_Group", row.uuid, ("ports", lsps)))
                changes.added.append(f"ports {pg.name}")
        _drop_group(api, txn, drop, bool(want_pg), sorted(members), changes)
        _switch_acls(api, txn, model.switch_acls, switches, changes)


def _drop_group(api, txn, row, wanted: bool, members: list, changes) -> None:
    ids = {ROLE: "drop"}
    if not wanted:
        if row is not None:
            txn.add(api.pg_del(row.uuid, if_exists=True))
            changes.removed.append(DROP_GROUP)
        return
    if row is None:
        _new_port_group(api, txn, DROP_GROUP, drop_group_acls(), members, ids, changes)
        return
    _sync_acls(api, txn, "Port_Group", row, row.acls, drop_group_acls(), ids, changes,
               DROP_GROUP)
    if sorted(p.uuid for p in row.ports) != members:
        txn.add(api.db_set("Port_Group", row.uuid, ("ports", members)))
        changes.added.append(f"ports {DROP_GROUP}")


def _switch_acls(api, txn, wanted: list[SwitchAcl], switches: dict, changes) -> None:
    """Each own subnet's switch carries exactly its network ACL's ACLs (Mallee-tagged
    ones; another's ACL on the switch stays)."""
    by_switch = {w.switch: w for w in wanted}
    for name, row in switches.items():
        want = by_switch.get(name)
        mine = [a for a in row.acls if NACL_ID in a.external_ids]
        specs = want.acls if want is not None else []
        stale = [a for a in mine if want is None or a.external_ids.get(NACL_ID) != want.acl_id]
        for acl in stale:  # another ACL is associated now: its rows, even equal ones, go
            txn.add(api.db_remove("Logical_Switch", row.uuid, "acls", acl.uuid))
            changes.removed.append(f"acl {name} {acl.match}")
        if want is None:
            continue
        _sync_acls(api, txn, "Logical_Switch", row, [a for a in mine if a not in stale],
                   specs, want.external_ids, changes, name)
