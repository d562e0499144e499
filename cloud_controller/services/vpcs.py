"""Each account's EDGE network modelled as its default VPC, with one default
subnet per zone, so tools that assume a default VPC (Ansible, Terraform) work.

Ids are derived from the account (and zone), so they are stable across
restarts and the same on every CLC; rows exist so the VPC and subnets can be
tagged. Every account's VPC has the cloud's private subnet as its CIDR: EDGE
isolates accounts with security groups, not with separate address spaces.

In VPC mode ([network] mode = "vpc", docs/vpc.md) the default VPC is a real
one on OVN instead, made as AWS makes it the first time the account calls
(`ensure`): `[network] default_vpc_cidr` (172.31.0.0/16) with one /20 default
subnet per zone (MapPublicIpOnLaunch), its main route table routing 0.0.0.0/0
to an internet gateway of its own, its default network ACL, through the same
VpcPart hooks as CreateVpc and CreateSubnet; its security groups stay the
account's groups without a VpcId (looked up by name, as EC2-Classic's names
were). The VPC and subnet ids stay the derived ones. From then on it is one
of the account's VPCs "on OVN" (`own_vpc`), except that it cannot be deleted.
An account also makes VPCs and subnets of its own (CreateVpc, CreateSubnet...).
Their rows here are the authority; after each change `vpcs_changed` is
notified, and OvnSync (services/ovn_sync.py) writes the model (`ovn_model`)
to OVN. An own VPC has
from its creation, as in EC2, a `default` security group and a default
network ACL (allow all, rule 100) that its subnets are associated with; they
go with the VPC, and other groups or ACLs keep it from being deleted.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from itertools import groupby

from cloud_controller.db.subnet_ports import SubnetPortRepository
from cloud_controller.db.vpcs import VpcRepository
from cloud_controller.ovn.northbound import Router, Switch
from cloud_controller.ovn.ports import SwitchPort, port_name
from cloud_controller.services import subnet_addresses
from mallee import errors
from mallee.ids import resource_id

# EC2's limits on a VPC's and a subnet's IPv4 block: /16 to /28.
PREFIX_RANGE = range(16, 29)
# EC2 keeps five addresses of every subnet: network, router (.1), DNS (.2),
# reserved (.3) and broadcast.
RESERVED_PER_SUBNET = 5
# How long a change waits for OVN to hold it before the call is answered anyway
# (the row is committed; the reconcile loop writes it when OVN is back).
OVN_WAIT_SECONDS = 5.0


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
    default: bool = True
    map_public_ip: bool = False  # own subnets only: a default one follows the setting
    edge: bool = False  # a default subnet of edge mode's facade (no row on OVN)


@dataclass(frozen=True)
class Vpc:
    """A VPC an account made (VPC mode); the default one is EDGE's (describe_vpcs)."""
    id: str
    account_id: str
    cidr: str
    dhcp_options_id: str | None = None  # None: the account's default set
    is_default: bool = False  # vpc mode's real default VPC


def _vpc(row) -> Vpc:
    return Vpc(row["id"], row["account_id"], row["cidr"], row["dhcp_options_id"],
               bool(row["is_default"]))


def _subnet(row) -> Subnet:
    return Subnet(row["id"], row["vpc_id"], row["account_id"], row["zone"], row["cidr"],
                  default=bool(row["is_default"]), map_public_ip=bool(row["map_public_ip"]))


def _own(row, resource_id: str, what: str, not_found: type[errors.ApiError]):
    """The row of a VPC or subnet on OVN: one the account made, or vpc mode's real
    default one; edge mode's default ones are EDGE's."""
    if row is None:
        raise not_found(f"The {what} ID '{resource_id}' does not exist")
    if row["is_default"] and not row["on_ovn"]:
        raise errors.UnsupportedOperation(
            f"The default {what} '{resource_id}' is this cloud's EDGE network; it cannot be "
            "changed or deleted.")
    return row


def parse_network(cidr: str | None, param: str) -> ipaddress.IPv4Network:
    """A CIDR block as EC2 reads it: a.b.c.d/n with no host bits set."""
    try:
        return ipaddress.IPv4Network(cidr or "")
    except ValueError:
        raise errors.InvalidParameterValue(
            f"Value ({cidr}) for parameter {param} is invalid. This is not a valid CIDR block.")


def available_addresses(cidr: str) -> int:
    return max(0, ipaddress.ip_network(cidr).num_addresses - RESERVED_PER_SUBNET)


def has_dependencies(what: str, resource_id: str) -> errors.ApiError:
    """EC2's DependencyViolation for a delete it refuses ('vpc', 'subnet', 'routeTable'...)."""
    return errors.DependencyViolation(
        f"The {what} '{resource_id}' has dependencies and cannot be deleted.")


def dependency(vpc_id: str) -> errors.ApiError:
    return has_dependencies("vpc", vpc_id)


class VpcPart:
    """A service whose resources belong to own VPCs (security groups, network ACLs,
    internet and NAT gateways, route tables):
    VpcService calls it inside its own unit of work as VPCs and subnets come and go,
    so a VPC's default parts are made and removed with it."""

    async def vpc_created(self, account_id: str, vpc_id: str) -> None:
        pass

    async def vpc_deleting(self, vpc_id: str) -> None:
        """Raise DependencyViolation (`dependency`) for what the user still has in the
        VPC; else remove the VPC's default parts."""

    async def subnet_created(self, vpc_id: str, subnet_id: str) -> None:
        pass

    async def vpc_blocks(self, vpc_id: str) -> list[str]:
        """CIDR blocks the part adds to the VPC's (secondary blocks)."""
        return []

    async def subnet_deleting(self, subnet_id: str) -> None:
        pass

    async def held_addresses(self, subnet_id: str) -> set[str]:
        """Private addresses of the subnet the part's resources hold (NAT gateways)."""
        return set()

    async def default_vpc_created(self, account_id: str, vpc_id: str) -> None:
        """After vpc_created and subnet_created: what AWS adds to a default VPC beside
        an own one's parts (its internet gateway and route, DNS hostnames)."""


def default_subnet_blocks(cidr: str, taken: list[str], count: int) -> list[str]:
    """`count` /20s of the default VPC's block (in order) that overlap none of `taken`."""
    network = ipaddress.IPv4Network(cidr)
    used = [ipaddress.IPv4Network(t) for t in taken]
    free = [str(b) for b in network.subnets(new_prefix=max(20, network.prefixlen))
            if not any(b.overlaps(u) for u in used)]
    if len(free) < count:
        raise errors.InsufficientFreeAddressesInSubnet(
            f"The default VPC's block {cidr} has no room for a default subnet in every zone.")
    return free[:count]


class VpcService:
    def __init__(self, db, settings, clusters, tags, vpcs_changed):
        self.db = db
        self.settings = settings
        self.clusters = clusters  # ClusterMonitor: the zones, and each CC's reported subnet
        self.tags = tags
        self.vpcs_changed = vpcs_changed  # ChangeNotifier: OvnSync listens in VPC mode
        self.repo = VpcRepository(db)
        # They add themselves: security groups, network ACLs, attributes, internet and
        # NAT gateways, route tables.
        self.members: list[VpcPart] = []
        self.ports = SubnetPortRepository(db)  # instances in own subnets
        self._made: set[str] = set()

    @property
    def vpc_mode(self) -> bool:
        return self.settings.network.mode == "vpc"

    @property
    def cidr(self) -> str:
        return self.settings.network.private_subnet

    def subnets(self, account_id: str) -> list[Subnet]:
        vpc_id = default_vpc_id(account_id)
        out = []
        for cluster in self.clusters.clusters:
            cidr = (cluster.network or {}).get("subnet") or self.cidr
            out.append(Subnet(default_subnet_id(account_id, cluster.ref.zone), vpc_id,
                              account_id, cluster.ref.zone, cidr, edge=True))
        return out

    async def ensure(self, account_id: str) -> None:
        """Edge mode: make the rows that let the VPC and its subnets be tagged. VPC mode:
        make the default VPC real (once: idempotent, and a racing request finds it made
        in its unit)."""
        if account_id in self._made:
            return
        if self.vpc_mode:
            await self._make_real(account_id)
        else:
            vpc = {"id": default_vpc_id(account_id), "account_id": account_id,
                   "cidr": self.cidr}
            async with self.db.unit():
                await self.repo.ensure(vpc, [s.__dict__ for s in self.subnets(account_id)])
        self._made.add(account_id)

    async def _missing_zones(self, account_id: str) -> tuple[bool, list[str], list[str]]:
        """(the default VPC is real, zones without a default subnet, its subnets' blocks)."""
        vpc_id = default_vpc_id(account_id)
        real = await self.repo.real_default(account_id) is not None
        rows = await self.repo.subnets_of(vpc_id) if real else []
        have = {r["zone"] for r in rows if r["is_default"]}
        return real, [z for z in self.zone_names() if z not in have], [r["cidr"] for r in rows]

    async def _make_real(self, account_id: str) -> None:
        real, missing, _ = await self._missing_zones(account_id)
        if not missing:
            return  # the common case: no unit, no wait for the writer
        vpc_id = default_vpc_id(account_id)
        async with self.db.unit():
            real, missing, taken = await self._missing_zones(account_id)  # a racer made it
            if not missing:
                return
            blocks = default_subnet_blocks(self.settings.network.default_vpc_cidr, taken,
                                           len(missing))
            subnets = [{"id": default_subnet_id(account_id, zone), "account_id": account_id,
                        "vpc_id": vpc_id, "zone": zone, "cidr": cidr}
                       for zone, cidr in zip(missing, blocks)]
            if not real:
                await self.repo.make_real({"id": vpc_id, "account_id": account_id,
                                           "cidr": self.settings.network.default_vpc_cidr},
                                          subnets)
                for part in self.members:
                    await part.vpc_created(account_id, vpc_id)
            else:  # a zone added since
                await self.repo.add_default_subnets(subnets)
            for subnet in subnets:
                for part in self.members:
                    await part.subnet_created(vpc_id, subnet["id"])
            if not real:
                for part in self.members:
                    await part.default_vpc_created(account_id, vpc_id)
        await self.changed()

    def check_vpc(self, account_id: str, vpc_id: str | None) -> str:
        """The account's VPC id; any other id is not found."""
        mine = default_vpc_id(account_id)
        if vpc_id not in (None, "", mine):
            raise errors.InvalidVpcIDNotFound(f"The vpc ID '{vpc_id}' does not exist")
        return mine

    def parts(self, account_id: str) -> ImplicitParts:
        return implicit_parts(account_id, self.settings.cloud.region)

    def default_parts(self, account_id: str, vpc_id: str) -> ImplicitParts | None:
        """The derived ids a VPC's parts take if it is the account's default VPC (made
        real in vpc mode: the same ids as edge mode's facade), else None (new ids)."""
        return self.parts(account_id) if vpc_id == default_vpc_id(account_id) else None

    @staticmethod
    def check_ids(asked: list[str], mine: str, not_found: type[errors.ApiError],
                  what: str) -> None:
        """Ids a Describe call names: each must be the account's one such part."""
        for asked_id in asked:
            if asked_id != mine:
                raise not_found(f"The {what} ID '{asked_id}' does not exist")

    def subnet(self, account_id: str, subnet_id: str) -> Subnet:
        """A default subnet of edge mode's facade (none in vpc mode: they are real)."""
        for subnet in self.subnets(account_id) if not self.vpc_mode else []:
            if subnet.id == subnet_id:
                return subnet
        raise errors.InvalidSubnetIDNotFound(f"The subnet ID '{subnet_id}' does not exist")

    # ---- VPC mode: the VPCs and subnets accounts make ----------------------

    async def group_vpc(self, account_id: str, vpc_id: str | None) -> str | None:
        """Where a new security group goes: None for the default VPC (the account's
        groups without a VpcId: EDGE's, in vpc mode the real default VPC's), else an own
        VPC of the account (VPC mode)."""
        if not self.vpc_mode or vpc_id in (None, "", default_vpc_id(account_id)):
            self.check_vpc(account_id, vpc_id)
            return None
        return (await self.own_vpc(account_id, vpc_id)).id

    async def changed(self) -> None:
        """After a commit: OVN follows, and the caller is answered once it holds the
        change (or after OVN_WAIT_SECONDS: the reconcile loop catches up)."""
        await self.vpcs_changed.notify_and_wait(OVN_WAIT_SECONDS)

    async def create_vpc(self, account_id: str, cidr: str | None,
                         tags: list[tuple[str, str]]) -> Vpc:
        network = parse_network(cidr, "cidrBlock")
        if network.prefixlen not in PREFIX_RANGE:
            raise errors.InvalidVpcRange(f"The CIDR '{cidr}' is invalid.")
        vpc = Vpc(resource_id("vpc"), account_id, str(network))
        async with self.db.unit():
            if await self.repo.count_vpcs(account_id) >= self.settings.network.max_vpcs_per_account:
                raise errors.VpcLimitExceeded()
            await self.repo.insert_vpc(vpc.id, account_id, vpc.cidr)
            await self.tags.tag_new(account_id, vpc.id, "vpc", tags)
            for part in self.members:
                await part.vpc_created(account_id, vpc.id)
        await self.changed()
        return vpc

    async def own_vpcs(self, account_id: str | None) -> list[Vpc]:
        """One account's own VPCs, or (None) every account's."""
        return [_vpc(row) for row in await self.repo.own_vpcs(account_id)]

    async def own_vpc(self, account_id: str, vpc_id: str) -> Vpc:
        """One of the account's own VPCs; the default one is refused (EDGE's)."""
        return _vpc(_own(await self.repo.vpc(account_id, vpc_id), vpc_id, "vpc",
                         errors.InvalidVpcIDNotFound))

    async def delete_vpc(self, account_id: str, vpc_id: str) -> None:
        async with self.db.unit():  # a part that refuses undoes what the others removed
            if (await self.own_vpc(account_id, vpc_id)).is_default:
                raise errors.UnsupportedOperation(
                    f"The default VPC '{vpc_id}' cannot be deleted in this cloud (every "
                    "account keeps its default VPC; its instances launch there).")
            if await self.repo.own_subnets(vpc_id=vpc_id):
                raise dependency(vpc_id)
            for part in self.members:
                await part.vpc_deleting(vpc_id)
            await self.repo.delete_vpc(vpc_id)
            await self.tags.forget(vpc_id)
        await self.changed()

    def zone_names(self) -> list[str]:
        return [cluster.ref.zone for cluster in self.clusters.clusters]

    def _zone(self, zone: str | None, zone_id: str | None) -> str:
        zones = self.zone_names()
        asked = zone or zone_id
        if asked is None:
            return zones[0]
        if asked not in zones:
            param = "availabilityZone" if zone else "availabilityZoneId"
            raise errors.InvalidParameterValue(
                f"Value ({asked}) for parameter {param} is invalid. Subnets can currently "
                f"only be created in the following availability zones: {', '.join(zones)}.")
        return asked

    async def create_subnet(self, account_id: str, vpc_id: str, cidr: str | None,
                            zone: str | None, zone_id: str | None,
                            tags: list[tuple[str, str]]) -> Subnet:
        network = parse_network(cidr, "cidrBlock")
        zone = self._zone(zone, zone_id)
        async with self.db.unit():
            vpc = await self.own_vpc(account_id, vpc_id)
            blocks = [vpc.cidr]
            for part in self.members:
                blocks += await part.vpc_blocks(vpc_id)
            if network.prefixlen not in PREFIX_RANGE or not any(
                    network.subnet_of(ipaddress.IPv4Network(b)) for b in blocks):
                raise errors.InvalidSubnetRange(f"The CIDR '{cidr}' is invalid.")
            for other in await self.repo.own_subnets(vpc_id=vpc_id):
                if network.overlaps(ipaddress.IPv4Network(other["cidr"])):
                    raise errors.InvalidSubnetConflict(
                        f"The CIDR '{cidr}' conflicts with another subnet")
            subnet = Subnet(resource_id("subnet"), vpc_id, account_id, zone, str(network),
                            default=False)
            await self.repo.insert_subnet(subnet.id, account_id, vpc_id, zone, subnet.cidr)
            await self.tags.tag_new(account_id, subnet.id, "subnet", tags)
            for part in self.members:
                await part.subnet_created(vpc_id, subnet.id)
        await self.changed()
        return subnet

    async def own_subnets(self, account_id: str | None) -> list[Subnet]:
        return [_subnet(row) for row in await self.repo.own_subnets(account_id)]

    async def own_subnet(self, account_id: str, subnet_id: str) -> Subnet:
        return _subnet(_own(await self.repo.subnet(account_id, subnet_id), subnet_id, "subnet",
                            errors.InvalidSubnetIDNotFound))

    async def find_own_subnet(self, account_id: str, subnet_id: str) -> Subnet | None:
        """The account's subnet on OVN, or None (another account's, edge mode's default
        one, gone)."""
        row = await self.repo.subnet(account_id, subnet_id)
        return _subnet(row) if row is not None and (not row["is_default"] or row["on_ovn"]) \
            else None

    async def all_own_subnets(self) -> list[Subnet]:
        """Every account's own subnets (the OVN model)."""
        return [_subnet(row) for row in await self.repo.own_subnets()]

    async def delete_subnet(self, account_id: str, subnet_id: str) -> None:
        async with self.db.unit():
            if (await self.own_subnet(account_id, subnet_id)).default:
                raise errors.UnsupportedOperation(
                    f"The default subnet '{subnet_id}' cannot be deleted in this cloud "
                    "(instances launched without a subnet go there).")
            if await self.ports.count_in(subnet_id):
                raise errors.DependencyViolation(
                    f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
            for part in self.members:
                await part.subnet_deleting(subnet_id)
            await self.repo.delete_subnet(subnet_id)
            await self.tags.forget(subnet_id)
        await self.changed()

    async def set_dhcp_options(self, account_id: str, vpc_id: str,
                               dopt_id: str | None) -> None:
        """An own VPC's DHCP option set (None: the account's default); in the caller's
        unit, which checked the set."""
        async with self.db.unit():
            await self.own_vpc(account_id, vpc_id)
            await self.repo.set_dhcp_options(vpc_id, dopt_id)

    async def uses_dhcp_options(self, dopt_id: str) -> bool:
        return await self.repo.using_dhcp_options(dopt_id)

    async def set_map_public_ip(self, account_id: str, subnet_id: str, value: bool) -> None:
        async with self.db.unit():
            await self.own_subnet(account_id, subnet_id)
            await self.repo.set_map_public_ip(subnet_id, value)

    async def default_subnet(self, account_id: str, zone: str) -> Subnet:
        """VPC mode: the real default VPC's default subnet of the zone."""
        await self.ensure(account_id)
        return await self.own_subnet(account_id, default_subnet_id(account_id, zone))

    async def ovn_model(self) -> tuple[list[Router], list[Switch]]:
        """Every account's VPCs and subnets on OVN, as OVN's rows should be."""
        routers = [Router(row["id"], row["account_id"]) for row in await self.repo.own_vpcs()]
        switches = [Switch(row["id"], row["vpc_id"], row["account_id"], row["cidr"])
                    for row in await self.repo.own_subnets()]
        return routers, switches

    # ---- instances in own subnets ------------------------------------------

    async def launch_subnet(self, account_id: str, subnet_id: str) -> Subnet:
        """The subnet RunInstances names: a default one (EDGE) or, in VPC mode, one of
        the account's own or a real default one; anything else is
        InvalidSubnetID.NotFound."""
        try:
            return self.subnet(account_id, subnet_id)
        except errors.InvalidSubnetIDNotFound:
            if not self.vpc_mode:
                raise
        return await self.own_subnet(account_id, subnet_id)

    async def launch_addresses(self, account_id: str, subnet_id: str, count: int,
                               requested: str | None) -> tuple[Subnet, list[str]]:
        """Inside the launch's unit: the own subnet and `count` free addresses of it (or
        the requested one, checked), held by the rows the unit inserts."""
        subnet = await self.own_subnet(account_id, subnet_id)
        return subnet, subnet_addresses.choose(subnet.cidr, await self.addresses_held(subnet_id),
                                               count, requested)

    async def addresses_held(self, subnet_id: str) -> set[str]:
        """Every address of the subnet in use: instances' and the parts' (NAT gateways)."""
        used = set(await self.ports.addresses_in(subnet_id))
        for part in self.members:
            used |= await part.held_addresses(subnet_id)
        return used

    async def ports_changed(self) -> None:
        """Instances came into or left own subnets: OVN's ports follow."""
        if self.vpc_mode:
            await self.changed()

    async def group_ports(self, group_ids: list[str]) -> dict[str, list[str]]:
        """{security group id: the OVN port names of the interfaces in it, attached to live
        instances in own subnets} (OvnSecurity's `ports_of`: each VPC group's port group
        holds them; a primary interface's groups are its instance's)."""
        out: dict[str, list[str]] = {}
        for row in await self.ports.of_groups(group_ids) if group_ids else []:
            out.setdefault(row["group_id"], []).append(port_name(row["eni_id"]))
        return out

    async def ovn_ports(self) -> list[SwitchPort]:
        """Every network interface in an own subnet attached to a live instance, as
        OVN's logical switch ports should be (its secondary addresses too)."""
        out: list[SwitchPort] = []
        for eni_id, rows in groupby(await self.ports.ports(), key=lambda r: r["eni_id"]):
            first, *others = list(rows)
            out.append(SwitchPort(eni_id, first["id"], first["subnet_id"], first["account_id"],
                                  first["mac"], first["private_ip"],
                                  tuple(r["private_ip"] for r in others),
                                  bool(first["source_dest_check"])))
        return out
