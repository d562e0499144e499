"""CreateSnapshot, CreateSnapshots, DescribeSnapshots, DeleteSnapshot, CopySnapshot
and the createVolumePermission / productCodes attributes: EBS snapshots, whose
chunks the storage controller keeps in Walrus (docs/ebs.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import capped_page
from cloud_controller.api.permissions import PermissionChanges, requested_changes
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.api.text import check_image_description
from cloud_controller.services.snapshots import ACCOUNT_ID
from mallee import errors
from mallee.xmlwrite import iso8601

ATTRIBUTES = ("createVolumePermission", "productCodes")


@dataclass
class CreateSnapshotRequest:
    volume_id: str = param("VolumeId", required=True)
    description: str = param("Description")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud has no outposts or local zones: snapshots are
    # always kept regionally (in Walrus).
    IGNORED: ClassVar[tuple[str, ...]] = ("OutpostArn", "Location")


@dataclass
class InstanceSpecification:
    instance_id: str = param("InstanceId", required=True)
    exclude_boot_volume: bool = param("ExcludeBootVolume", default=False)
    exclude_data_volume_ids: list[str] = listparam("ExcludeDataVolumeId")


@dataclass
class CreateSnapshotsRequest:
    instance: InstanceSpecification = param("InstanceSpecification", required=True)
    description: str = param("Description")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    copy_tags_from_source: str = param("CopyTagsFromSource")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("OutpostArn", "Location")


@dataclass
class DescribeSnapshotsRequest:
    snapshot_ids: list[str] = listparam("SnapshotId")
    owner_ids: list[str] = listparam("Owner")
    restorable_by: list[str] = listparam("RestorableBy")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class SnapshotIdRequest:
    snapshot_id: str = param("SnapshotId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class CopySnapshotRequest:
    source_region: str = param("SourceRegion", required=True)
    source_snapshot_id: str = param("SourceSnapshotId", required=True)
    description: str = param("Description")
    encrypted: bool = param("Encrypted")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)
    # botocore adds PresignedUrl and DestinationRegion to every CopySnapshot (for a
    # copy across regions, which this one-region cloud never makes); no KMS, no
    # outposts; a copy here shares the source's chunks, so it takes no time to plan.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "PresignedUrl", "DestinationRegion", "KmsKeyId", "DestinationOutpostArn",
        "CompletionDurationMinutes", "DestinationAvailabilityZone")


@dataclass
class DescribeSnapshotAttributeRequest:
    snapshot_id: str = param("SnapshotId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ModifySnapshotAttributeRequest:
    snapshot_id: str = param("SnapshotId", required=True)
    attribute: str = param("Attribute")
    create_volume_permission: PermissionChanges = param("CreateVolumePermission")
    operation_type: str = param("OperationType")
    user_ids: list[str] = listparam("UserId")
    user_groups: list[str] = listparam("UserGroup")
    dry_run: bool = param("DryRun", default=False)


def snapshot_item(row, tags: dict[str, str]) -> dict:
    return {"snapshotId": row["id"], "volumeId": row["volume_id"], "status": row["state"],
            "statusMessage": row["status_message"] if row["state"] == "error" else None,
            "startTime": iso8601(row["started_at"]), "progress": f"{row['progress']}%",
            "ownerId": row["account_id"], "volumeSize": row["size_gib"],
            "description": row["description"], "encrypted": False,
            "storageTier": "standard", "tagSet": tag_list(tags)}


SNAPSHOT_FILTERS = {
    "snapshot-id": lambda i: i["snapshotId"], "volume-id": lambda i: i["volumeId"],
    "status": lambda i: i["status"], "owner-id": lambda i: i["ownerId"],
    "owner-alias": lambda i: None, "progress": lambda i: i["progress"],
    "start-time": lambda i: i["startTime"], "volume-size": lambda i: str(i["volumeSize"]),
    "description": lambda i: i["description"], "encrypted": lambda i: i["encrypted"],
    "storage-tier": lambda i: i["storageTier"],
}


def _tags_of(item) -> dict[str, str]:
    return {t["key"]: t["value"] for t in item["tagSet"]}


async def _snapshot_items(ctx: RequestContext, rows) -> list[dict]:
    """Tags are the owner's: an account a snapshot is shared with does not see them."""
    own = [r["id"] for r in rows if r["account_id"] == ctx.account_id]
    tags = await ctx.cloud.tags.of(own)
    return [snapshot_item(r, tags.get(r["id"], {})) for r in rows]


def _owned_by(ctx: RequestContext, row, owners: list[str]) -> bool:
    """Owner.N: account ids and `self`; `amazon` and `aws-marketplace` own nothing here."""
    return any(row["account_id"] == (ctx.account_id if o == "self" else o) for o in owners)


def _restorable_by(ctx: RequestContext, row, permitted: set[str], users: list[str]) -> bool:
    """RestorableBy.N, as EC2: `all` the public snapshots; `self` those the caller owns
    or may restore; another account id those of the caller's shared with it."""
    for user in users:
        if user == "all" and row["is_public"]:
            return True
        if user == "self" and (row["account_id"] == ctx.account_id
                               or ctx.account_id in permitted):
            return True
        if row["account_id"] == ctx.account_id and user in permitted:
            return True
    return False


def _check_users(values: list[str], parameter: str, words: tuple[str, ...]) -> None:
    for value in values:
        if value not in words and not ACCOUNT_ID.match(value):
            raise errors.InvalidParameterValue(
                f"Value ({value}) for parameter {parameter} is invalid. Expecting an account "
                f"id or one of {', '.join(words)}.")


async def create_snapshot(ctx: RequestContext, req: CreateSnapshotRequest) -> dict:
    check_image_description(req.description)
    tags = tags_for(req.tag_specifications, "snapshot")  # checked before the snapshot exists
    row = await ctx.cloud.snapshots.create(ctx.account_id, req.volume_id,
                                           req.description or "", tags)
    return (await _snapshot_items(ctx, [row]))[0]


def snapshot_info(item: dict) -> dict:
    """CreateSnapshots' answer names the state `state`, not `status`."""
    return {"snapshotId": item["snapshotId"], "volumeId": item["volumeId"],
            "state": item["status"], "startTime": item["startTime"],
            "progress": item["progress"], "ownerId": item["ownerId"],
            "volumeSize": item["volumeSize"], "description": item["description"],
            "encrypted": item["encrypted"], "tagSet": item["tagSet"]}


async def create_snapshots(ctx: RequestContext, req: CreateSnapshotsRequest) -> dict:
    """One snapshot of each EBS volume attached to the caller's instance, all or none
    (its root is instance-store here, so ExcludeBootVolume changes nothing)."""
    check_image_description(req.description)
    if req.copy_tags_from_source not in (None, "volume"):
        raise errors.InvalidParameterValue(
            f"Value ({req.copy_tags_from_source}) for parameter CopyTagsFromSource is "
            f"invalid. Expecting 'volume'.")
    tags = tags_for(req.tag_specifications, "snapshot")
    instance_id = req.instance.instance_id
    await ctx.cloud.instances.find(ctx.account_id, [instance_id])
    attached = (await ctx.cloud.attachments.of_instances([instance_id]))[instance_id]
    volume_ids = [a["volume_id"] for a in attached
                  if a["volume_id"] not in req.instance.exclude_data_volume_ids]
    copied = await ctx.cloud.tags.of(volume_ids) if req.copy_tags_from_source else {}
    rows = await ctx.cloud.snapshots.create_many(
        ctx.account_id, [(v, sorted({**copied.get(v, {}), **dict(tags)}.items()))
                         for v in volume_ids], req.description or "")
    return {"snapshotSet": [snapshot_info(i) for i in await _snapshot_items(ctx, rows)]}


async def describe_snapshots(ctx: RequestContext, req: DescribeSnapshotsRequest) -> dict:
    if req.snapshot_ids and req.max_results is not None:
        raise errors.InvalidParameterCombination(
            "The parameter snapshotSet cannot be used with the parameter maxResults")
    _check_users(req.owner_ids, "Owner", ("self", "amazon", "aws-marketplace"))
    _check_users(req.restorable_by, "RestorableBy", ("self", "all"))
    matching = FilterSet(req.filters, SNAPSHOT_FILTERS, tags=_tags_of)
    rows = await ctx.cloud.snapshots.visible(ctx.account_id, req.snapshot_ids)
    if req.owner_ids:
        rows = [r for r in rows if _owned_by(ctx, r, req.owner_ids)]
    if req.restorable_by:
        permitted = await ctx.cloud.snapshots.permitted_accounts([r["id"] for r in rows])
        rows = [r for r in rows
                if _restorable_by(ctx, r, permitted[r["id"]], req.restorable_by)]
    items = matching.apply(await _snapshot_items(ctx, rows))
    chunk, token = capped_page(items, lambda i: i["snapshotId"], req.max_results,
                               req.next_token, low=5, high=1000)
    return {"snapshotSet": chunk, "nextToken": token}


async def delete_snapshot(ctx: RequestContext, req: SnapshotIdRequest) -> dict:
    await ctx.cloud.snapshots.delete(ctx.account_id, req.snapshot_id)
    return {"return": True}


async def copy_snapshot(ctx: RequestContext, req: CopySnapshotRequest) -> dict:
    region = ctx.cloud.settings.cloud.region
    if req.source_region != region:
        raise errors.InvalidParameterValue(
            f"Value ({req.source_region}) for parameter sourceRegion is invalid. This cloud "
            f"has one region, {region}.")
    if req.encrypted:
        raise errors.UnsupportedOperation("Encrypted snapshots are not supported by this cloud.")
    check_image_description(req.description)
    tags = tags_for(req.tag_specifications, "snapshot")
    row = await ctx.cloud.snapshots.copy(ctx.account_id, req.source_snapshot_id,
                                         req.description, tags)
    return {"snapshotId": row["id"], "tagSet": tag_list(dict(tags))}


def _check_attribute(attribute: str | None) -> None:
    if attribute is not None and attribute not in ATTRIBUTES:
        raise errors.InvalidParameterValue(
            f"Value ({attribute}) for parameter attribute is invalid. Expecting "
            f"'createVolumePermission' or 'productCodes'.")


async def describe_snapshot_attribute(ctx: RequestContext,
                                      req: DescribeSnapshotAttributeRequest) -> dict:
    """No snapshot here has product codes."""
    _check_attribute(req.attribute)
    public, accounts = await ctx.cloud.snapshots.volume_permissions(ctx.account_id,
                                                                    req.snapshot_id)
    if req.attribute == "productCodes":
        return {"snapshotId": req.snapshot_id, "productCodes": []}
    items = ([{"group": "all"}] if public else []) + [{"userId": a} for a in accounts]
    return {"snapshotId": req.snapshot_id, "createVolumePermission": items}


def _bad_group(group: str) -> errors.ApiError:
    return errors.InvalidParameterValue(
        f"Value ({group}) for parameter group is invalid. Expecting 'all'.")


async def modify_snapshot_attribute(ctx: RequestContext,
                                    req: ModifySnapshotAttributeRequest) -> dict:
    _check_attribute(req.attribute)
    if req.attribute == "productCodes":
        raise errors.InvalidParameterValue(
            "Value (productCodes) for parameter attribute is invalid. Only "
            "createVolumePermission can be modified.")
    changes = requested_changes(
        req.create_volume_permission, attribute=req.attribute,
        attribute_name="createVolumePermission", operation_type=req.operation_type,
        user_ids=req.user_ids, user_groups=req.user_groups, bad_group=_bad_group)
    await ctx.cloud.snapshots.modify_volume_permissions(
        ctx.account_id, req.snapshot_id, add_accounts=changes.add,
        remove_accounts=changes.remove, add_all=bool(changes.add_groups),
        remove_all=bool(changes.remove_groups))
    return {"return": True}


async def reset_snapshot_attribute(ctx: RequestContext,
                                   req: DescribeSnapshotAttributeRequest) -> dict:
    _check_attribute(req.attribute)
    if req.attribute != "createVolumePermission":
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid. Only "
            f"createVolumePermission can be reset.")
    await ctx.cloud.snapshots.reset_volume_permissions(ctx.account_id, req.snapshot_id)
    return {"return": True}
