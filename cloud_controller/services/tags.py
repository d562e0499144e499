"""Tags on every taggable resource, checked against the caller's account.

Resource ids are recognised by prefix; each kind names its table and the
error AWS gives when an id is not found. Another account's resource is "not
found", never "forbidden", so ids leak nothing across accounts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cloud_controller.db.tags import TagRepository
from mallee import errors


@dataclass(frozen=True)
class ResourceKind:
    prefix: str
    type: str  # EC2's resource-type, e.g. key-pair, instance (the repository's name for it)
    not_found: type[errors.ApiError]


# Later resources (volumes, snapshots...) add themselves here and to db/tags.py's TABLES.
KINDS: dict[str, ResourceKind] = {
    "key": ResourceKind("key", "key-pair", errors.InvalidKeyPairNotFound),
    "ami": ResourceKind("ami", "image", errors.InvalidAMIIDNotFound),
    "aki": ResourceKind("aki", "image", errors.InvalidAMIIDNotFound),
    "ari": ResourceKind("ari", "image", errors.InvalidAMIIDNotFound),
    "i": ResourceKind("i", "instance", errors.InvalidInstanceIDNotFound),
    "sg": ResourceKind("sg", "security-group", errors.InvalidGroupNotFound),
    "sgr": ResourceKind("sgr", "security-group-rule",
                        errors.InvalidSecurityGroupRuleIdNotFound),
    "vpc": ResourceKind("vpc", "vpc", errors.InvalidVpcIDNotFound),
    "subnet": ResourceKind("subnet", "subnet", errors.InvalidSubnetIDNotFound),
    "eipalloc": ResourceKind("eipalloc", "elastic-ip", errors.InvalidAllocationIDNotFound),
    "eni": ResourceKind("eni", "network-interface", errors.InvalidNetworkInterfaceIDNotFound),
    "vol": ResourceKind("vol", "volume", errors.InvalidVolumeNotFound),
    "snap": ResourceKind("snap", "snapshot", errors.InvalidSnapshotNotFound),
    "acl": ResourceKind("acl", "network-acl", errors.InvalidNetworkAclIDNotFound),
    "igw": ResourceKind("igw", "internet-gateway", errors.InvalidInternetGatewayIDNotFound),
    "rtb": ResourceKind("rtb", "route-table", errors.InvalidRouteTableIDNotFound),
    "nat": ResourceKind("nat", "natgateway", errors.NatGatewayNotFound),
    "dopt": ResourceKind("dopt", "dhcp-options", errors.InvalidDhcpOptionIDNotFound),
}

_ID = re.compile(r"^([a-z]+)-[0-9a-f]{8,17}$")
MAX_TAGS = 50


def kind_of(resource_id: str) -> ResourceKind:
    m = _ID.match(resource_id)
    if not m or m.group(1) not in KINDS:
        raise errors.InvalidID(f"The ID '{resource_id}' is not valid")
    return KINDS[m.group(1)]


def check_tag(key: str, value: str) -> None:
    if not key or len(key) > 128:
        raise errors.InvalidParameterValue("Tag keys must be 1 to 128 characters long.")
    if len(value) > 256:
        raise errors.InvalidParameterValue("Tag values must be at most 256 characters long.")
    if key.lower().startswith("aws:"):
        raise errors.InvalidParameterValue("Tag keys starting with 'aws:' are reserved.")


class TagService:
    def __init__(self, db):
        self.db = db
        self.repo = TagRepository(db)

    async def resolve(self, account_id: str, resource_id: str) -> ResourceKind:
        kind = kind_of(resource_id)
        if not await self.repo.resource_exists(account_id, kind.type, resource_id):
            raise kind.not_found(f"The {kind.type} ID '{resource_id}' does not exist")
        return kind

    async def create(self, account_id: str, resource_ids: list[str],
                     tags: list[tuple[str, str]]) -> None:
        for key, value in tags:
            check_tag(key, value)
        async with self.db.unit():  # the count that decides is read in the unit that writes
            kinds = [await self.resolve(account_id, rid) for rid in resource_ids]
            for rid, kind in zip(resource_ids, kinds):
                for key, value in tags:
                    await self.repo.put(account_id, rid, kind.type, key, value)
                if await self.repo.count(rid) > MAX_TAGS:
                    raise errors.ResourceLimitExceeded(
                        f"The resource '{rid}' would have more than {MAX_TAGS} tags.")

    async def tag_new(self, account_id: str, resource_id: str, resource_type: str,
                      tags: list[tuple[str, str]]) -> None:
        """Tags of a resource the caller is making, in the caller's unit."""
        for key, value in tags:
            check_tag(key, value)
        async with self.db.unit():
            for key, value in tags:
                await self.repo.put(account_id, resource_id, resource_type, key, value)

    async def forget(self, resource_id: str) -> None:
        """A deleted resource's tags go with it (in the caller's unit)."""
        async with self.db.unit():
            await self.repo.drop_resource(resource_id)

    async def delete(self, account_id: str, resource_ids: list[str],
                     tags: list[tuple[str, str | None]]) -> None:
        async with self.db.unit():
            for rid in resource_ids:
                await self.resolve(account_id, rid)
            for rid in resource_ids:
                if not tags:
                    await self.repo.drop_resource(rid)
                for key, value in tags:
                    await self.repo.delete(account_id, rid, key, value)

    async def all(self, account_id: str):
        return await self.repo.for_account(account_id)

    async def of(self, resource_ids: list[str]) -> dict[str, dict[str, str]]:
        return await self.repo.for_resources(resource_ids)
