"""A VPC's routing in OVN's northbound database (docs/vpc.md, "The mapping"):
internet gateways, route tables, NAT. Written by `converge_routing`, the
second transaction of each `Northbound.converge` pass, after the routers
and switches exist.

- An attached internet gateway is a gateway port on the VPC's own router
  (`mallee-lrp-<igw-id>`, an address of the outside segment) joined to a
  logical switch of its own (`mallee-<igw-id>`) that holds a router-type port
  and a localnet port onto the outside bridge (`ovn-bridge-mappings` name
  `mallee-outside`). One router per VPC with its gateway port on it, as
  OpenStack's OVN driver does for a Neutron router, rather than a separate
  gateway router and a transit switch: EC2's route tables then map onto one
  router's routes, and SNAT/DNAT happen where the routes are decided.
- Each EC2 route table is an OVN route table (`route_table` of
  Logical_Router_Static_Route, OVN 22.06+); each subnet's router port names
  its table in `options:route_table` (its own association, else the VPC's
  main table). EC2's `local` route is the router's directly connected
  networks (OVN looks there first), so it has no row.
- The gateway port's Gateway_Chassis rows name every chassis that maps the
  outside network (read from SB by the caller, `ovn/southbound.py`), so
  northd makes it a distributed gateway port bound to one of them (the
  highest priority alive) and centralises its NAT there. A chassis' priority
  is a hash of (gateway, chassis): it does not move when other nodes come or
  go, and different VPCs' gateways spread over the chassis.
- A NAT gateway is a `snat` row on the VPC's router per subnet whose table
  routes to it (logical_ip = that subnet's CIDR, external_ip = its elastic
  IP); the route itself leaves through the internet gateway's port to the
  outside next hop. An elastic IP on a private address is `dnat_and_snat`.

Every row carries mallee: external_ids; a pass adds what is missing,
rewrites what differs and removes the Mallee-tagged rows nothing asks for.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from mallee.ovn_names import OUTSIDE_NETWORK, stable_mac

VPC_ID = "mallee:vpc-id"
SUBNET_ID = "mallee:subnet-id"
ACCOUNT = "mallee:account"
IGW_ID = "mallee:igw-id"
ROUTE_TABLE_ID = "mallee:route-table-id"
NAT_KEY = "mallee:nat"  # who asked for the NAT row: nat-... or eipalloc-...



@dataclass(frozen=True)
class Gateway:
    """An internet gateway attached to a VPC."""
    igw_id: str
    vpc_id: str
    account_id: str
    outside_ip: str
    outside_prefix: int
    next_hop: str  # the outside segment's router

    @property
    def external_ids(self) -> dict[str, str]:
        return {IGW_ID: self.igw_id, VPC_ID: self.vpc_id, ACCOUNT: self.account_id}

    @property
    def switch(self) -> str:
        return f"mallee-{self.igw_id}"

    @property
    def router_port(self) -> str:
        return f"mallee-lrp-{self.igw_id}"

    @property
    def switch_router_port(self) -> str:
        return f"mallee-rp-{self.igw_id}"

    @property
    def localnet_port(self) -> str:
        return f"mallee-ln-{self.igw_id}"

    @property
    def network(self) -> str:
        return f"{self.outside_ip}/{self.outside_prefix}"

    @property
    def mac(self) -> str:
        return stable_mac(self.igw_id)


def chassis_priority(igw_id: str, chassis: str) -> int:
    """A Gateway_Chassis priority (1..32767) for this gateway on this chassis."""
    digest = hashlib.sha256(f"{igw_id} {chassis}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % 32767


@dataclass(frozen=True)
class Route:
    """One route of an EC2 route table on the VPC's router."""
    vpc_id: str
    account_id: str
    route_table_id: str
    prefix: str
    nexthop: str
    output_port: str | None = None

    @property
    def key(self) -> tuple:
        return (self.route_table_id, self.prefix, self.nexthop, self.output_port)

    @property
    def external_ids(self) -> dict[str, str]:
        return {ROUTE_TABLE_ID: self.route_table_id, VPC_ID: self.vpc_id,
                ACCOUNT: self.account_id}


@dataclass(frozen=True)
class NatRule:
    vpc_id: str
    account_id: str
    owner: str  # nat-... (snat) or eipalloc-... (dnat_and_snat)
    type: str  # "snat" | "dnat_and_snat"
    external_ip: str
    logical_ip: str

    @property
    def key(self) -> tuple:
        return (self.vpc_id, self.type, self.external_ip, self.logical_ip)

    @property
    def external_ids(self) -> dict[str, str]:
        return {NAT_KEY: self.owner, VPC_ID: self.vpc_id, ACCOUNT: self.account_id}


@dataclass
class RoutingModel:
    gateways: list[Gateway] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    nats: list[NatRule] = field(default_factory=list)
    port_tables: dict[str, str] = field(default_factory=dict)  # subnet id -> rtb id
    dhcp: dict[str, dict[str, str]] = field(default_factory=dict)  # subnet id -> options


def _router(vpc_id: str) -> str:
    return f"mallee-{vpc_id}"


def _tagged(table, key: str) -> list:
    return [row for row in table.rows.values() if key in row.external_ids]


def _one(value):
    return value[0] if value else None


def converge_routing(api, model: RoutingModel, changes,
                     chassis: list[str] | None = None) -> None:
    """One transaction that makes the routing rows match `model`; each gateway
    port's Gateway_Chassis name `chassis` (None: not known now, left as they are)."""
    with api.ovsdb_connection.lock:
        tables = api.tables
        routers = {row.name for row in tables["Logical_Router"].rows.values()}
        have_ls = {row.external_ids[IGW_ID]: row for row in
                   _tagged(tables["Logical_Switch"], IGW_ID)}
        have_lrp = {row.external_ids[IGW_ID]: row for row in
                    _tagged(tables["Logical_Router_Port"], IGW_ID)}
        have_gwc = {igw_id: {gc.chassis_name: (gc.uuid, gc.priority, dict(gc.external_ids))
                             for gc in lrp.gateway_chassis}
                    for igw_id, lrp in have_lrp.items()}
        lsps = {row.name for row in tables["Logical_Switch_Port"].rows.values()}
        subnet_ports = {row.external_ids[SUBNET_ID]: row for row in
                        _tagged(tables["Logical_Router_Port"], SUBNET_ID)}
        have_routes = {}
        for row in _tagged(tables["Logical_Router_Static_Route"], ROUTE_TABLE_ID):
            key = (row.route_table, row.ip_prefix, row.nexthop, _one(row.output_port))
            have_routes[key] = row
        have_nats = {}
        for row in _tagged(tables["NAT"], NAT_KEY):
            have_nats[(row.external_ids.get(VPC_ID), row.type, row.external_ip,
                       row.logical_ip)] = row
    gateways = {g.igw_id: g for g in model.gateways if _router(g.vpc_id) in routers}
    routes = {r.key: r for r in model.routes if _router(r.vpc_id) in routers}
    nats = {n.key: n for n in model.nats if _router(n.vpc_id) in routers}
    with api.transaction(check_error=True) as txn:
        for igw_id in have_ls.keys() - gateways.keys():
            txn.add(api.ls_del(have_ls[igw_id].uuid, if_exists=True))
            changes.removed.append(f"mallee-{igw_id}")
        for igw_id, lrp in have_lrp.items():
            gateway = gateways.get(igw_id)
            if gateway is None or lrp.networks != [gateway.network] or lrp.mac != gateway.mac:
                txn.add(api.lrp_del(lrp.uuid, if_exists=True))
                changes.removed.append(lrp.name)
        for gateway in gateways.values():
            port, lrp = _gateway(api, txn, gateway, changes, have_ls.get(gateway.igw_id),
                                 have_lrp.get(gateway.igw_id), lsps)
            if chassis is not None:
                _gateway_chassis(api, txn, gateway, port,
                                 have_gwc.get(gateway.igw_id, {}) if lrp is not None else {},
                                 chassis, changes)
        for key, row in have_routes.items():
            if key not in routes:
                txn.add(api.db_remove("Logical_Router", _router(row.external_ids[VPC_ID]),
                                      "static_routes", row.uuid, if_exists=True))
                changes.removed.append(f"route {key[0]} {key[1]}")
        for key, route in routes.items():
            if key not in have_routes:
                row = txn.add(api.db_create(
                    "Logical_Router_Static_Route", ip_prefix=route.prefix,
                    nexthop=route.nexthop, route_table=route.route_table_id,
                    external_ids=route.external_ids,
                    **({"output_port": route.output_port} if route.output_port else {})))
                txn.add(api.db_add("Logical_Router", _router(route.vpc_id), "static_routes",
                                   row))
                changes.added.append(f"route {key[0]} {key[1]}")
        for key, row in have_nats.items():
            if key not in nats and key[0] is not None:
                txn.add(api.db_remove("Logical_Router", _router(key[0]), "nat", row.uuid,
                                      if_exists=True))
                changes.removed.append(f"nat {key[1]} {key[2]}")
        for key, nat in nats.items():
            if key not in have_nats:
                row = txn.add(api.db_create("NAT", type=nat.type, external_ip=nat.external_ip,
                                            logical_ip=nat.logical_ip,
                                            external_ids=nat.external_ids))
                txn.add(api.db_add("Logical_Router", _router(nat.vpc_id), "nat", row))
                changes.added.append(f"nat {nat.type} {nat.external_ip}")
        for subnet_id, lrp in subnet_ports.items():
            options = dict(lrp.options)
            want = model.port_tables.get(subnet_id)
            if options.get("route_table") != want:
                if want is None:
                    options.pop("route_table", None)
                else:
                    options["route_table"] = want
                txn.add(api.db_clear("Logical_Router_Port", lrp.uuid, "options"))  # no merge
                txn.add(api.db_set("Logical_Router_Port", lrp.uuid, ("options", options)))
                changes.added.append(f"{lrp.name} route_table={want}")


def _gateway(api, txn, gateway: Gateway, changes, ls, lrp, lsps: set[str]):
    """The commands that make one attached internet gateway's rows whole; its
    router port as (a reference for this transaction, the replica's row or None
    when it is made anew)."""
    if lrp is None or lrp.networks != [gateway.network] or lrp.mac != gateway.mac:
        made = txn.add(api.lrp_add(_router(gateway.vpc_id), gateway.router_port, gateway.mac,
                                   [gateway.network], external_ids=gateway.external_ids))
        changes.added.append(gateway.router_port)
        port, lrp = made, None
    else:
        port = lrp.uuid
    switch = gateway.switch
    if ls is None:
        switch = txn.add(api.ls_add(gateway.switch, may_exist=True,
                                    external_ids=gateway.external_ids))
        changes.added.append(gateway.switch)
    if ls is None or gateway.switch_router_port not in lsps:
        txn.add(api.lsp_add(switch, gateway.switch_router_port, may_exist=True, type="router",
                            addresses=["router"],
                            options={"router-port": gateway.router_port},
                            external_ids=gateway.external_ids))
    if ls is None or gateway.localnet_port not in lsps:
        txn.add(api.lsp_add(switch, gateway.localnet_port, may_exist=True, type="localnet",
                            addresses=["unknown"],
                            options={"network_name": OUTSIDE_NETWORK},
                            external_ids=gateway.external_ids))
    return port, lrp


def _gateway_chassis(api, txn, gateway: Gateway, port, have: dict, chassis: list[str],
                     changes) -> None:
    """The gateway port's Gateway_Chassis rows (`have`: chassis name -> (uuid,
    priority, external_ids)): one per chassis, named as `ovn-nbctl
    lrp-set-gateway-chassis` names them (`<port>_<chassis>`)."""
    want = {name: chassis_priority(gateway.igw_id, name) for name in chassis}
    for name, (uuid, priority, external_ids) in have.items():
        if name not in want:  # not root: the row goes with its last reference
            txn.add(api.db_remove("Logical_Router_Port", port, "gateway_chassis", uuid,
                                  if_exists=True))
            changes.removed.append(f"{gateway.router_port} chassis {name}")
        elif priority != want[name] or external_ids != gateway.external_ids:
            txn.add(api.db_set("Gateway_Chassis", uuid, ("priority", want[name]),
                               ("external_ids", gateway.external_ids)))
            changes.added.append(f"{gateway.router_port} chassis {name}")
    for name, priority in want.items():
        if name not in have:
            row = txn.add(api.db_create("Gateway_Chassis", name=f"{gateway.router_port}_{name}",
                                        chassis_name=name, priority=priority,
                                        external_ids=gateway.external_ids))
            txn.add(api.db_add("Logical_Router_Port", port, "gateway_chassis", row))
            changes.added.append(f"{gateway.router_port} chassis {name}")
