"""The tenancy matrix for the EC2 Query API (issue 11), generated from ACTIONS.

Every action of cloud_controller/api/actions.py is called with each resource
parameter it takes (read from botocore's model) set to the owner's resource,
as another account and unsigned. Another account gets the AWS not-found error
of that kind of resource (or UnauthorizedOperation for an admin-only action),
an unsigned request MissingAuthenticationToken/AuthFailure, and the owner's
view (re-described after every cell) does not change. Listings (Describe*,
Get* without a required parameter) must not show any of the owner's ids,
names, addresses or tag values to the other account.

A new ACTIONS entry fails `test_every_action_is_in_the_matrix` until it has a
TEMPLATE (how an account calls it on its own resources) or an EXEMPT reason;
a new parameter fails `test_every_parameter_is_classified` until it is mapped
to a resource kind (KIND_OF) or listed as NOT_A_RESOURCE.
"""
from __future__ import annotations

from dataclasses import dataclass

import boto3
import botocore
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from cloud_controller.api.actions import ACTIONS
from mallee.images.publish import Signer, publish_image
from tests.tenancy import Tally, leaked, report

_session = botocore.session.get_session()
MODELS = {name: _session.get_service_model(name) for name in ("ec2", "sts", "iam")}


def model_of(action: str):
    return next(m for m in MODELS.values() if action in m.operation_names)


def members(action: str) -> dict:
    shape = model_of(action).operation_model(action).input_shape
    return dict(shape.members) if shape else {}


def required(action: str) -> list[str]:
    shape = model_of(action).operation_model(action).input_shape
    return list(shape.required_members) if shape else []


def ignored(action: str, member: str) -> bool:
    """Mallee takes the parameter but does not act on it (the request type's IGNORED)."""
    shape = members(action)[member]
    wire = shape.serialization.get("queryName") or shape.serialization.get("name") or member
    wire = wire[0].upper() + wire[1:]
    return wire in getattr(ACTIONS[action].request, "IGNORED", ())


# ---- the resource kinds ----------------------------------------------------

# kind -> the error another account gets when it names the owner's resource.
# `name` (creating one's own resource under the owner's name), `account`
# (naming the owner's account id in a listing) and `manifest` are not errors
# of a kind: see EXPECT_SUCCESS and NOT_FOUND["manifest"].
NOT_FOUND = {
    "instance": {"InvalidInstanceID.NotFound"},
    "image": {"InvalidAMIID.NotFound"},
    "keypair": {"InvalidKeyPair.NotFound"},
    "group": {"InvalidGroup.NotFound"},
    "rule": {"InvalidSecurityGroupRuleId.NotFound"},
    "address": {"InvalidAllocationID.NotFound"},
    "public_ip": {"InvalidAddress.NotFound", "AuthFailure"},  # AWS: AuthFailure for another's EIP
    "association": {"InvalidAssociationID.NotFound"},
    "vpc": {"InvalidVpcID.NotFound"},
    "subnet": {"InvalidSubnetID.NotFound"},
    "route_table": {"InvalidRouteTableID.NotFound"},
    "igw": {"InvalidInternetGatewayID.NotFound"},
    "acl": {"InvalidNetworkAclID.NotFound"},
    "dopt": {"InvalidDhcpOptionID.NotFound"},
    "eni": {"InvalidNetworkInterfaceID.NotFound"},
    "volume": {"InvalidVolume.NotFound"},
    "snapshot": {"InvalidSnapshot.NotFound"},
    "user": {"NoSuchEntity"},
    "manifest": {"InvalidManifest"},  # another's bundle cannot be read, so it is not a manifest
}
# Kinds where the other account's call succeeds, in its own namespace: it makes
# its own key pair / group / image under the owner's name, or lists an account
# it may not see into (DescribeImages Owners=<owner>): nothing of the owner's
# may show, and the owner's view may not change.
EXPECT_SUCCESS = {"name", "account"}
TAGGABLE = ("instance", "image", "keypair", "group", "rule", "address", "vpc", "subnet", "eni",
            "volume", "snapshot")

# botocore member name -> the kind of resource it names.
KIND_OF = {
    "InstanceId": "instance", "InstanceIds": "instance",
    "ImageId": "image", "ImageIds": "image", "KernelId": "image", "RamdiskId": "image",
    "KeyPairId": "keypair", "KeyPairIds": "keypair", "KeyName": "keypair", "KeyNames": "keypair",
    "GroupId": "group", "GroupIds": "group", "GroupName": "group", "GroupNames": "group",
    "SecurityGroupIds": "group", "SecurityGroups": "group", "SourceSecurityGroupName": "group",
    "Groups": "group",
    "SecurityGroupRuleIds": "rule",
    "AllocationId": "address", "AllocationIds": "address",
    "PublicIp": "public_ip", "PublicIps": "public_ip", "Address": "public_ip",
    "AssociationId": "association",
    "VpcId": "vpc", "VpcIds": "vpc", "SubnetId": "subnet", "SubnetIds": "subnet",
    "RouteTableIds": "route_table", "InternetGatewayIds": "igw", "NetworkAclIds": "acl",
    "DhcpOptionsIds": "dopt", "NetworkInterfaceId": "eni", "NetworkInterfaceIds": "eni",
    "VolumeId": "volume", "VolumeIds": "volume",
    "SnapshotId": "snapshot", "SnapshotIds": "snapshot", "SourceSnapshotId": "snapshot",
    "UserName": "user", "ImageLocation": "manifest",
    "Owners": "account", "ExecutableUsers": "account",
    "OwnerIds": "account", "RestorableByUserIds": "account",
    "Resources": "taggable",  # one cell per taggable kind
}
# (action, member) whose name is the caller's own new resource's, not a reference.
KIND_OVERRIDE = {
    ("CreateKeyPair", "KeyName"): "name", ("ImportKeyPair", "KeyName"): "name",
    ("CreateSecurityGroup", "GroupName"): "name", ("RegisterImage", "Name"): "name",
}
# (action, member) whose name KIND_OF knows but which names nothing there:
# ModifySnapshotAttribute's GroupNames is the UserGroup `all`, not a security group.
NOT_A_RESOURCE_IN = {("ModifySnapshotAttribute", "GroupNames")}
# Members that name nothing of another account's (checked: every member of
# every action is either here, in KIND_OF/KIND_OVERRIDE, or IGNORED by Mallee).
NOT_A_RESOURCE = {
    "DryRun", "Filters", "MaxResults", "NextToken",
    "RegionNames", "AllRegions", "ZoneNames", "ZoneIds", "AllAvailabilityZones",  # cloud-wide
    "InstanceTypes", "InstanceType",  # cloud-wide catalogue / a VM type
    "KeyType", "KeyFormat", "PublicKeyMaterial", "IncludePublicKey",
    "Tags", "TagSpecifications", "AttributeNames", "Attribute", "Value", "OperationType",
    "Description", "LaunchPermission", "Architecture", "RootDeviceName", "Name",
    "MinCount", "MaxCount", "UserData", "Placement", "PrivateIpAddress", "ClientToken",
    "IncludeDeprecated", "IncludeAllInstances", "Force", "Hibernate", "NoReboot", "Latest",
    "IpPermissions", "IpProtocol", "FromPort", "ToPort", "CidrIp",
    "Domain", "AllowReassociation",
    "NetworkInterfaces",  # a launch's own interface specs (subnet and groups: SubnetId, SecurityGroupIds)
    "VpcEndpointIds",  # EDGE has no VPC endpoints that an account could own
    "MetadataOptions", "HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint",
    "HttpProtocolIpv6", "InstanceMetadataTags",
    "DisableApiStop", "DisableApiTermination", "EbsOptimized", "EnaSupport", "SourceDestCheck",
    "SriovNetSupport", "EnclaveOptions", "InstanceInitiatedShutdownBehavior",
    # Account ids, not resources: sharing one's own image with the owner, or naming
    # the owner's account as a group's owner, gives the other nothing of the owner's.
    "UserIds", "UserGroups", "SourceSecurityGroupOwnerId",
    # A volume's figures and zone (cloud-wide).
    "AvailabilityZone", "AvailabilityZoneId", "Size", "VolumeType", "Iops", "Throughput",
    "Encrypted", "MultiAttachEnabled",
    # A snapshot's sharing (account ids, as UserIds) and this cloud's one region.
    "CreateVolumePermission", "SourceRegion",
    # Where a volume goes in an instance: a device name, not a resource.
    "Device", "EbsCardIndex",
    # ModifyInstanceAttribute's {Value: kernel or ramdisk id} (checked as RunInstances'
    # KernelId: what the caller may launch) and the DeleteOnTermination of the caller's
    # own instance's devices: the InstanceId cell covers the instance.
    "Kernel", "Ramdisk", "BlockDeviceMappings",
}
# Cells where AWS answers success for a name the caller does not have, and so
# may Mallee, provided the owner's resource is untouched (the view check):
# EC2's DeleteKeyPair by KeyName is idempotent and returns true for any name.
NO_OP = {("DeleteKeyPair", "KeyName")}
# Members that replace one another (an action takes one of them).
ALTERNATIVES = [
    {"KeyName", "KeyPairId"}, {"KeyNames", "KeyPairIds"}, {"GroupId", "GroupName"},
    {"GroupIds", "GroupNames"}, {"SecurityGroupIds", "SecurityGroups"},
    {"AllocationId", "PublicIp"}, {"AssociationId", "PublicIp"}, {"AllocationIds", "PublicIps"},
    {"IpPermissions", "SecurityGroupRuleIds", "SourceSecurityGroupName"},
    {"InstanceId", "NetworkInterfaceId"},
]

# ---- how an account calls each action on its own resources ------------------

RULE = [{"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222,
         "IpRanges": [{"CidrIp": "10.99.99.99/32"}]}]
TEMPLATES = {
    "DescribeRegions": lambda r: {},
    "DescribeAvailabilityZones": lambda r: {},
    "DescribeInstanceTypes": lambda r: {},
    "CreateKeyPair": lambda r: {"KeyName": r.fresh("key")},
    "ImportKeyPair": lambda r: {"KeyName": r.fresh("imported"),
                                "PublicKeyMaterial": r.public_key},
    "DescribeKeyPairs": lambda r: {"KeyPairIds": [r.key_id]},
    "DeleteKeyPair": lambda r: {"KeyPairId": r.key_id},
    "CreateTags": lambda r: {"Resources": [r.instance], "Tags": [{"Key": "tm-new", "Value": "x"}]},
    "DeleteTags": lambda r: {"Resources": [r.instance], "Tags": [{"Key": "tm-secret"}]},
    "DescribeTags": lambda r: {},
    "DescribeAccountAttributes": lambda r: {},
    "RegisterImage": lambda r: {"ImageLocation": r.manifest, "Name": r.fresh("img")},
    "DescribeImages": lambda r: {"ImageIds": [r.image]},
    "DeregisterImage": lambda r: {"ImageId": r.image},
    "CreateImage": lambda r: {"InstanceId": r.instance, "Name": r.fresh("img")},
    "DescribeImageAttribute": lambda r: {"ImageId": r.image, "Attribute": "description"},
    "ModifyImageAttribute": lambda r: {"ImageId": r.image,
                                       "LaunchPermission": {"Add": [{"Group": "all"}]}},
    "ResetImageAttribute": lambda r: {"ImageId": r.image, "Attribute": "launchPermission"},
    "RunInstances": lambda r: {"ImageId": r.public_image, "MinCount": 1, "MaxCount": 1,
                               "InstanceType": "m1.small", "KeyName": r.key_name,
                               "SecurityGroupIds": [r.group], "SubnetId": r.subnet},
    "DescribeInstances": lambda r: {"InstanceIds": [r.instance]},
    "DescribeInstanceStatus": lambda r: {"InstanceIds": [r.instance]},
    "TerminateInstances": lambda r: {"InstanceIds": [r.instance]},
    "RebootInstances": lambda r: {"InstanceIds": [r.instance]},
    "StopInstances": lambda r: {"InstanceIds": [r.instance]},
    "StartInstances": lambda r: {"InstanceIds": [r.instance]},
    "GetConsoleOutput": lambda r: {"InstanceId": r.instance},
    "DescribeInstanceAttribute": lambda r: {"InstanceId": r.instance, "Attribute": "userData"},
    "ModifyInstanceAttribute": lambda r: {"InstanceId": r.instance, "Groups": [r.group]},
    "CreateSecurityGroup": lambda r: {"GroupName": r.fresh("sg"), "Description": "tm",
                                      "VpcId": r.vpc},
    "DeleteSecurityGroup": lambda r: {"GroupId": r.group},
    "DescribeSecurityGroups": lambda r: {"GroupIds": [r.group]},
    "AuthorizeSecurityGroupIngress": lambda r: {"GroupId": r.group, "IpPermissions": RULE},
    "AuthorizeSecurityGroupEgress": lambda r: {"GroupId": r.group, "IpPermissions": RULE},
    "RevokeSecurityGroupIngress": lambda r: {"GroupId": r.group, "IpPermissions": RULE},
    "RevokeSecurityGroupEgress": lambda r: {"GroupId": r.group, "IpPermissions": RULE},
    "DescribeSecurityGroupRules": lambda r: {"SecurityGroupRuleIds": [r.ingress_rule]},
    "DescribeVpcs": lambda r: {"VpcIds": [r.vpc]},
    "DescribeSubnets": lambda r: {"SubnetIds": [r.subnet]},
    "DescribeVpcAttribute": lambda r: {"VpcId": r.vpc, "Attribute": "enableDnsSupport"},
    "DescribeRouteTables": lambda r: {"RouteTableIds": [r.route_table]},
    "DescribeInternetGateways": lambda r: {"InternetGatewayIds": [r.igw]},
    "DescribeNetworkAcls": lambda r: {"NetworkAclIds": [r.acl]},
    "DescribeDhcpOptions": lambda r: {"DhcpOptionsIds": [r.dopt]},
    "DescribeVpcEndpoints": lambda r: {},
    "DescribeNetworkInterfaces": lambda r: {"NetworkInterfaceIds": [r.eni]},
    "DescribeNetworkInterfaceAttribute": lambda r: {"NetworkInterfaceId": r.eni,
                                                    "Attribute": "groupSet"},
    "DescribeInstanceCreditSpecifications": lambda r: {"InstanceIds": [r.instance]},
    "ModifyInstanceMetadataOptions": lambda r: {"InstanceId": r.instance,
                                                "HttpTokens": "optional"},
    "GetInstanceUefiData": lambda r: {"InstanceId": r.instance},
    "GetPasswordData": lambda r: {"InstanceId": r.instance},
    "DescribeAddressesAttribute": lambda r: {"AllocationIds": [r.alloc],
                                             "Attribute": "domain-name"},
    "AllocateAddress": lambda r: {"Domain": "vpc"},
    "AssociateAddress": lambda r: {"AllocationId": r.free_alloc, "InstanceId": r.instance},
    "DisassociateAddress": lambda r: {"AssociationId": r.association},
    "ReleaseAddress": lambda r: {"AllocationId": r.free_alloc},
    "DescribeAddresses": lambda r: {"AllocationIds": [r.free_alloc]},
    "DescribeVolumes": lambda r: {"VolumeIds": [r.volume]},
    "DeleteVolume": lambda r: {"VolumeId": r.volume},
    "DescribeVolumeStatus": lambda r: {"VolumeIds": [r.volume]},
    "DescribeVolumeAttribute": lambda r: {"VolumeId": r.volume, "Attribute": "autoEnableIO"},
    "ModifyVolume": lambda r: {"VolumeId": r.volume, "Size": 2},
    "DescribeVolumesModifications": lambda r: {"VolumeIds": [r.volume]},
    "AttachVolume": lambda r: {"VolumeId": r.volume, "InstanceId": r.instance,
                               "Device": "/dev/sdf"},
    "DetachVolume": lambda r: {"VolumeId": r.volume},
    "CreateVolume": lambda r: {"AvailabilityZone": r.zone, "SnapshotId": r.snapshot},
    "CreateSnapshot": lambda r: {"VolumeId": r.volume},
    "DescribeSnapshots": lambda r: {"SnapshotIds": [r.snapshot]},
    "DeleteSnapshot": lambda r: {"SnapshotId": r.snapshot},
    "CopySnapshot": lambda r: {"SourceRegion": r.region, "SourceSnapshotId": r.snapshot},
    "DescribeSnapshotAttribute": lambda r: {"SnapshotId": r.snapshot,
                                            "Attribute": "createVolumePermission"},
    "ModifySnapshotAttribute": lambda r: {"SnapshotId": r.snapshot, "CreateVolumePermission": {
        "Add": [{"Group": "all"}]}},
    "ResetSnapshotAttribute": lambda r: {"SnapshotId": r.snapshot,
                                         "Attribute": "createVolumePermission"},
    "GetCallerIdentity": lambda r: {},
    "GetUser": lambda r: {"UserName": r.user_name},
}
# Actions in ACTIONS with no template, each with the reason it is not a cell.
EXEMPT: dict[str, str] = {
    **{action: "CloudWatch (api/cloudwatch.py): its series are not EC2 resources this matrix "
               "names; every series belongs to one account: "
               "tests/api/test_cloudwatch.py::test_accounts_see_only_their_own"
       for action in ("ListMetrics", "GetMetricStatistics", "GetMetricData", "PutMetricData")},
    "CreateSnapshots": "its one reference is InstanceSpecification.InstanceId, inside a "
                       "structure the matrix does not fill; the instance is looked up in the "
                       "caller's account (InstanceService.find), as DescribeInstances does",
    **{action: "vpc mode only (docs/vpc.md): this matrix runs an edge cloud, where it "
               "answers UnsupportedOperation; accounts in vpc mode are checked apart by "
               "tests/api/test_vpc_ovn.py::test_accounts_are_apart"
       for action in ("CreateVpc", "DeleteVpc", "CreateSubnet", "DeleteSubnet",
                      "ModifySubnetAttribute")},
    **{action: "vpc mode only (docs/vpc.md): this matrix runs an edge cloud, where it "
               "answers UnsupportedOperation; accounts in vpc mode are checked apart by "
               "tests/api/test_vpc_security.py::test_accounts_are_apart"
       for action in ("CreateNetworkAcl", "DeleteNetworkAcl", "CreateNetworkAclEntry",
                      "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry",
                      "ReplaceNetworkAclAssociation", "ModifyVpcAttribute",
                      "AssociateVpcCidrBlock", "DisassociateVpcCidrBlock")},
    "CreateDefaultVpc": "names no resource and makes none: every account has its default "
                        "VPC, so it always answers DefaultVpcAlreadyExists "
                        "(tests/api/test_vpcs.py)",
    **{action: "vpc mode only (docs/vpc.md): this matrix runs an edge cloud, where it "
               "answers UnsupportedOperation (DescribeNatGateways: nothing to list); "
               "tests/api/test_vpc_routing.py::test_accounts_are_apart checks another "
               "account's gateways, tables and option sets are not found"
       for action in ("CreateRouteTable", "DeleteRouteTable", "AssociateRouteTable",
                      "DisassociateRouteTable", "ReplaceRouteTableAssociation",
                      "CreateRoute", "ReplaceRoute", "DeleteRoute", "CreateInternetGateway",
                      "AttachInternetGateway", "DetachInternetGateway",
                      "DeleteInternetGateway", "CreateNatGateway", "DeleteNatGateway",
                      "DescribeNatGateways", "CreateDhcpOptions", "DeleteDhcpOptions",
                      "AssociateDhcpOptions")},
    **{action: "vpc mode only (docs/vpc.md): this matrix runs an edge cloud, where it "
               "answers UnsupportedOperation; tests/api/test_vpc_interfaces.py::"
               "test_accounts_are_apart checks another account's interfaces are not found"
       for action in ("CreateNetworkInterface", "DeleteNetworkInterface",
                      "AttachNetworkInterface", "DetachNetworkInterface",
                      "ModifyNetworkInterfaceAttribute", "AssignPrivateIpAddresses",
                      "UnassignPrivateIpAddresses")},
}


@dataclass
class Resources:
    """One account's set of resources, made once for the session."""
    tag: str
    credential: object
    key_id: str = ""
    key_name: str = ""
    public_key: str = ""
    group: str = ""
    group_name: str = ""
    ingress_rule: str = ""
    egress_rule: str = ""
    image: str = ""
    image_name: str = ""
    manifest: str = ""
    public_image: str = ""
    instance: str = ""
    private_ip: str = ""
    alloc: str = ""          # associated with the instance
    public_ip: str = ""
    association: str = ""
    free_alloc: str = ""
    free_ip: str = ""
    vpc: str = ""
    subnet: str = ""
    route_table: str = ""
    igw: str = ""
    acl: str = ""
    dopt: str = ""
    eni: str = ""
    volume: str = ""
    snapshot: str = ""
    zone: str = ""
    region: str = ""
    user_name: str = ""
    secret: str = ""
    account_id: str = ""
    _fresh: int = 0

    def fresh(self, what: str) -> str:
        self._fresh += 1
        return f"tm-{self.tag}-new-{what}-{self._fresh}"

    def value(self, kind: str, member: str):
        """The owner's value for `member` naming a resource of `kind`."""
        by_name = member.endswith(("Name", "Names")) or member in ("SecurityGroups",)
        value = {
            "instance": self.instance, "image": self.image,
            "keypair": self.key_name if by_name else self.key_id,
            "group": self.group_name if by_name else self.group,
            "rule": self.ingress_rule if "Ingress" in member else self.egress_rule,
            "address": self.alloc, "public_ip": self.public_ip,
            "association": self.association, "vpc": self.vpc, "subnet": self.subnet,
            "route_table": self.route_table, "igw": self.igw, "acl": self.acl,
            "dopt": self.dopt, "eni": self.eni, "volume": self.volume,
            "snapshot": self.snapshot, "user": self.user_name, "manifest": self.manifest, "account": self.account_id,
        }[kind]
        return value

    def name_for(self, action: str) -> str:
        return {"CreateKeyPair": self.key_name, "ImportKeyPair": self.key_name,
                "CreateSecurityGroup": self.group_name, "RegisterImage": self.image_name}[action]

    def secrets(self) -> set[str]:
        """Everything of this account's that another must never be shown."""
        values = {self.key_id, self.key_name, self.group, self.group_name, self.ingress_rule,
                  self.egress_rule, self.image, self.image_name, self.instance, self.private_ip,
                  self.alloc, self.public_ip, self.association, self.free_alloc, self.free_ip,
                  self.vpc, self.subnet, self.route_table, self.igw, self.acl, self.dopt,
                  self.eni, self.volume, self.snapshot, self.user_name, self.secret}
        return {v for v in values if v}


def make_resources(cloud, credential, tag: str, public_image: str, workdir) -> Resources:
    ec2 = cloud.client("ec2", credential)
    r = Resources(tag, credential, public_image=public_image, account_id=credential.account_id,
                  secret=f"tm-{tag}-secret-value")
    key = ec2.create_key_pair(KeyName=f"tm-{tag}-key")
    r.key_id, r.key_name = key["KeyPairId"], key["KeyName"]
    private = serialization.load_pem_private_key(key["KeyMaterial"].encode(), None)
    r.public_key = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    r.vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    r.subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    r.route_table = ec2.describe_route_tables()["RouteTables"][0]["RouteTableId"]
    r.igw = ec2.describe_internet_gateways()["InternetGateways"][0]["InternetGatewayId"]
    r.acl = ec2.describe_network_acls()["NetworkAcls"][0]["NetworkAclId"]
    r.dopt = ec2.describe_dhcp_options()["DhcpOptions"][0]["DhcpOptionsId"]
    r.group_name = f"tm-{tag}-sg"
    r.group = ec2.create_security_group(GroupName=r.group_name, Description="tm")["GroupId"]
    ingress = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.1.2.3/32"}]}]
    egress = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
               "IpRanges": [{"CidrIp": "10.4.5.6/32"}]}]
    ec2.authorize_security_group_ingress(GroupId=r.group, IpPermissions=ingress)
    ec2.authorize_security_group_egress(GroupId=r.group, IpPermissions=egress)
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [r.group]}])["SecurityGroupRules"]
    r.ingress_rule = next(x["SecurityGroupRuleId"] for x in rules
                          if not x["IsEgress"] and x.get("FromPort") == 22)
    r.egress_rule = next(x["SecurityGroupRuleId"] for x in rules
                         if x["IsEgress"] and x.get("FromPort") == 443)
    # a private image of its own, in a private bucket of its own
    signer = Signer.from_env(cloud.cli_env(credential))
    blob = workdir / f"{tag}.img"
    blob.write_bytes(b"\0" * 4096 + tag.encode() * 1000)
    r.image_name, bucket = f"tm-{tag}-img", f"tm-{tag}-bundles"
    r.image = publish_image(ec2, cloud.client("s3", credential), signer, blob, workdir,
                            name=r.image_name, bucket=bucket, description=f"tm {tag}")
    r.manifest = f"{bucket}/{r.image_name}.manifest.xml"
    r.instance = ec2.run_instances(ImageId=public_image, MinCount=1, MaxCount=1,
                                   InstanceType="m1.small", KeyName=r.key_name,
                                   SecurityGroupIds=[r.group],
                                   UserData=f"tm {tag} user data")["Instances"][0]["InstanceId"]
    running = cloud.wait_for(lambda: _state(ec2, r.instance) == "running", timeout=30)
    assert running, f"{tag}'s instance {r.instance} never ran"
    described = ec2.describe_instances(InstanceIds=[r.instance])["Reservations"][0][
        "Instances"][0]
    r.private_ip = described.get("PrivateIpAddress", "")
    r.eni = described["NetworkInterfaces"][0]["NetworkInterfaceId"]
    first, second = (ec2.allocate_address(Domain="vpc") for _ in range(2))
    r.alloc, r.public_ip = first["AllocationId"], first["PublicIp"]
    r.free_alloc, r.free_ip = second["AllocationId"], second["PublicIp"]
    r.association = ec2.associate_address(AllocationId=r.alloc,
                                          InstanceId=r.instance)["AssociationId"]
    r.zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    r.region = cloud.settings.cloud.region
    r.volume = ec2.create_volume(AvailabilityZone=r.zone, Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[r.volume],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    r.snapshot = ec2.create_snapshot(VolumeId=r.volume, Description=f"tm {tag}")["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[r.snapshot],
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.create_tags(Resources=[r.instance, r.image, r.key_id, r.group, r.ingress_rule,
                               r.alloc, r.vpc, r.subnet, r.eni, r.volume, r.snapshot],
                    Tags=[{"Key": "tm-secret", "Value": r.secret}])
    r.user_name = f"tm-{tag}-user"
    cloud.run(cloud.admin_client.user_create(credential.account_name, r.user_name))
    return r


def _state(ec2, instance_id: str) -> str:
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return found[0]["Instances"][0]["State"]["Name"] if found else ""


def taggable_id(r: Resources, kind: str) -> str:
    return {"instance": r.instance, "image": r.image, "keypair": r.key_id, "group": r.group,
            "rule": r.ingress_rule, "address": r.alloc, "vpc": r.vpc, "subnet": r.subnet,
            "eni": r.eni, "volume": r.volume, "snapshot": r.snapshot}[kind]


# ---- the cells ----------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    action: str
    member: str | None   # None: the listing cell
    kind: str | None

    @property
    def id(self) -> str:
        return f"{self.action}-{self.member}-{self.kind}" if self.member else \
            f"{self.action}-listing"


def kind_of(action: str, member: str) -> str | None:
    if (action, member) in NOT_A_RESOURCE_IN:
        return None
    return KIND_OVERRIDE.get((action, member)) or KIND_OF.get(member)


def is_listing(action: str) -> bool:
    return action.startswith(("Describe", "Get")) and not required(action)


def cells() -> list[Cell]:
    out = []
    for action in ACTIONS:
        if action in EXEMPT or action not in TEMPLATES:
            continue  # test_every_action_is_in_the_matrix fails for the latter
        for member in members(action):
            kind = kind_of(action, member)
            if kind is None or ignored(action, member):
                continue
            kinds = TAGGABLE if kind == "taggable" else (kind,)
            out += [Cell(action, member, k) for k in kinds]
        if is_listing(action):
            out.append(Cell(action, None, None))
    return out


CELLS = cells()
ROLES = ("other", "anonymous")
TALLY = Tally("EC2")


def test_every_action_is_in_the_matrix():
    missing = [a for a in ACTIONS if a not in TEMPLATES and a not in EXEMPT]
    assert not missing, ("new ACTIONS entries with neither a TEMPLATE in the tenancy matrix "
                         f"nor an EXEMPT reason: {missing}")
    stale = [a for a in (*TEMPLATES, *EXEMPT) if a not in ACTIONS]
    assert not stale, f"the tenancy matrix names actions ACTIONS no longer has: {stale}"


def test_every_parameter_is_classified():
    unclassified = sorted({f"{a}.{m}" for a in TEMPLATES for m in members(a)
                           if kind_of(a, m) is None and m not in NOT_A_RESOURCE
                           and (a, m) not in NOT_A_RESOURCE_IN and not ignored(a, m)})
    assert not unclassified, ("parameters the tenancy matrix does not know: map each to a "
                              f"kind (KIND_OF) or list it in NOT_A_RESOURCE: {unclassified}")


def test_every_action_has_a_cell():
    covered = {c.action for c in CELLS}
    assert covered == set(TEMPLATES), f"actions with no cell: {set(TEMPLATES) - covered}"


# ---- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tenants(cloud, published, tmp_path_factory):
    owner = cloud.new_account("tm-owner")
    other = cloud.new_account("tm-other")
    work = tmp_path_factory.mktemp("tenancy")
    return (make_resources(cloud, owner, "owner", published["image"], work),
            make_resources(cloud, other, "other", published["image"], work))


_clients: dict = {}


def client(cloud, action: str, credential=None):
    """One boto3 client per service and caller (making one takes ~50 ms)."""
    service = next(name for name, m in MODELS.items() if action in m.operation_names)
    key = (id(cloud), service, credential and credential.access_key_id)
    if key not in _clients:
        _clients[key] = _new_client(cloud, service, credential)
    return _clients[key]


def _new_client(cloud, service: str, credential):
    if credential is None:
        return boto3.client(service, endpoint_url=cloud.ec2_url,
                            region_name=cloud.settings.cloud.region,
                            config=Config(signature_version=botocore.UNSIGNED,
                                          retries={"max_attempts": 1}))
    return cloud.client(service, credential)


def call(cloud, action: str, credential, params: dict) -> dict:
    c = client(cloud, action, credential)
    method = getattr(c, botocore.xform_name(action))
    response = method(**params)
    response.pop("ResponseMetadata", None)
    return response


def view(cloud, r: Resources) -> dict:
    """Everything of the owner's, as the owner sees it."""
    ec2 = client(cloud, "DescribeInstances", r.credential)

    def clean(response):
        response.pop("ResponseMetadata", None)
        return response
    instance = clean(ec2.describe_instances(InstanceIds=[r.instance]))
    return {
        "instances": instance,
        "instance_attrs": {a: clean(ec2.describe_instance_attribute(InstanceId=r.instance,
                                                                     Attribute=a))
                           for a in ("instanceType", "userData")},
        "images": clean(ec2.describe_images(Owners=["self"])),
        "image_attrs": {a: clean(ec2.describe_image_attribute(ImageId=r.image, Attribute=a))
                        for a in ("description", "launchPermission")},
        "keys": clean(ec2.describe_key_pairs(IncludePublicKey=True)),
        "groups": clean(ec2.describe_security_groups()),
        "rules": clean(ec2.describe_security_group_rules()),
        "addresses": clean(ec2.describe_addresses()),
        "tags": clean(ec2.describe_tags()),
        "vpcs": clean(ec2.describe_vpcs()),
        "interfaces": clean(ec2.describe_network_interfaces()),
        "volumes": clean(ec2.describe_volumes()),
        "volume_modifications": clean(ec2.describe_volumes_modifications()),
        "snapshots": clean(ec2.describe_snapshots(OwnerIds=["self"])),
        "snapshot_attrs": clean(ec2.describe_snapshot_attribute(
            SnapshotId=r.snapshot, Attribute="createVolumePermission")),
    }


@pytest.fixture(scope="module")
def baseline(cloud, tenants):
    return {"view": view(cloud, tenants[0])}


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    report(TALLY)


def _diff(before: dict, after: dict) -> list[str]:
    return [k for k in before if before[k] != after.get(k)]


def params_for(cell: Cell, owner: Resources, caller: Resources) -> dict:
    """The caller's own valid call, with the cell's parameter naming the owner's resource."""
    params = TEMPLATES[cell.action](caller)
    if cell.member is None:
        return {}
    for group in ALTERNATIVES:
        if cell.member in group:
            for alternative in group - {cell.member}:
                params.pop(alternative, None)
    if cell.kind == "name":
        value = owner.name_for(cell.action)
    elif cell.member == "Resources":
        value = taggable_id(owner, cell.kind)
    else:
        value = owner.value(cell.kind, cell.member)
    shape = members(cell.action)[cell.member]
    params[cell.member] = [value] if shape.type_name == "list" else value
    return params


def _cleanup(cloud, caller: Resources, action: str, response: dict) -> None:
    """Undo what a call that should have been refused (or a create cell) made."""
    ec2 = client(cloud, "DescribeInstances", caller.credential)
    if action in ("CreateKeyPair", "ImportKeyPair") and "KeyPairId" in response:
        ec2.delete_key_pair(KeyPairId=response["KeyPairId"])
    elif action == "CreateSecurityGroup" and "GroupId" in response:
        ec2.delete_security_group(GroupId=response["GroupId"])
    elif action == "RegisterImage" and "ImageId" in response:
        ec2.deregister_image(ImageId=response["ImageId"])
    elif action == "RunInstances":
        ids = [i["InstanceId"] for i in response.get("Instances", [])]
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
    elif action in ("CreateSnapshot", "CopySnapshot") and "SnapshotId" in response:
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[response["SnapshotId"]],
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.delete_snapshot(SnapshotId=response["SnapshotId"])
    elif action == "CreateVolume" and "VolumeId" in response:
        ec2.get_waiter("volume_available").wait(VolumeIds=[response["VolumeId"]],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.delete_volume(VolumeId=response["VolumeId"])
    elif action == "AllocateAddress" and "AllocationId" in response:
        ec2.release_address(AllocationId=response["AllocationId"])


def asked_values(cell: Cell, params: dict) -> set[str]:
    """The owner's values the cell itself sent (a response may echo them)."""
    if cell.member is None:
        return set()
    asked = params[cell.member]
    return set(asked) if isinstance(asked, list) else {asked}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_cell(cloud, tenants, baseline, cell, role):
    owner, other = tenants
    params = params_for(cell, owner, other)
    credential = other.credential if role == "other" else None
    where = f"{cell.action}({params}) as {role}"
    problems = []
    try:
        response = call(cloud, cell.action, credential, params)
        error = None
    except ClientError as exc:
        response, error = None, exc.response["Error"]
    if role == "anonymous":
        if error is None or error["Code"] not in ("MissingAuthenticationToken", "AuthFailure"):
            problems.append(f"unsigned request answered {error or response}")
    elif ACTIONS[cell.action].admin_only:
        if error is None or error["Code"] != "UnauthorizedOperation":
            problems.append(f"admin-only action answered {error or response}")
    elif cell.member is None or cell.kind in EXPECT_SUCCESS or \
            (cell.action, cell.member) in NO_OP:
        if error is not None and (cell.action, cell.member) not in NO_OP:
            problems.append(f"refused its own call: {error}")
        elif error is not None and error["Code"] not in NOT_FOUND[cell.kind]:
            problems.append(f"answered {error['Code']} ({error.get('Message')})")
        elif response is not None:
            shown = leaked(owner.secrets() - asked_values(cell, params), response)
            if shown:
                problems.append(f"shows the owner's {shown}: {response}")
    else:
        expected = NOT_FOUND[cell.kind]
        if error is None:
            problems.append(f"succeeded on the owner's {cell.kind}: {response}")
        elif error["Code"] not in expected:
            problems.append(f"answered {error['Code']} ({error.get('Message')}), "
                            f"not {sorted(expected)}")
        else:  # naming the id asked about is fine; naming anything else of the owner's is not
            shown = leaked(owner.secrets() - asked_values(cell, params), error.get("Message", ""))
            if shown:
                problems.append(f"error message shows the owner's {shown}: {error}")
    if response is not None and role == "other":
        _cleanup(cloud, other, cell.action, response)
    after = view(cloud, owner)
    changed = _diff(baseline["view"], after)
    if changed:
        problems.append(f"changed the owner's {changed}")
        baseline["view"] = after  # so only this cell fails for it
    TALLY.settle(role, where, problems)


def test_owner_resources_still_work(cloud, tenants, baseline):
    """The controls: as the owner, the same resources answer (the cells' refusals
    are about the caller, not about resources that are not there)."""
    owner, _ = tenants
    ec2 = cloud.client("ec2", owner.credential)
    assert _state(ec2, owner.instance) == "running"
    assert ec2.describe_images(ImageIds=[owner.image])["Images"]
    assert ec2.describe_key_pairs(KeyPairIds=[owner.key_id])["KeyPairs"]
    assert ec2.describe_security_groups(GroupIds=[owner.group])["SecurityGroups"]
    assert ec2.describe_security_group_rules(
        SecurityGroupRuleIds=[owner.ingress_rule])["SecurityGroupRules"]
    addresses = ec2.describe_addresses(AllocationIds=[owner.alloc])["Addresses"]
    assert addresses[0]["AssociationId"] == owner.association
    assert addresses[0]["InstanceId"] == owner.instance
    TALLY.record("owner")


def test_cells_checked():
    ran = TALLY.total() - TALLY.checked["owner"]
    if ran != len(CELLS) * len(ROLES):
        pytest.skip(f"only {ran} of {len(CELLS) * len(ROLES)} cells ran (a -k selection?)")
    assert TALLY.checked["other"] == TALLY.checked["anonymous"] == len(CELLS)
    assert not TALLY.leaks, "\n".join(TALLY.leaks)
