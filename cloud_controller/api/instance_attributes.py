"""DescribeInstanceAttribute, ModifyInstanceAttribute and GetPasswordData.

Modify takes one attribute in either of EC2's forms: `Attribute` + `Value`
(euca2ools, `aws ec2 modify-instance-attribute --attribute X --value Y`) or
the attribute's own structure (`DisableApiTermination.Value`, `GroupId.N`,
`BlockDeviceMapping.N.Ebs.DeleteOnTermination`: boto3, awscli's per-attribute
options, Terraform). The rules are in services/instance_attributes.py.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.instances import block_devices, group_set
from cloud_controller.api.query import AttributeValue, BooleanValue, listparam, param
from cloud_controller.services.instance_attributes import (COLUMNS, STORED, Attributes,
                                                           BlockDeviceChange)
from cloud_controller.services.root_device import root_device
from mallee import errors
from mallee.xmlwrite import iso8601

# EC2's InstanceAttributeName, each with the type of its Modify value
# (None: read only; list: groupSet's and blockDeviceMapping's lists).
ATTRIBUTES = {
    "instanceType": str, "kernel": str, "ramdisk": str, "userData": str,
    "disableApiTermination": bool, "instanceInitiatedShutdownBehavior": str,
    "rootDeviceName": None, "blockDeviceMapping": list, "productCodes": None,
    "sourceDestCheck": bool, "groupSet": list, "ebsOptimized": bool, "sriovNetSupport": str,
    "enaSupport": bool, "enclaveOptions": bool, "disableApiStop": bool,
}


@dataclass
class DescribeInstanceAttributeRequest:
    instance_id: str = param("InstanceId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class EnclaveOptionsValue:
    enabled: bool = param("Enabled")


@dataclass
class EbsChange:
    volume_id: str = param("VolumeId")
    delete_on_termination: bool = param("DeleteOnTermination")


@dataclass
class BlockDeviceMappingSpec:
    device_name: str = param("DeviceName")
    ebs: EbsChange = param("Ebs")
    virtual_name: str = param("VirtualName")
    no_device: str = param("NoDevice")


@dataclass
class ModifyInstanceAttributeRequest:
    instance_id: str = param("InstanceId", required=True)
    attribute: str = param("Attribute")
    value: str = param("Value")
    instance_type: AttributeValue = param("InstanceType")
    kernel: AttributeValue = param("Kernel")
    ramdisk: AttributeValue = param("Ramdisk")
    user_data: AttributeValue = param("UserData")
    disable_api_termination: BooleanValue = param("DisableApiTermination")
    disable_api_stop: BooleanValue = param("DisableApiStop")
    shutdown_behavior: AttributeValue = param("InstanceInitiatedShutdownBehavior")
    source_dest_check: BooleanValue = param("SourceDestCheck")
    ebs_optimized: BooleanValue = param("EbsOptimized")
    ena_support: BooleanValue = param("EnaSupport")
    sriov_net_support: AttributeValue = param("SriovNetSupport")
    enclave_options: EnclaveOptionsValue = param("EnclaveOptions")
    groups: list[str] = listparam("GroupId")
    block_devices: list[BlockDeviceMappingSpec] = listparam("BlockDeviceMapping")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class GetPasswordDataRequest:
    instance_id: str = param("InstanceId", required=True)
    dry_run: bool = param("DryRun", default=False)


def _known(attribute: str) -> str:
    if attribute not in ATTRIBUTES:
        raise errors.InvalidParameterValue(
            f"Value ({attribute}) for parameter attribute is invalid. Unknown attribute.")
    return attribute


def _value(v):
    return {"value": v} if v is not None else {}


def _rendered(attribute: str, a: Attributes):
    row, values = a.row, a.values
    if attribute == "userData":
        return _value(base64.b64encode(row["user_data"]).decode()
                      if row["user_data"] is not None else None)
    if attribute in COLUMNS:
        return _value(row[COLUMNS[attribute]])
    if attribute in STORED:
        return _value(values[STORED[attribute]])
    return {"rootDeviceName": lambda: _value(root_device(row)[1]),
            "productCodes": lambda: [],
            "enclaveOptions": lambda: {"enabled": False},  # no VM type here has enclaves
            "groupSet": lambda: group_set(a.groups),
            "blockDeviceMapping": lambda: block_devices(a.attachments)}[attribute]()


async def describe_instance_attribute(ctx: RequestContext,
                                      req: DescribeInstanceAttributeRequest) -> dict:
    attribute = _known(req.attribute)
    found = await ctx.cloud.instance_attributes.read(ctx.account_id, req.instance_id)
    return {"instanceId": found.row["id"], attribute: _rendered(attribute, found)}


def _structured(req: ModifyInstanceAttributeRequest) -> dict:
    """{attribute: typed value} of every per-attribute structure the request holds."""
    plain = {"instanceType": req.instance_type, "kernel": req.kernel, "ramdisk": req.ramdisk,
             "userData": req.user_data, "disableApiTermination": req.disable_api_termination,
             "disableApiStop": req.disable_api_stop,
             "instanceInitiatedShutdownBehavior": req.shutdown_behavior,
             "sourceDestCheck": req.source_dest_check, "ebsOptimized": req.ebs_optimized,
             "enaSupport": req.ena_support, "sriovNetSupport": req.sriov_net_support}
    found = {name: given.value for name, given in plain.items() if given is not None}
    if req.enclave_options is not None:
        found["enclaveOptions"] = req.enclave_options.enabled
    if req.groups:
        found["groupSet"] = req.groups
    if req.block_devices:
        found["blockDeviceMapping"] = [_block_device(m) for m in req.block_devices]
    return found


def _block_device(spec: BlockDeviceMappingSpec) -> BlockDeviceChange:
    if spec.virtual_name or spec.no_device or not spec.device_name:
        raise errors.InvalidParameterCombination(
            "Only the DeleteOnTermination flag of an attached EBS volume can be modified: "
            "give DeviceName and Ebs.DeleteOnTermination.")
    ebs = spec.ebs or EbsChange()
    # EC2: DeleteOnTermination left out is true
    return BlockDeviceChange(spec.device_name, ebs.volume_id,
                             True if ebs.delete_on_termination is None
                             else ebs.delete_on_termination)


def _from_value(attribute: str, value: str | None):
    """The `Attribute` + `Value` form's value, typed as the attribute's structure."""
    kind = ATTRIBUTES[attribute]
    if value is None:
        raise errors.MissingParameter("The request must contain the parameter value")
    if kind is bool:
        if value.lower() not in ("true", "false"):
            raise errors.InvalidParameterValue(
                f"Value ({value}) for parameter value is invalid. Expected: 'true' or "
                f"'false'.")
        return value.lower() == "true"
    if attribute == "groupSet":
        return [value]
    if attribute == "blockDeviceMapping":
        raise errors.InvalidParameterCombination(
            "blockDeviceMapping is modified with BlockDeviceMapping.N, not Value.")
    return value


def _change(req: ModifyInstanceAttributeRequest) -> tuple[str, object]:
    """The one (attribute, value) a request changes, as EC2 counts them."""
    found = _structured(req)
    if req.attribute is not None:
        attribute = _known(req.attribute)
        if found and attribute not in found:  # it names one, the structure is another
            found[attribute] = None
        elif not found:
            found[attribute] = _from_value(attribute, req.value) \
                if ATTRIBUTES[attribute] is not None else None
    if not found:
        raise errors.InvalidParameterCombination("No attributes specified.")
    if len(found) > 1:
        raise errors.InvalidParameterCombination(
            f"Fields for multiple attribute types specified: {', '.join(found)}")
    return next(iter(found.items()))


async def modify_instance_attribute(ctx: RequestContext,
                                    req: ModifyInstanceAttributeRequest) -> dict:
    attribute, value = _change(req)
    if value is None and ATTRIBUTES[attribute] is not None:
        raise errors.MissingParameter("The request must contain the parameter value")
    await ctx.cloud.instance_attributes.modify(ctx.account_id, req.instance_id, attribute,
                                               value)
    return {"return": True}


async def get_password_data(ctx: RequestContext, req: GetPasswordDataRequest) -> dict:
    """Guests here are Linux: EC2 answers them with no password data."""
    row = (await ctx.cloud.instances.find(ctx.account_id, [req.instance_id]))[0]
    return {"instanceId": row["id"], "timestamp": iso8601(row["launched_at"]),
            "passwordData": ""}
