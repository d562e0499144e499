"""tests/api/test_fuzz_ec2.py's fuzzing (botocore's model, hostile values) on a
vpc-mode cloud, where the VPC actions reach their handlers (in edge mode they
answer UnsupportedOperation first): never a 5xx."""
import pytest

from tests.api.test_fuzz_ec2 import fuzz_action

VPC_ROUTING_ACTIONS = (
    "CreateInternetGateway", "AttachInternetGateway", "DetachInternetGateway",
    "DeleteInternetGateway", "DescribeInternetGateways", "CreateRouteTable",
    "DeleteRouteTable", "DescribeRouteTables", "AssociateRouteTable",
    "DisassociateRouteTable", "ReplaceRouteTableAssociation", "CreateRoute", "ReplaceRoute",
    "DeleteRoute", "CreateNatGateway", "DeleteNatGateway", "DescribeNatGateways",
    "CreateDhcpOptions", "DeleteDhcpOptions", "AssociateDhcpOptions", "DescribeDhcpOptions")

VPC_SECURITY_ACTIONS = (
    "CreateSecurityGroup", "DescribeSecurityGroups", "AuthorizeSecurityGroupEgress",
    "CreateNetworkAcl", "DeleteNetworkAcl", "DescribeNetworkAcls", "CreateNetworkAclEntry",
    "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry", "ReplaceNetworkAclAssociation",
    "DescribeVpcAttribute", "ModifyVpcAttribute", "AssociateVpcCidrBlock",
    "DisassociateVpcCidrBlock", "CreateDefaultVpc")

VPC_INTERFACE_ACTIONS = (
    "CreateNetworkInterface", "DeleteNetworkInterface", "DescribeNetworkInterfaces",
    "AttachNetworkInterface", "DetachNetworkInterface", "ModifyNetworkInterfaceAttribute",
    "DescribeNetworkInterfaceAttribute", "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses")


@pytest.fixture(scope="module")
def fuzzed_vcloud(vcloud):
    vcloud.tenant = vcloud.new_account("fuzz-vpc")
    return vcloud


@pytest.mark.parametrize("action", VPC_ROUTING_ACTIONS + VPC_SECURITY_ACTIONS
                         + VPC_INTERFACE_ACTIONS)
def test_hostile_values_in_vpc_mode(fuzzed_vcloud, action):
    fuzz_action(fuzzed_vcloud, action)
