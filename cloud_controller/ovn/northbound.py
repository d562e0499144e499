"""The VPC model in OVN's northbound database, through ovsdbapp (the library
Neutron drives OVN with).

Mapping (docs/vpc.md): a VPC is a logical router; a subnet is a logical
switch joined to its VPC's router by a router port whose address is the
subnet's first host (EC2's .1), with a DHCP_Options row (OVN's native DHCP)
for the ports that will use it. Every row Mallee writes carries
external_ids mallee:vpc-id / mallee:subnet-id and mallee:account, which is
how `converge` tells Mallee's rows from anyone else's.

`converge(routers, switches)` makes the NB database hold exactly the given
model: it adds what is missing, rewrites what differs and removes the
Mallee-tagged rows nothing asks for, in one transaction, reading the IDL's
local replica (no round trip) to decide. The calls block (ovsdbapp runs its
own connection thread and waits for the commit): `AsyncNorthbound` runs them
on one worker thread of its own, so the event loop never stalls and two
passes never interleave.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from cloud_controller.ovn.ports import (MetadataPort, SwitchPort,
                                        converge_metadata_ports, converge_ports,
                                        tagged_metadata_ports, tagged_ports)
from cloud_controller.ovn.routing import RoutingModel, converge_routing
from cloud_controller.ovn.security import SecurityModel, converge_security
from cloud_controller.ovn.southbound import OutsideChassis
from mallee.ovn_names import METADATA_IP
from mallee.ovn_names import stable_mac as gateway_mac  # stable for the subnet

log = logging.getLogger("mallee.clc.ovn")

VPC_ID = "mallee:vpc-id"
SUBNET_ID = "mallee:subnet-id"
ACCOUNT = "mallee:account"

# Geneve's 58 bytes below an underlay of 1500 (DESIGN.md "VPC on OVN").
GUEST_MTU = 1442
LEASE_SECONDS = 3600


def router_name(vpc_id: str) -> str:
    return f"mallee-{vpc_id}"


def switch_name(subnet_id: str) -> str:
    return f"mallee-{subnet_id}"


def router_port_name(subnet_id: str) -> str:
    """The router's side of the subnet's link (Logical_Router_Port)."""
    return f"mallee-lrp-{subnet_id}"


def switch_router_port_name(subnet_id: str) -> str:
    """The switch's side of the same link (a Logical_Switch_Port of type router)."""
    return f"mallee-rp-{subnet_id}"


@dataclass(frozen=True)
class Router:
    vpc_id: str
    account_id: str

    @property
    def name(self) -> str:
        return router_name(self.vpc_id)

    @property
    def external_ids(self) -> dict[str, str]:
        return {VPC_ID: self.vpc_id, ACCOUNT: self.account_id}


@dataclass(frozen=True)
class Switch:
    subnet_id: str
    vpc_id: str
    account_id: str
    cidr: str
    # The VPC's DHCP option set in OVN's syntax (dns_server, domain_name, ntp_server).
    extra_dhcp: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return switch_name(self.subnet_id)

    @property
    def external_ids(self) -> dict[str, str]:
        return {SUBNET_ID: self.subnet_id, VPC_ID: self.vpc_id, ACCOUNT: self.account_id}

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.cidr)[1])

    @property
    def router_network(self) -> str:
        """The router port's address in the subnet: gateway/prefix."""
        return f"{self.gateway}/{ipaddress.ip_network(self.cidr).prefixlen}"

    @property
    def mac(self) -> str:
        return gateway_mac(self.subnet_id)

    @property
    def dhcp_options(self) -> dict[str, str]:
        # 169.254.169.254 on the link (its gateway 0.0.0.0): the subnet's metadata port
        return {"lease_time": str(LEASE_SECONDS), "router": self.gateway,
                "server_id": self.gateway, "server_mac": self.mac, "mtu": str(GUEST_MTU),
                **dict(self.extra_dhcp),
                "classless_static_route":
                    f"{{{METADATA_IP}/32,0.0.0.0, 0.0.0.0/0,{self.gateway}}}"}


@dataclass
class Changes:
    """What one converge pass did, for the log and for tests."""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def _tagged(table, key: str) -> dict[str, object]:
    """Rows of `table` that Mallee wrote, by their mallee id under `key`."""
    return {row.external_ids[key]: row for row in table.rows.values()
            if key in row.external_ids}


class Northbound:
    """The blocking client (use AsyncNorthbound from the event loop)."""

    def __init__(self, remote: str, timeout: float = 10.0, sb_remote: str | None = None):
        self.remote = remote
        self.timeout = timeout
        self.api = None
        # the chassis that can carry gateways (SB's Chassis table); None: gateway
        # ports' Gateway_Chassis are not written (a bench, a test of NB alone)
        self.outside = OutsideChassis(sb_remote, timeout) if sb_remote else None

    def connect(self) -> None:
        if self.api is not None:
            return
        from ovsdbapp.backend.ovs_idl import connection
        from ovsdbapp.schema.ovn_northbound import impl_idl
        idl = connection.OvsdbIdl.from_server(self.remote, "OVN_Northbound")
        # ovsdbapp keeps the connection on the API *class* (one per process, the first
        # one set wins): a class of our own per client, so a client that reconnects,
        # or two clouds in one test process, never write through another's connection.
        api_class = type("MalleeNbApi", (impl_idl.OvnNbApiIdlImpl,), {"_ovsdb_connection": None})
        self.api = api_class(connection.Connection(idl, timeout=self.timeout))

    def close(self) -> None:
        if self.api is not None:
            self.api.ovsdb_connection.stop()
            self.api = None
        if self.outside is not None:
            self.outside.close()

    def converge(self, routers: list[Router], switches: list[Switch],
                 security: SecurityModel | None = None, *,
                 routing: RoutingModel | None = None,
                 ports: list[SwitchPort] = ()) -> Changes:
        self.connect()
        if routing is not None:
            switches = [replace(s, extra_dhcp=tuple(sorted(routing.dhcp.get(
                s.subnet_id, {}).items()))) for s in switches]
        api, changes = self.api, Changes()
        with api.ovsdb_connection.lock:  # a consistent read of the replica
            tables = api.tables
            have_lr = _tagged(tables["Logical_Router"], VPC_ID)
            have_ls = _tagged(tables["Logical_Switch"], SUBNET_ID)
            have_lrp = _tagged(tables["Logical_Router_Port"], SUBNET_ID)
            have_dhcp = _tagged(tables["DHCP_Options"], SUBNET_ID)
            have_lsp = {row.name for row in tables["Logical_Switch_Port"].rows.values()}
            have_ports = tagged_ports(tables)
            have_md = tagged_metadata_ports(tables)
        want_lr = {r.vpc_id: r for r in routers}
        want_ls = {s.subnet_id: s for s in switches}
        with api.transaction(check_error=True) as txn:
            for vpc_id in have_lr.keys() - want_lr.keys():  # its ports go with it
                txn.add(api.lr_del(have_lr[vpc_id].uuid, if_exists=True))
                changes.removed.append(router_name(vpc_id))
            for subnet_id in have_ls.keys() - want_ls.keys():
                txn.add(api.ls_del(have_ls[subnet_id].uuid, if_exists=True))
                changes.removed.append(switch_name(subnet_id))
            for subnet_id in have_lrp.keys() - want_ls.keys():
                if have_lrp[subnet_id].external_ids.get(VPC_ID) in want_lr:
                    txn.add(api.lrp_del(have_lrp[subnet_id].uuid, if_exists=True))
                    changes.removed.append(router_port_name(subnet_id))
            for subnet_id in have_dhcp.keys() - want_ls.keys():
                txn.add(api.db_destroy("DHCP_Options", have_dhcp[subnet_id].uuid))
                changes.removed.append(f"dhcp-{subnet_id}")
            routers_made = {}
            for vpc_id, router in want_lr.items():
                if vpc_id not in have_lr:
                    routers_made[vpc_id] = txn.add(api.lr_add(
                        router.name, may_exist=True, external_ids=router.external_ids))
                    changes.added.append(router.name)
            switch_refs, dhcp_refs = {}, {}
            for subnet_id, switch in want_ls.items():
                switch_refs[subnet_id], dhcp_refs[subnet_id] = self._switch(
                    txn, switch, routers_made.get(switch.vpc_id), changes,
                    has_ls=subnet_id in have_ls, lrp=have_lrp.get(subnet_id),
                    has_lsp=switch_router_port_name(subnet_id) in have_lsp,
                    dhcp=have_dhcp.get(subnet_id))
            converge_ports(api, txn, have_ports, list(ports), switch_refs, dhcp_refs, changes)
            converge_metadata_ports(api, txn, have_md,
                                    [MetadataPort(s.subnet_id, s.account_id) for s in switches],
                                    switch_refs, changes)
        if security is not None:  # port groups and ACLs, once the switches exist
            converge_security(api, security, changes)
        if routing is not None:  # gateways, routes, NAT: once the routers exist
            chassis = self.outside.names() if self.outside is not None else None
            converge_routing(api, routing, changes, chassis)
        if changes:
            log.info("ovn: added %s; removed %s", changes.added or "-", changes.removed or "-")
        return changes

    def _switch(self, txn, switch: Switch, router_cmd, changes: Changes, *, has_ls: bool,
                lrp, has_lsp: bool, dhcp):
        """The commands that make one subnet's rows whole again; (the switch, its
        DHCP_Options row), as names, uuids or the commands that make them."""
        api = self.api
        router = router_cmd if router_cmd is not None else switch_router(switch)
        if lrp is None or lrp.networks != [switch.router_network] or lrp.mac != switch.mac:
            if lrp is not None:
                txn.add(api.lrp_del(lrp.uuid, if_exists=True))
            txn.add(api.lrp_add(router, router_port_name(switch.subnet_id), switch.mac,
                                [switch.router_network], external_ids=switch.external_ids))
            changes.added.append(router_port_name(switch.subnet_id))
        ls = switch.name
        if not has_ls:
            ls = txn.add(api.ls_add(switch.name, may_exist=True,
                                    external_ids=switch.external_ids,
                                    other_config={"subnet": switch.cidr}))
            changes.added.append(switch.name)
        if not has_ls or not has_lsp:
            txn.add(api.lsp_add(ls, switch_router_port_name(switch.subnet_id), may_exist=True,
                                type="router", addresses=["router"],
                                options={"router-port": router_port_name(switch.subnet_id)},
                                external_ids=switch.external_ids))
            if has_ls:
                changes.added.append(switch_router_port_name(switch.subnet_id))
        if dhcp is None:
            made = txn.add(api.db_create("DHCP_Options", cidr=switch.cidr,
                                         options=switch.dhcp_options,
                                         external_ids=switch.external_ids))
            changes.added.append(f"dhcp-{switch.subnet_id}")
            return ls, made
        if dhcp.cidr != switch.cidr or dict(dhcp.options) != switch.dhcp_options:
            # db_set merges into a map: clear first, so keys no longer asked for go
            txn.add(api.db_clear("DHCP_Options", dhcp.uuid, "options"))
            txn.add(api.db_set("DHCP_Options", dhcp.uuid, ("cidr", switch.cidr),
                               ("options", switch.dhcp_options)))
            changes.added.append(f"dhcp-{switch.subnet_id}")
        return ls, dhcp.uuid


def switch_router(switch: Switch) -> str:
    return router_name(switch.vpc_id)


class AsyncNorthbound:
    """Northbound's calls on one worker thread, awaited from the event loop."""

    def __init__(self, remote: str, timeout: float = 10.0, sb_remote: str | None = None):
        self.sync = Northbound(remote, timeout, sb_remote)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovn-nb")

    def on_chassis_change(self, callback) -> None:
        """callback() (from the SB connection's thread) when a chassis comes, goes
        or changes its bridge mappings."""
        if self.sync.outside is not None:
            self.sync.outside.on_change = callback

    async def converge(self, routers: list[Router], switches: list[Switch],
                       security: SecurityModel | None = None, *,
                       routing: RoutingModel | None = None,
                       ports: list[SwitchPort] = ()) -> Changes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._worker, functools.partial(self.sync.converge, routers, switches, security,
                                            routing=routing, ports=ports))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._worker, self.sync.close)
        self._worker.shutdown(wait=False)
