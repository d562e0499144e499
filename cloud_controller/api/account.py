"""DescribeAccountAttributes, and the identity calls tools make at the EC2 URL
(STS GetCallerIdentity, IAM GetUser: Ansible and Terraform ask them first)."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.services.vpcs import default_vpc_id
from mallee import errors
from cloud_controller.api.query import listparam, param
from mallee.xmlwrite import iso8601

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"

# Eucalyptus's EDGE limits per account, as AWS names them (the per-account and
# configured values are filled in by describe_account_attributes).
ATTRIBUTES = {
    "supported-platforms": ["EC2", "VPC"],
    "default-vpc": ["none"],
    "max-instances": ["20"],
    "max-elastic-ips": ["5"],
    "vpc-max-elastic-ips": ["5"],
    "vpc-max-security-groups-per-interface": ["5"],
}


@dataclass
class DescribeAccountAttributesRequest:
    attribute_names: list[str] = listparam("AttributeName")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class EmptyRequest:
    pass


@dataclass
class GetUserRequest:
    user_name: str = param("UserName")


async def describe_account_attributes(ctx: RequestContext,
                                      req: DescribeAccountAttributesRequest) -> dict:
    names = req.attribute_names or list(ATTRIBUTES)
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown:
        raise errors.InvalidParameter(f"Invalid attribute names: {', '.join(unknown)}")
    settings = ctx.cloud.settings
    eips = [str(settings.network.max_addresses_per_account)]
    values = dict(ATTRIBUTES, **{
        "max-instances": [str(settings.clc.max_instances_per_account)],
        "default-vpc": [default_vpc_id(ctx.account_id)],
        "max-elastic-ips": eips, "vpc-max-elastic-ips": eips})
    return {"accountAttributeSet": [
        {"attributeName": n,
         "attributeValueSet": [{"attributeValue": v} for v in values[n]]} for n in names]}


async def get_caller_identity(ctx: RequestContext, req: EmptyRequest) -> dict:
    c = ctx.credential
    return {"Arn": c.arn, "UserId": c.user_id, "Account": c.account_id}


async def get_user(ctx: RequestContext, req: GetUserRequest) -> dict:
    c = ctx.credential
    if req.user_name not in (None, c.user_name):
        raise errors.NoSuchEntity(f"The user with name {req.user_name} cannot be found.")
    return {"User": {"Path": "/", "UserName": c.user_name, "UserId": c.user_id, "Arn": c.arn,
                     "CreateDate": iso8601(0)}}
