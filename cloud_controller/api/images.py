"""RegisterImage, DescribeImages, DeregisterImage and the launchPermission
and description attributes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.block_devices import BlockDeviceMapping, mapping_items
from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.permissions import PermissionChanges, requested_changes
from cloud_controller.api.tagging import tag_list
from cloud_controller.api.text import check_image_description
from cloud_controller.services.images import EbsRegistration, Registration
from mallee import errors
from cloud_controller.api.query import AttributeValue, Filter, listparam, param
from mallee.xmlwrite import iso8601


@dataclass
class RegisterImageRequest:
    image_location: str = param("ImageLocation")
    name: str = param("Name")
    description: str = param("Description")
    architecture: str = param("Architecture")
    kernel_id: str = param("KernelId")
    ramdisk_id: str = param("RamdiskId")
    root_device_name: str = param("RootDeviceName")
    block_device_mappings: list[BlockDeviceMapping] = listparam("BlockDeviceMapping")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "BillingProduct", "BootMode", "EnaSupport", "ImdsSupport",
        "SriovNetSupport", "TagSpecification", "TpmSupport", "UefiData", "VirtualizationType",
    )


@dataclass
class CreateImageRequest:
    instance_id: str = param("InstanceId", required=True)
    name: str = param("Name", required=True)
    description: str = param("Description")
    no_reboot: bool = param("NoReboot", default=False)
    block_device_mappings: list[BlockDeviceMapping] = listparam("BlockDeviceMapping")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("BootModeOverride", "SnapshotLocation", "TagSpecification")


@dataclass
class DescribeImagesRequest:
    image_ids: list[str] = listparam("ImageId")
    owners: list[str] = listparam("Owner")
    executable_users: list[str] = listparam("ExecutableBy")
    filters: list[Filter] = listparam("Filter")
    include_deprecated: bool = param("IncludeDeprecated", default=False)
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("IncludeDisabled", "MaxResults", "NextToken",)


@dataclass
class DeregisterImageRequest:
    image_id: str = param("ImageId", required=True)
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("DeleteAssociatedSnapshots",)


@dataclass
class DescribeImageAttributeRequest:
    image_id: str = param("ImageId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ModifyImageAttributeRequest:
    image_id: str = param("ImageId", required=True)
    attribute: str = param("Attribute")
    operation_type: str = param("OperationType")
    user_ids: list[str] = listparam("UserId")
    user_groups: list[str] = listparam("UserGroup")
    launch_permission: PermissionChanges = param("LaunchPermission")
    description: AttributeValue = param("Description")
    value: str = param("Value")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "ImdsSupport", "OrganizationArn", "OrganizationalUnitArn", "ProductCode",
    )


@dataclass
class ResetImageAttributeRequest:
    image_id: str = param("ImageId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


async def register_image(ctx: RequestContext, req: RegisterImageRequest) -> dict:
    check_image_description(req.description)
    if not req.image_location:
        if not req.block_device_mappings:
            raise errors.MissingParameter(
                "The request must contain the parameter ImageLocation (a bundle manifest in "
                "Walrus) or a BlockDeviceMapping whose root device is an EBS snapshot.")
        image_id = await ctx.cloud.images.register_ebs(ctx.account_id, EbsRegistration(
            req.name, req.description, req.architecture, req.kernel_id, req.ramdisk_id,
            req.root_device_name, [m.checked() for m in req.block_device_mappings]))
        return {"imageId": image_id}
    image_id = await ctx.cloud.images.register(ctx.credential, Registration(
        req.image_location, req.name, req.description, req.architecture, req.kernel_id,
        req.ramdisk_id, req.root_device_name))
    return {"imageId": image_id}


async def create_image(ctx: RequestContext, req: CreateImageRequest) -> dict:
    check_image_description(req.description)
    image_id = await ctx.cloud.image_capture.create(
        ctx.account_id, req.instance_id, req.name, req.description,
        [m.checked() for m in req.block_device_mappings])
    return {"imageId": image_id}


def _owner_matches(ctx: RequestContext, image, owners: list[str]) -> bool:
    for owner in owners:
        if owner == "self" and image["account_id"] == ctx.account_id:
            return True
        if owner == image["account_id"]:
            return True
    return False


def _executable_by(ctx: RequestContext, image, permitted: set[str], users: list[str]) -> bool:
    for user in users:
        if user == "all" and image["is_public"]:
            return True
        account = ctx.account_id if user == "self" else user
        if account in permitted or (user == "self" and image["account_id"] == ctx.account_id):
            return True
    return False


def _image_type(image) -> str:
    return image["image_type"]


async def describe_images(ctx: RequestContext, req: DescribeImagesRequest) -> dict:
    images = await ctx.cloud.images.visible(ctx.account_id, req.image_ids or None)
    if req.owners:
        images = [i for i in images if _owner_matches(ctx, i, req.owners)]
    ids = [i["id"] for i in images]
    permitted = await ctx.cloud.images.permitted_accounts(ids)
    if req.executable_users:
        images = [i for i in images
                  if _executable_by(ctx, i, permitted[i["id"]], req.executable_users)]
    tags = await ctx.cloud.tags.of([i["id"] for i in images])
    mappings = await ctx.cloud.images.block_devices(ids)
    images = FilterSet(req.filters, {
        "image-id": lambda i: i["id"], "name": lambda i: i["name"],
        "description": lambda i: i["description"], "state": lambda i: i["state"],
        "owner-id": lambda i: i["account_id"], "image-type": _image_type,
        "architecture": lambda i: i["architecture"], "is-public": lambda i: bool(i["is_public"]),
        "kernel-id": lambda i: i["kernel_id"], "ramdisk-id": lambda i: i["ramdisk_id"],
        "manifest-location": lambda i: i["location"],
        "root-device-type": lambda i: i["root_device_type"],
        "block-device-mapping.snapshot-id": lambda i: [
            m["snapshot_id"] for m in mappings[i["id"]] if m["snapshot_id"]],
        "block-device-mapping.device-name": lambda i: [
            m["device_name"] for m in mappings[i["id"]]],
        "root-device-name": lambda i: i["root_device_name"],
        "virtualization-type": lambda i: i["virtualization_type"],
        "hypervisor": lambda i: "xen", "platform": lambda i: None,
    }, tags=lambda i: tags[i["id"]]).apply(images)
    return {"imagesSet": [{
        "imageId": i["id"], "imageState": i["state"],
        "imageLocation": i["location"] or f"{i['account_id']}/{i['name']}",
        "imageOwnerId": i["account_id"], "creationDate": iso8601(i["created_at"]),
        "isPublic": bool(i["is_public"]), "architecture": i["architecture"],
        "imageType": i["image_type"], "kernelId": i["kernel_id"], "ramdiskId": i["ramdisk_id"],
        "name": i["name"], "description": i["description"],
        "rootDeviceType": i["root_device_type"], "rootDeviceName": i["root_device_name"],
        "blockDeviceMapping": mapping_items(mappings[i["id"]]),
        "virtualizationType": i["virtualization_type"],
        "hypervisor": "xen", "platformDetails": "Linux/UNIX", "usageOperation": "RunInstances",
        "tagSet": tag_list(tags[i["id"]]),
    } for i in images]}


async def deregister_image(ctx: RequestContext, req: DeregisterImageRequest) -> dict:
    await ctx.cloud.images.deregister(ctx.account_id, req.image_id)
    return {"return": True}


async def describe_image_attribute(ctx: RequestContext, req: DescribeImageAttributeRequest) -> dict:
    images = ctx.cloud.images
    if req.attribute == "launchPermission":
        public, accounts = await images.launch_permissions(ctx.account_id, req.image_id)
        items = ([{"group": "all"}] if public else []) + [{"userId": a} for a in accounts]
        return {"imageId": req.image_id, "launchPermission": items}
    image = await images.launchable(ctx.account_id, req.image_id)
    values = {"description": image["description"], "kernel": image["kernel_id"],
              "ramdisk": image["ramdisk_id"]}
    if req.attribute in values:
        value = values[req.attribute]
        return {"imageId": req.image_id,
                req.attribute: {"value": value} if value is not None else {}}
    if req.attribute == "blockDeviceMapping":
        mappings = await images.block_devices([req.image_id])
        return {"imageId": req.image_id,
                "blockDeviceMapping": mapping_items(mappings[req.image_id])}
    if req.attribute == "productCodes":
        return {"imageId": req.image_id, "productCodes": []}
    raise errors.InvalidParameterValue(
        f"Value ({req.attribute}) for parameter attribute is invalid. Unknown attribute.")


def _bad_group(group: str) -> errors.ApiError:
    return errors.InvalidAMIAttributeItemValue(
        f"Invalid attribute item value \"{group}\" for UserGroup item type.")


async def modify_image_attribute(ctx: RequestContext, req: ModifyImageAttributeRequest) -> dict:
    images = ctx.cloud.images
    if req.description is not None or req.attribute == "description":
        text = req.description.value if req.description else req.value
        check_image_description(text)
        await images.set_description(ctx.account_id, req.image_id, text or "")
        return {"return": True}
    changes = requested_changes(
        req.launch_permission, attribute=req.attribute, attribute_name="launchPermission",
        operation_type=req.operation_type, user_ids=req.user_ids, user_groups=req.user_groups,
        bad_group=_bad_group)
    await images.modify_launch_permissions(
        ctx.account_id, req.image_id, add_accounts=changes.add, remove_accounts=changes.remove,
        add_all=bool(changes.add_groups), remove_all=bool(changes.remove_groups))
    return {"return": True}


async def reset_image_attribute(ctx: RequestContext, req: ResetImageAttributeRequest) -> dict:
    if req.attribute != "launchPermission":
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid: only launchPermission "
            "can be reset.")
    await ctx.cloud.images.reset_launch_permissions(ctx.account_id, req.image_id)
    return {"return": True}
