"""One exception class per API error code.

Each tier raises these; one renderer per protocol (EC2 in mallee.xml, S3 in
walrus) turns them into error XML with the class's HTTP status and the request
id. Anything else that escapes a handler is an InternalError (500) whose
details go to the log, not to the client.
"""
from __future__ import annotations


class ApiError(Exception):
    code = "InternalError"
    status = 500
    default_message = "An internal error has occurred."

    def __init__(self, message: str | None = None, **extra):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.extra = extra  # protocol-specific fields, e.g. S3's BucketName

    def __repr__(self):
        return f"{type(self).__name__}({self.message!r})"


def error_class(code: str, status: int, message: str = "",
                module: str = __name__) -> type[ApiError]:
    """One ApiError subclass for one protocol error code (dots dropped from its name)."""
    return type(code.replace(".", ""), (ApiError,), {
        "code": code, "status": status, "default_message": message or code,
        "__module__": module})


_error = error_class


# --- EC2 (and the STS/IAM calls tools make at the EC2 URL) -------------------
AuthFailure = _error("AuthFailure", 401,
                     "AWS was not able to validate the provided access credentials")
MissingAuthenticationToken = _error(
    "MissingAuthenticationToken", 401,
    "Request must contain either a valid (registered) AWS access key ID or X.509 certificate.")
SignatureDoesNotMatch = _error(
    "SignatureDoesNotMatch", 403,
    "The request signature we calculated does not match the signature you provided.")
IncompleteSignature = _error("IncompleteSignature", 400,
                             "The request signature does not conform to AWS standards.")
RequestExpired = _error("RequestExpired", 400,
                        "Request has expired or its timestamp is too far from the server's clock.")
UnauthorizedOperation = _error("UnauthorizedOperation", 403,
                               "You are not authorized to perform this operation.")
InvalidAction = _error("InvalidAction", 400, "The action is not valid for this web service.")
MissingAction = _error("MissingAction", 400, "The request must contain the parameter Action.")
MissingParameter = _error("MissingParameter", 400)
InvalidParameterValue = _error("InvalidParameterValue", 400)
InvalidParameter = _error("InvalidParameter", 400)
InvalidParameterCombination = _error("InvalidParameterCombination", 400)
UnknownParameter = _error("UnknownParameter", 400)
UnsupportedOperation = _error("UnsupportedOperation", 400)
UnknownOperation = _error("UnknownOperationException", 400)  # JSON protocol: no such target
SerializationException = _error("SerializationException", 400)  # JSON protocol: bad body
DryRunOperation = _error("DryRunOperation", 412,
                         "Request would have succeeded, but DryRun flag is set.")
RequestLimitExceeded = _error("RequestLimitExceeded", 503, "Request limit exceeded.")
RequestEntityTooLarge = _error("RequestEntityTooLarge", 413,
                               "The request body is larger than this service accepts.")
InvalidID = _error("InvalidID", 400)
InvalidKeyPairNotFound = _error("InvalidKeyPair.NotFound", 400)
InvalidKeyPairDuplicate = _error("InvalidKeyPair.Duplicate", 400)
InvalidKeyPairFormat = _error("InvalidKeyPair.Format", 400)
InvalidInstanceIDNotFound = _error("InvalidInstanceID.NotFound", 400)
InvalidInstanceIDMalformed = _error("InvalidInstanceID.Malformed", 400)
InvalidAMIIDNotFound = _error("InvalidAMIID.NotFound", 400)
InvalidAMIIDMalformed = _error("InvalidAMIID.Malformed", 400)
InvalidAMIIDUnavailable = _error("InvalidAMIID.Unavailable", 400)
InvalidGroupNotFound = _error("InvalidGroup.NotFound", 400)
InvalidInstanceType = _error("InvalidInstanceType", 400)
InvalidNextToken = _error("InvalidNextToken", 400, "The specified NextToken is not valid.")
IncorrectState = _error("IncorrectState", 400)
InvalidVolumeNotFound = _error("InvalidVolume.NotFound", 400)
VolumeInUse = _error("VolumeInUse", 400)
AttachmentLimitExceeded = _error("AttachmentLimitExceeded", 400)
InvalidVolumeZoneMismatch = _error("InvalidVolume.ZoneMismatch", 400)
InvalidAttachmentNotFound = _error("InvalidAttachment.NotFound", 400)
InvalidVolumeIDMalformed = _error("InvalidVolumeID.Malformed", 400)
InvalidZoneNotFound = _error("InvalidZone.NotFound", 400)
InvalidSnapshotNotFound = _error("InvalidSnapshot.NotFound", 400)
InvalidSnapshotIDMalformed = _error("InvalidSnapshotID.Malformed", 400)
VolumeLimitExceeded = _error("VolumeLimitExceeded", 400)
InvalidSnapshotInUse = _error("InvalidSnapshot.InUse", 400)
SnapshotLimitExceeded = _error("SnapshotLimitExceeded", 400)
IncorrectModificationState = _error("IncorrectModificationState", 400)
IncorrectInstanceState = _error("IncorrectInstanceState", 400)
InsufficientInstanceCapacity = _error("InsufficientInstanceCapacity", 500)
ResourceLimitExceeded = _error("ResourceLimitExceeded", 400)
Unavailable = _error("Unavailable", 503, "The service is unavailable. Try again later.")
InternalError = _error("InternalError", 500)
# IAM / admin
EntityAlreadyExists = _error("EntityAlreadyExists", 409)
NoSuchEntity = _error("NoSuchEntity", 404)
InvalidManifest = _error(
    "InvalidManifest", 400,
    "The specified AMI has an unparsable manifest, or you may not have access to its location.")
InvalidAMINameDuplicate = _error("InvalidAMIName.Duplicate", 400)
InvalidAMINameMalformed = _error("InvalidAMIName.Malformed", 400)
InvalidAMIAttributeItemValue = _error("InvalidAMIAttributeItemValue", 400)
InvalidUserIDMalformed = _error("InvalidUserID.Malformed", 400)
InvalidKernelIdMalformed = _error("InvalidKernelId.Malformed", 400)
InvalidRamDiskIdMalformed = _error("InvalidRamDiskId.Malformed", 400)
InvalidGroupIdMalformed = _error("InvalidGroupId.Malformed", 400)
InvalidGroupDuplicate = _error("InvalidGroup.Duplicate", 400)
InvalidUserDataMalformed = _error("InvalidUserData.Malformed", 400)
IdempotentParameterMismatch = _error("IdempotentParameterMismatch", 400)
InstanceLimitExceeded = _error("InstanceLimitExceeded", 400)
OperationNotPermitted = _error("OperationNotPermitted", 400)
UnsupportedHibernationConfiguration = _error("UnsupportedHibernationConfiguration", 400)
InvalidBlockDeviceMapping = _error("InvalidBlockDeviceMapping", 400)
InvalidInstanceAttributeValue = _error("InvalidInstanceAttributeValue", 400)
SecurityGroupsPerInstanceLimitExceeded = _error("SecurityGroupsPerInstanceLimitExceeded", 400)
# EDGE networking: security groups, default VPC, addresses
InvalidGroupInUse = _error("InvalidGroup.InUse", 400)
CannotDelete = _error("CannotDelete", 400)
DependencyViolation = _error("DependencyViolation", 400)
InvalidPermissionDuplicate = _error("InvalidPermission.Duplicate", 400)
InvalidPermissionNotFound = _error("InvalidPermission.NotFound", 400)
InvalidSecurityGroupRuleIdNotFound = _error("InvalidSecurityGroupRuleId.NotFound", 400)
SecurityGroupLimitExceeded = _error("SecurityGroupLimitExceeded", 400)
RulesPerSecurityGroupLimitExceeded = _error("RulesPerSecurityGroupLimitExceeded", 400)
InvalidVpcIDNotFound = _error("InvalidVpcID.NotFound", 400)
InvalidVpcRange = _error("InvalidVpc.Range", 400)
VpcLimitExceeded = _error("VpcLimitExceeded", 400, "The maximum number of VPCs has been reached.")
InvalidSubnetRange = _error("InvalidSubnet.Range", 400)
InvalidSubnetConflict = _error("InvalidSubnet.Conflict", 400)
InvalidSubnetIDNotFound = _error("InvalidSubnetID.NotFound", 400)
# VPC mode: instances in own subnets
InvalidIPAddressInUse = _error("InvalidIPAddress.InUse", 400)
InsufficientFreeAddressesInSubnet = _error("InsufficientFreeAddressesInSubnet", 400)
InvalidNetworkInterfaceIDNotFound = _error("InvalidNetworkInterfaceID.NotFound", 400)
InvalidNetworkInterfaceIDMalformed = _error("InvalidNetworkInterfaceID.Malformed", 400)
InvalidNetworkInterfaceInUse = _error("InvalidNetworkInterface.InUse", 400)
InvalidAttachmentIDNotFound = _error("InvalidAttachmentID.NotFound", 400)
PrivateIpAddressLimitExceeded = _error("PrivateIpAddressLimitExceeded", 400)
SecurityGroupsPerInterfaceLimitExceeded = _error("SecurityGroupsPerInterfaceLimitExceeded", 400)
InvalidRouteTableIDNotFound = _error("InvalidRouteTableID.NotFound", 400)
InvalidInternetGatewayIDNotFound = _error("InvalidInternetGatewayID.NotFound", 400)
InvalidNetworkAclIDNotFound = _error("InvalidNetworkAclID.NotFound", 400)
NetworkAclEntryAlreadyExists = _error("NetworkAclEntryAlreadyExists", 400)
InvalidNetworkAclEntryNotFound = _error("InvalidNetworkAclEntry.NotFound", 400)
DefaultVpcAlreadyExists = _error(
    "DefaultVpcAlreadyExists", 400,
    "A Default VPC already exists for this account in this region.")
CidrLimitExceeded = _error("CidrLimitExceeded", 400)
InvalidVpcCidrBlockAssociationIDNotFound = _error("InvalidVpcCidrBlockAssociationID.NotFound",
                                                  400)
InvalidDhcpOptionIDNotFound = _error("InvalidDhcpOptionID.NotFound", 400)
InvalidVpcEndpointIdNotFound = _error("InvalidVpcEndpointId.NotFound", 400)
InvalidAllocationIDNotFound = _error("InvalidAllocationID.NotFound", 400)
InvalidAssociationIDNotFound = _error("InvalidAssociationID.NotFound", 400)
InvalidAddressNotFound = _error("InvalidAddress.NotFound", 400)
InvalidIPAddressInUse = _error("InvalidIPAddress.InUse", 400)
AddressLimitExceeded = _error("AddressLimitExceeded", 400)
InsufficientAddressCapacity = _error("InsufficientAddressCapacity", 503)
ResourceAlreadyAssociated = _error("Resource.AlreadyAssociated", 400)
# VPC mode's routing resources (docs/vpc.md)
GatewayNotAttached = _error("Gateway.NotAttached", 400)
InvalidGatewayIDNotFound = _error("InvalidGatewayID.NotFound", 400)
RouteAlreadyExists = _error("RouteAlreadyExists", 400)
InvalidRouteNotFound = _error("InvalidRoute.NotFound", 400)
NatGatewayNotFound = _error("NatGatewayNotFound", 400)
InvalidNatGatewayIDNotFound = _error("InvalidNatGatewayID.NotFound", 400)
InsufficientFreeAddressesInSubnet = _error("InsufficientFreeAddressesInSubnet", 400)
