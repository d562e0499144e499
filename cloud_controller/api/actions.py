"""The one table from an EC2 `Action` to its handler, request type and permission."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from cloud_controller.api import (account, addresses, attachments, images,
                                  instance_attributes, instance_types, instances, keypairs,
                                  network_interfaces, security_groups, tags, volumes, vpcs,
                                  zones)
from cloud_controller.api.render import aws_query_renderer


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
    "RegisterImage": Action(images.register_image, images.RegisterImageRequest),
    "DescribeImages": Action(images.describe_images, images.DescribeImagesRequest),
    "DeregisterImage": Action(images.deregister_image, images.DeregisterImageRequest),
    "DescribeImageAttribute": Action(images.describe_image_attribute,
                                     images.DescribeImageAttributeRequest),
    "ModifyImageAttribute": Action(images.modify_image_attribute,
                                   images.ModifyImageAttributeRequest),
    "ResetImageAttribute": Action(images.reset_image_attribute,
                                  images.ResetImageAttributeRequest),
    "RunInstances": Action(instances.run_instances, instances.RunInstancesRequest),
    "DescribeInstances": Action(instances.describe_instances,
                                instances.DescribeInstancesRequest),
    "DescribeInstanceStatus": Action(instances.describe_instance_status,
                                     instances.DescribeInstanceStatusRequest),
    "TerminateInstances": Action(instances.terminate_instances, instances.InstanceIdsRequest),
    "RebootInstances": Action(instances.reboot_instances, instances.InstanceIdsRequest),
    "StopInstances": Action(instances.stop_instances, instances.InstanceIdsRequest),
    "StartInstances": Action(instances.start_instances, instances.InstanceIdsRequest),
    "GetConsoleOutput": Action(instances.get_console_output,
                               instances.GetConsoleOutputRequest),
    "DescribeInstanceAttribute": Action(instance_attributes.describe_instance_attribute,
                                        instance_attributes.DescribeInstanceAttributeRequest),
    "ModifyInstanceAttribute": Action(instance_attributes.modify_instance_attribute,
                                      instance_attributes.ModifyInstanceAttributeRequest),
    "GetPasswordData": Action(instance_attributes.get_password_data,
                              instance_attributes.GetPasswordDataRequest),
    "DescribeInstanceCreditSpecifications": Action(
        instances.describe_instance_credit_specifications,
        instances.DescribeInstanceCreditSpecificationsRequest),
    "ModifyInstanceMetadataOptions": Action(instances.modify_instance_metadata_options,
                                            instances.ModifyInstanceMetadataOptionsRequest),
    "GetInstanceUefiData": Action(instances.get_instance_uefi_data,
                                  instances.GetInstanceUefiDataRequest),
    "CreateSecurityGroup": Action(security_groups.create_security_group,
                                  security_groups.CreateSecurityGroupRequest),
    "DeleteSecurityGroup": Action(security_groups.delete_security_group,
                                  security_groups.GroupRequest),
    "DescribeSecurityGroups": Action(security_groups.describe_security_groups,
                                     security_groups.DescribeSecurityGroupsRequest),
    "AuthorizeSecurityGroupIngress": Action(security_groups.authorize_ingress,
                                            security_groups.PermissionsRequest),
    "AuthorizeSecurityGroupEgress": Action(security_groups.authorize_egress,
                                           security_groups.PermissionsRequest),
    "RevokeSecurityGroupIngress": Action(security_groups.revoke_ingress,
                                         security_groups.PermissionsRequest),
    "RevokeSecurityGroupEgress": Action(security_groups.revoke_egress,
                                        security_groups.PermissionsRequest),
    "DescribeSecurityGroupRules": Action(security_groups.describe_security_group_rules,
                                         security_groups.DescribeSecurityGroupRulesRequest),
    "DescribeVpcs": Action(vpcs.describe_vpcs, vpcs.DescribeVpcsRequest),
    "DescribeSubnets": Action(vpcs.describe_subnets, vpcs.DescribeSubnetsRequest),
    "DescribeVpcAttribute": Action(vpcs.describe_vpc_attribute, vpcs.DescribeVpcAttributeRequest),
    "DescribeRouteTables": Action(vpcs.describe_route_tables, vpcs.DescribeRouteTablesRequest),
    "DescribeInternetGateways": Action(vpcs.describe_internet_gateways,
                                       vpcs.DescribeInternetGatewaysRequest),
    "DescribeNetworkAcls": Action(vpcs.describe_network_acls, vpcs.DescribeNetworkAclsRequest),
    "DescribeDhcpOptions": Action(vpcs.describe_dhcp_options, vpcs.DescribeDhcpOptionsRequest),
    "DescribeVpcEndpoints": Action(vpcs.describe_vpc_endpoints,
                                   vpcs.DescribeVpcEndpointsRequest),
    "DescribeNetworkInterfaces": Action(network_interfaces.describe_network_interfaces,
                                        network_interfaces.DescribeNetworkInterfacesRequest),
    "DescribeNetworkInterfaceAttribute": Action(
        network_interfaces.describe_network_interface_attribute,
        network_interfaces.DescribeNetworkInterfaceAttributeRequest),
    "AllocateAddress": Action(addresses.allocate_address, addresses.AllocateAddressRequest),
    "AssociateAddress": Action(addresses.associate_address, addresses.AssociateAddressRequest),
    "DisassociateAddress": Action(addresses.disassociate_address,
                                  addresses.DisassociateAddressRequest),
    "ReleaseAddress": Action(addresses.release_address, addresses.ReleaseAddressRequest),
    "DescribeAddresses": Action(addresses.describe_addresses,
                                addresses.DescribeAddressesRequest),
    "DescribeAddressesAttribute": Action(addresses.describe_addresses_attribute,
                                         addresses.DescribeAddressesAttributeRequest),
    "CreateVolume": Action(volumes.create_volume, volumes.CreateVolumeRequest),
    "DescribeVolumes": Action(volumes.describe_volumes, volumes.DescribeVolumesRequest),
    "DeleteVolume": Action(volumes.delete_volume, volumes.VolumeIdRequest),
    "AttachVolume": Action(attachments.attach_volume, attachments.AttachVolumeRequest),
    "DetachVolume": Action(attachments.detach_volume, attachments.DetachVolumeRequest),
    "DescribeVolumeStatus": Action(volumes.describe_volume_status,
                                   volumes.DescribeVolumesRequest),
    "DescribeVolumeAttribute": Action(volumes.describe_volume_attribute,
                                      volumes.DescribeVolumeAttributeRequest),
    "ModifyVolume": Action(volumes.modify_volume, volumes.ModifyVolumeRequest),
    "DescribeVolumesModifications": Action(volumes.describe_volumes_modifications,
                                           volumes.DescribeVolumesRequest),
    "GetCallerIdentity": Action(account.get_caller_identity, account.EmptyRequest, render=_sts),
    "GetUser": Action(account.get_user, account.GetUserRequest, render=_iam),
}
