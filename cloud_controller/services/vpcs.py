"""Each account's EDGE network modelled as its default VPC, with one default
subnet per zone, so tools that assume a default VPC (Ansible, Terraform) work.

Ids are derived from the account (and zone), so they are stable across
restarts and the same on every CLC; rows exist so the VPC and subnets can be
tagged. Every account's VPC has the cloud's private subnet as its CIDR: EDGE
isolates accounts with security groups, not with separate address spaces.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cloud_controller.db.vpcs import VpcRepository
from mallee import errors


def _derived(prefix: str, *parts: str) -> str:
    return f"{prefix}-" + hashlib.sha256("/".join((prefix, *parts)).encode()).hexdigest()[:17]


def default_vpc_id(account_id: str) -> str:
    return _derived("vpc", account_id)


def default_subnet_id(account_id: str, zone: str) -> str:
    return _derived("subnet", account_id, zone)


@dataclass(frozen=True)
class ImplicitParts:
    """The parts AWS gives every default VPC, which EDGE has too in its own form: the
    main route table (the VPC's CIDR local, everything else to the internet gateway:
    the node's NAT to the uplink), the internet gateway, the default network ACL
    (EDGE filters only with security groups: all allowed) and the DHCP options (the
    node's dnsmasq: the region's internal domain). Ids derived from the account."""
    account_id: str
    vpc_id: str
    route_table_id: str
    main_association_id: str
    internet_gateway_id: str
    network_acl_id: str
    dhcp_options_id: str
    domain_name: str

    def acl_association_id(self, subnet_id: str) -> str:
        return _derived("aclassoc", self.network_acl_id, subnet_id)


def implicit_parts(account_id: str, region: str) -> ImplicitParts:
    vpc_id = default_vpc_id(account_id)
    domain = f"{region}.compute.internal"  # as instances' private DNS names (mallee.netnames)
    return ImplicitParts(
        account_id, vpc_id, _derived("rtb", account_id), _derived("rtbassoc", account_id),
        _derived("igw", account_id), _derived("acl", account_id), _derived("dopt", account_id),
        domain)


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    account_id: str
    zone: str
    cidr: str


class VpcService:
    def __init__(self, db, settings, clusters):
        self.db = db
        self.settings = settings
        self.clusters = clusters  # ClusterMonitor: the zones, and each CC's reported subnet
        self.repo = VpcRepository(db)
        self._made: set[str] = set()

    @property
    def cidr(self) -> str:
        return self.settings.network.private_subnet

    def subnets(self, account_id: str) -> list[Subnet]:
        vpc_id = default_vpc_id(account_id)
        out = []
        for cluster in self.clusters.clusters:
            cidr = (cluster.network or {}).get("subnet") or self.cidr
            out.append(Subnet(default_subnet_id(account_id, cluster.ref.zone), vpc_id,
                              account_id, cluster.ref.zone, cidr))
        return out

    async def ensure(self, account_id: str) -> None:
        """Make the rows that let the VPC and its subnets be tagged."""
        if account_id in self._made:
            return
        vpc = {"id": default_vpc_id(account_id), "account_id": account_id, "cidr": self.cidr}
        async with self.db.unit():
            await self.repo.ensure(vpc, [s.__dict__ for s in self.subnets(account_id)])
        self._made.add(account_id)

    def check_vpc(self, account_id: str, vpc_id: str | None) -> str:
        """The account's VPC id; any other id is not found."""
        mine = default_vpc_id(account_id)
        if vpc_id not in (None, "", mine):
            raise errors.InvalidVpcIDNotFound(f"The vpc ID '{vpc_id}' does not exist")
        return mine

    def parts(self, account_id: str) -> ImplicitParts:
        return implicit_parts(account_id, self.settings.cloud.region)

    @staticmethod
    def check_ids(asked: list[str], mine: str, not_found: type[errors.ApiError],
                  what: str) -> None:
        """Ids a Describe call names: each must be the account's one such part."""
        for asked_id in asked:
            if asked_id != mine:
                raise not_found(f"The {what} ID '{asked_id}' does not exist")

    def subnet(self, account_id: str, subnet_id: str) -> Subnet:
        for subnet in self.subnets(account_id):
            if subnet.id == subnet_id:
                return subnet
        raise errors.InvalidSubnetIDNotFound(f"The subnet ID '{subnet_id}' does not exist")
