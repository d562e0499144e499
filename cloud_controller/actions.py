"""The one table from an EC2 `Action` to its handler, request type and permission."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from cloud_controller.api import account, instance_types, keypairs, tags, zones
from mallee.xml import aws_query_renderer


@dataclass(frozen=True)
class Action:
    handler: Callable[..., Awaitable[dict]]
    request: type
    admin_only: bool = False
    render: Callable[[str, dict, str], bytes] | None = None  # None: EC2's format


_sts = aws_query_renderer(account.STS_NAMESPACE)
_iam = aws_query_renderer(account.IAM_NAMESPACE)

ACTIONS: dict[str, Action] = {
    "DescribeRegions": Action(zones.describe_regions, zones.DescribeRegionsRequest),
    "DescribeAvailabilityZones": Action(zones.describe_availability_zones,
                                        zones.DescribeAvailabilityZonesRequest),
    "DescribeInstanceTypes": Action(instance_types.describe_instance_types,
                                    instance_types.DescribeInstanceTypesRequest),
    "CreateKeyPair": Action(keypairs.create_key_pair, keypairs.CreateKeyPairRequest),
    "ImportKeyPair": Action(keypairs.import_key_pair, keypairs.ImportKeyPairRequest),
    "DescribeKeyPairs": Action(keypairs.describe_key_pairs, keypairs.DescribeKeyPairsRequest),
    "DeleteKeyPair": Action(keypairs.delete_key_pair, keypairs.DeleteKeyPairRequest),
    "CreateTags": Action(tags.create_tags, tags.CreateTagsRequest),
    "DeleteTags": Action(tags.delete_tags, tags.DeleteTagsRequest),
    "DescribeTags": Action(tags.describe_tags, tags.DescribeTagsRequest),
    "DescribeAccountAttributes": Action(account.describe_account_attributes,
                                        account.DescribeAccountAttributesRequest),
    "GetCallerIdentity": Action(account.get_caller_identity, account.EmptyRequest, render=_sts),
    "GetUser": Action(account.get_user, account.GetUserRequest, render=_iam),
}
