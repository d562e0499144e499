"""VPC mode: the attributes (Describe/ModifyVpcAttribute) and secondary IPv4 CIDR
blocks (Associate/DisassociateVpcCidrBlock) of own VPCs (docs/vpc.md). The
default VPC's attributes stay EDGE's, read-only.

The attributes are stored and shown; the DNS ones have no data-plane effect
yet (guests on OVN are the next layer). A secondary block widens what
CreateSubnet accepts; it needs nothing in OVN (each subnet is its own switch
and router port).
"""
from __future__ import annotations

import ipaddress

from cloud_controller.db.vpc_attributes import VpcAttributeRepository
from cloud_controller.services.vpcs import PREFIX_RANGE, VpcPart, parse_network
from mallee import errors
from mallee.ids import resource_id

# Wire name -> column (migration 0015).
ATTRIBUTES = {"enableDnsSupport": "enable_dns_support",
              "enableDnsHostnames": "enable_dns_hostnames",
              "enableNetworkAddressUsageMetrics": "enable_nau_metrics"}
# EDGE's dnsmasq resolves for guests and names them (private DNS names), as a default
# VPC's DNS support and hostnames do; there are no usage metrics.
DEFAULT_VPC_VALUES = {"enableDnsSupport": True, "enableDnsHostnames": True,
                      "enableNetworkAddressUsageMetrics": False}
MAX_CIDR_BLOCKS = 5  # EC2's default quota of IPv4 blocks per VPC, the primary one counted
# EC2's restriction on secondary blocks: a VPC whose primary block is in one of these
# ranges may not add a block from another of them (a public primary: none of them).
RESTRICTED = [ipaddress.IPv4Network(n) for n in
              ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "198.19.0.0/16")]
SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # allowed beside any primary


def primary_association_id(vpc_id: str) -> str:
    return "vpc-cidr-assoc-" + vpc_id[4:]


def _range_of(network: ipaddress.IPv4Network):
    return next((r for r in RESTRICTED if network.subnet_of(r)), None)


def check_secondary(primary: str, existing: list[str], network: ipaddress.IPv4Network) -> None:
    if network.prefixlen not in PREFIX_RANGE:
        raise errors.InvalidVpcRange(f"The CIDR '{network}' is invalid.")
    home = _range_of(ipaddress.IPv4Network(primary))
    if not network.subnet_of(SHARED) and any(
            network.overlaps(r) and r != home for r in RESTRICTED):
        raise errors.InvalidVpcRange(f"The CIDR '{network}' is restricted. Use a CIDR from the "
                                     "same private address range as the current VPC CIDR, or "
                                     "use a publicly-routable CIDR.")
    for other in [primary] + existing:
        if network.overlaps(ipaddress.IPv4Network(other)):
            raise errors.InvalidVpcRange(
                f"The CIDR '{network}' conflicts with another CIDR block of the VPC ({other}).")


class VpcAttributeService(VpcPart):
    def __init__(self, db, vpcs):
        self.db = db
        self.vpcs = vpcs  # VpcService: own VPCs, the default one
        self.repo = VpcAttributeRepository(db)
        vpcs.members.append(self)

    # ---- VpcPart: secondary blocks widen where subnets go; they go with the VPC ----

    async def vpc_blocks(self, vpc_id: str) -> list[str]:
        return [r["cidr"] for r in await self.repo.cidr_blocks([vpc_id])]

    async def vpc_deleting(self, vpc_id: str) -> None:
        await self.repo.delete_cidr_blocks(vpc_id)

    async def default_vpc_created(self, account_id: str, vpc_id: str) -> None:
        """vpc mode's real default VPC: AWS's values for a default VPC, stored."""
        for wire, value in DEFAULT_VPC_VALUES.items():
            await self.repo.set_attribute(vpc_id, ATTRIBUTES[wire], value)

    def _is_default(self, account_id: str, vpc_id: str) -> bool:
        """Edge mode's facade (its fixed values); in vpc mode every VPC is stored."""
        return not self.vpcs.vpc_mode

    async def attributes(self, account_id: str, vpc_id: str) -> dict[str, bool]:
        if self._is_default(account_id, vpc_id):
            self.vpcs.check_vpc(account_id, vpc_id)
            return dict(DEFAULT_VPC_VALUES)
        await self.vpcs.own_vpc(account_id, vpc_id)
        stored = await self.repo.attributes(vpc_id)
        return {wire: stored[column] for wire, column in ATTRIBUTES.items()}

    async def modify(self, account_id: str, vpc_id: str, values: dict[str, bool]) -> None:
        """One attribute per call, as EC2 takes them."""
        if len(values) != 1:
            raise errors.InvalidParameterCombination(
                "Exactly one of EnableDnsSupport, EnableDnsHostnames and "
                "EnableNetworkAddressUsageMetrics must be given per request.")
        async with self.db.unit():
            await self.vpcs.own_vpc(account_id, vpc_id)  # the default one: EDGE's
            (wire, value), = values.items()
            await self.repo.set_attribute(vpc_id, ATTRIBUTES[wire], value)

    async def blocks(self, vpc_ids: list[str]) -> dict[str, list]:
        """Each VPC's secondary blocks (rows: id, vpc_id, cidr), oldest first."""
        out: dict[str, list] = {v: [] for v in vpc_ids}
        for row in await self.repo.cidr_blocks(vpc_ids):
            out[row["vpc_id"]].append(row)
        return out

    async def associate(self, account_id: str, vpc_id: str, cidr: str | None) -> tuple[str, str]:
        network = parse_network(cidr, "cidrBlock")
        association_id = resource_id("vpc-cidr-assoc")
        async with self.db.unit():
            vpc = await self.vpcs.own_vpc(account_id, vpc_id)
            existing = [r["cidr"] for r in await self.repo.cidr_blocks([vpc_id])]
            if len(existing) + 1 >= MAX_CIDR_BLOCKS:
                raise errors.CidrLimitExceeded(
                    f"This network '{vpc_id}' has met its maximum number of allowed CIDRs: "
                    f"{MAX_CIDR_BLOCKS}")
            check_secondary(vpc.cidr, existing, network)
            await self.repo.insert_cidr_block(association_id, vpc_id, str(network))
        return association_id, str(network)

    async def disassociate(self, account_id: str, association_id: str) -> tuple[str, str]:
        """The block's VPC and CIDR, once it is gone."""
        async with self.db.unit():
            for vpc in await self.vpcs.own_vpcs(account_id):
                if association_id == primary_association_id(vpc.id):
                    raise errors.OperationNotPermitted(
                        f"The vpc CIDR block with association ID {association_id} may not be "
                        "disassociated. It is the primary IPv4 CIDR block of the VPC")
            row = await self.repo.cidr_block(account_id, association_id)
            if row is None:
                raise errors.InvalidVpcCidrBlockAssociationIDNotFound(
                    f"The vpc CIDR block association ID '{association_id}' does not exist")
            block = ipaddress.IPv4Network(row["cidr"])
            for subnet in await self.vpcs.own_subnets(account_id):
                if subnet.vpc_id == row["vpc_id"] and \
                        ipaddress.IPv4Network(subnet.cidr).subnet_of(block):
                    raise errors.DependencyViolation(
                        f"The vpc CIDR block {row['cidr']} has dependencies (subnet "
                        f"{subnet.id}) and cannot be disassociated.")
            await self.repo.delete_cidr_block(association_id)
        return row["vpc_id"], row["cidr"]
