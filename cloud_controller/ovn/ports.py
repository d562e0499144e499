"""Instances' NICs in own subnets as OVN logical switch ports (docs/vpc.md):
one per network interface attached to a live instance.

A port is named `mallee-<eni-id>`; the NC plugs the guest's tap into br-int
with `external_ids:iface-id` = that name, and ovn-controller binds it. Its
`addresses` and `port_security` are "MAC IP [secondary IPs]" (port_security
only "MAC" with EC2's sourceDestCheck off) (OVN answers ARP for it and
drops frames from any other source), and `dhcpv4_options` is its subnet's
DHCP_Options row, so OVN's native DHCP hands the guest its address.

`converge_ports` adds its commands to the transaction Northbound.converge
builds: ports nothing records are removed, missing or changed ones are
written again, decided from the IDL's replica read under the same lock.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from mallee.ovn_names import METADATA_IP, metadata_mac, metadata_port_name

INSTANCE_ID = "mallee:instance-id"
INTERFACE_ID = "mallee:interface-id"
SUBNET_ID = "mallee:subnet-id"
ACCOUNT = "mallee:account"
METADATA_OF = "mallee:metadata-of"  # the subnet whose metadata port it is


def port_name(interface_id: str) -> str:
    return f"mallee-{interface_id}"


@dataclass(frozen=True)
class SwitchPort:
    interface_id: str  # eni-...
    instance_id: str
    subnet_id: str
    account_id: str
    mac: str
    private_ip: str
    secondary: tuple[str, ...] = ()  # the interface's secondary private addresses
    # EC2's sourceDestCheck: off, the port may send from any address (a NAT or
    # router instance): port_security holds its MAC only
    source_dest_check: bool = True

    @property
    def name(self) -> str:
        return port_name(self.interface_id)

    @property
    def addresses(self) -> list[str]:
        return [" ".join((self.mac, self.private_ip, *self.secondary))]

    @property
    def port_security(self) -> list[str]:
        return self.addresses if self.source_dest_check else [self.mac]

    @property
    def external_ids(self) -> dict[str, str]:
        return {INSTANCE_ID: self.instance_id, INTERFACE_ID: self.interface_id,
                SUBNET_ID: self.subnet_id, ACCOUNT: self.account_id}


@dataclass(frozen=True)
class MetadataPort:
    """The subnet's way to instance metadata: a localport (every chassis binds its
    own copy, so a guest's request never leaves its node) answering for
    169.254.169.254, which DHCP tells guests is on the link. The NC of each node
    with guests in the subnet plugs a namespace of its own as this port and serves
    metadata there, knowing the caller by its address on this one subnet (port
    security keeps it from being spoofed)."""
    subnet_id: str
    account_id: str

    @property
    def name(self) -> str:
        return metadata_port_name(self.subnet_id)

    @property
    def mac(self) -> str:
        return metadata_mac(self.subnet_id)

    @property
    def addresses(self) -> list[str]:
        return [f"{self.mac} {METADATA_IP}"]

    @property
    def external_ids(self) -> dict[str, str]:
        return {METADATA_OF: self.subnet_id, ACCOUNT: self.account_id}


def converge_metadata_ports(api, txn, have: dict, ports: list[MetadataPort], switches: dict,
                            changes) -> None:
    want = {p.name: p for p in ports if p.subnet_id in switches}
    _remove_unwanted(api, txn, have, want, switches, METADATA_OF, changes)
    for name, port in want.items():
        row = have.get(name)
        if row is not None:
            if row.type == "localport" and list(row.addresses) == port.addresses and \
                    dict(row.external_ids) == port.external_ids:
                continue
            txn.add(api.lsp_del(row.uuid, if_exists=True))
        txn.add(api.lsp_add(switches[port.subnet_id], name, type="localport",
                            addresses=port.addresses, external_ids=port.external_ids))
        changes.added.append(name)


def _remove_unwanted(api, txn, have: dict, want: dict, switches: dict, subnet_key: str,
                     changes) -> None:
    """Ports nothing records go; those on a switch this pass removes go with it (a
    port deleted after its switch would fail the transaction)."""
    for name in have.keys() - want.keys():
        if have[name].external_ids.get(subnet_key) in switches:
            txn.add(api.lsp_del(have[name].uuid, if_exists=True))
        changes.removed.append(name)


def tagged_metadata_ports(tables) -> dict[str, object]:
    return {row.name: row for row in tables["Logical_Switch_Port"].rows.values()
            if METADATA_OF in row.external_ids}


def tagged_ports(tables) -> dict[str, object]:
    """Instance ports Mallee wrote, by name (call under the connection's lock)."""
    return {row.name: row for row in tables["Logical_Switch_Port"].rows.values()
            if INSTANCE_ID in row.external_ids}


def _same(row, port: SwitchPort, dhcp_uuid) -> bool:
    return (list(row.addresses) == port.addresses
            and list(row.port_security) == port.port_security
            and dict(row.external_ids) == port.external_ids
            and [r.uuid for r in row.dhcpv4_options] == ([dhcp_uuid] if dhcp_uuid else []))


def converge_ports(api, txn, have: dict, ports: list[SwitchPort], switches: dict,
                   dhcp: dict, changes) -> None:
    """`switches`: subnet id -> its switch (a name, or the command that makes it in
    this transaction); `dhcp`: subnet id -> its DHCP_Options row (the uuid of one the
    replica holds, or the command that makes it: its ports are then written again)."""
    want = {p.name: p for p in ports if p.subnet_id in switches}
    _remove_unwanted(api, txn, have, want, switches, SUBNET_ID, changes)
    for name, port in want.items():
        dhcp_ref = dhcp.get(port.subnet_id)
        fresh_dhcp = dhcp_ref is not None and not isinstance(dhcp_ref, uuid.UUID)
        row = have.get(name)
        if row is not None:
            if not fresh_dhcp and _same(row, port, dhcp_ref):
                continue
            txn.add(api.lsp_del(row.uuid, if_exists=True))
        columns = {"dhcpv4_options": dhcp_ref} if dhcp_ref is not None else {}
        txn.add(api.lsp_add(switches[port.subnet_id], name, addresses=port.addresses,
                            port_security=port.port_security, external_ids=port.external_ids,
                            **columns))
        changes.added.append(name)
