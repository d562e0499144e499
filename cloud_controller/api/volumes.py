"""CreateVolume, DescribeVolumes, DeleteVolume, DescribeVolumeStatus,
DescribeVolumeAttribute, ModifyVolume, DescribeVolumesModifications: EBS volumes
held by the storage controller (docs/ebs.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import capped_page
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.services.volumes import NewVolume, check_volume_id
from mallee import errors
from mallee.xmlwrite import iso8601

# The volume listings page at least 5 at a time; more than 500 is 500, as EC2 says
# ("if you specify a value larger than 500, only 500 items are returned").
PAGE_LOW, PAGE_HIGH = 5, 500


def _page(items: list[dict], id_key: str, max_results: int | None, next_token: str | None):
    return capped_page(items, lambda i: i[id_key], max_results, next_token, PAGE_LOW, PAGE_HIGH)


@dataclass
class CreateVolumeRequest:
    zone: str = param("AvailabilityZone")
    zone_id: str = param("AvailabilityZoneId")
    size: int = param("Size")
    volume_type: str = param("VolumeType")
    iops: int = param("Iops")
    throughput: int = param("Throughput")
    snapshot_id: str = param("SnapshotId")
    encrypted: bool = param("Encrypted")
    multi_attach: bool = param("MultiAttachEnabled")
    client_token: str = param("ClientToken")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them (no KMS, no
    # outposts, no managed operators; a new volume is whole at once).
    IGNORED: ClassVar[tuple[str, ...]] = ("KmsKeyId", "OutpostArn", "VolumeInitializationRate",
                                          "Operator")


@dataclass
class DescribeVolumesRequest:
    volume_ids: list[str] = listparam("VolumeId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)
    IGNORED: ClassVar[tuple[str, ...]] = ("IncludeManagedResources",)


@dataclass
class VolumeIdRequest:
    volume_id: str = param("VolumeId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeVolumeAttributeRequest:
    volume_id: str = param("VolumeId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ModifyVolumeRequest:
    volume_id: str = param("VolumeId", required=True)
    size: int = param("Size")
    volume_type: str = param("VolumeType")
    iops: int = param("Iops")
    throughput: int = param("Throughput")
    multi_attach: bool = param("MultiAttachEnabled")
    dry_run: bool = param("DryRun", default=False)


def attachment_item(row) -> dict:
    return {"volumeId": row["volume_id"], "instanceId": row["instance_id"],
            "device": row["device"], "status": row["state"],
            "attachTime": iso8601(row["attached_at"]),
            "deleteOnTermination": bool(row["delete_on_termination"])}


def volume_item(row, attachments: list, tags: dict[str, str]) -> dict:
    return {"volumeId": row["id"], "size": row["size_gib"], "snapshotId": row["snapshot_id"] or "",
            "availabilityZone": row["zone"], "status": row["state"],
            "createTime": iso8601(row["created_at"]),
            "attachmentSet": [attachment_item(a) for a in attachments],
            "volumeType": row["volume_type"], "iops": row["iops"],
            "throughput": row["throughput"], "encrypted": bool(row["encrypted"]),
            "multiAttachEnabled": bool(row["multi_attach"]), "fastRestored": False,
            "tagSet": tag_list(tags)}


VOLUME_FILTERS = {
    "volume-id": lambda i: i["volumeId"], "status": lambda i: i["status"],
    "size": lambda i: str(i["size"]), "volume-type": lambda i: i["volumeType"],
    "availability-zone": lambda i: i["availabilityZone"],
    "create-time": lambda i: i["createTime"], "snapshot-id": lambda i: i["snapshotId"],
    "encrypted": lambda i: i["encrypted"],
    "multi-attach-enabled": lambda i: i["multiAttachEnabled"],
    "fast-restored": lambda i: i["fastRestored"],
    "attachment.instance-id": lambda i: [a["instanceId"] for a in i["attachmentSet"]],
    "attachment.device": lambda i: [a["device"] for a in i["attachmentSet"]],
    "attachment.status": lambda i: [a["status"] for a in i["attachmentSet"]],
    "attachment.attach-time": lambda i: [a["attachTime"] for a in i["attachmentSet"]],
    "attachment.delete-on-termination": lambda i: [
        a["deleteOnTermination"] for a in i["attachmentSet"]],
}


def _tags_of(item) -> dict[str, str]:
    return {t["key"]: t["value"] for t in item["tagSet"]}


async def _volume_items(ctx: RequestContext, rows) -> list[dict]:
    volume_ids = [r["id"] for r in rows]
    tags = await ctx.cloud.tags.of(volume_ids)
    attachments = await ctx.cloud.volumes.attachments(volume_ids)
    return [volume_item(r, attachments[r["id"]], tags[r["id"]]) for r in rows]


async def _page_of_volumes(ctx: RequestContext, volume_ids: list[str], filters: list[Filter],
                           fields: dict, max_results, next_token) -> tuple[list[dict], str | None]:
    """The caller's volumes (those named), filtered, one page of them in id order."""
    if volume_ids and max_results is not None:
        raise errors.InvalidParameterCombination(
            "The parameter volumeSet cannot be used with the parameter maxResults")
    matching = FilterSet(filters, fields, tags=_tags_of)
    rows = await ctx.cloud.volumes.describe(ctx.account_id, volume_ids)
    items = matching.apply(await _volume_items(ctx, rows))
    return _page(items, "volumeId", max_results, next_token)


async def create_volume(ctx: RequestContext, req: CreateVolumeRequest) -> dict:
    tags = tags_for(req.tag_specifications, "volume")  # checked before the volume exists
    row = await ctx.cloud.volumes.create(ctx.account_id, NewVolume(
        zone=req.zone, zone_id=req.zone_id, size=req.size, volume_type=req.volume_type,
        iops=req.iops, throughput=req.throughput, snapshot_id=req.snapshot_id,
        encrypted=req.encrypted, multi_attach=req.multi_attach,
        client_token=req.client_token, tags=tuple(tags)))
    return (await _volume_items(ctx, [row]))[0]


async def describe_volumes(ctx: RequestContext, req: DescribeVolumesRequest) -> dict:
    items, token = await _page_of_volumes(ctx, req.volume_ids, req.filters, VOLUME_FILTERS,
                                          req.max_results, req.next_token)
    return {"volumeSet": items, "nextToken": token}


async def delete_volume(ctx: RequestContext, req: VolumeIdRequest) -> dict:
    await ctx.cloud.volumes.delete(ctx.account_id, req.volume_id)
    return {"return": True}


def status_item(volume: dict) -> dict:
    """I/O is enabled on every volume that has its file (available or in use); a
    volume still being made or removed has no status yet."""
    ready = volume["status"] in ("available", "in-use")
    return {"volumeId": volume["volumeId"], "availabilityZone": volume["availabilityZone"],
            "volumeStatus": {
                "status": "ok" if ready else "insufficient-data",
                "details": [{"name": "io-enabled",
                             "status": "passed" if ready else "insufficient-data"},
                            {"name": "io-performance", "status": "not-applicable"}]},
            "actionsSet": [], "eventsSet": [],
            "attachmentStatuses": [{"instanceId": a["instanceId"], "ioPerformance": "normal"}
                                   for a in volume["attachmentSet"]]}


STATUS_FILTERS = {
    "availability-zone": lambda s: s["availabilityZone"],
    "volume-status.status": lambda s: s["volumeStatus"]["status"],
    "volume-status.details-name": lambda s: [d["name"] for d in s["volumeStatus"]["details"]],
    "volume-status.details-status": lambda s: [
        d["status"] for d in s["volumeStatus"]["details"]],
}


async def describe_volume_status(ctx: RequestContext, req: DescribeVolumesRequest) -> dict:
    matching = FilterSet(req.filters, STATUS_FILTERS)
    if req.volume_ids and req.max_results is not None:
        raise errors.InvalidParameterCombination(
            "The parameter volumeSet cannot be used with the parameter maxResults")
    rows = await ctx.cloud.volumes.describe(ctx.account_id, req.volume_ids)
    statuses = matching.apply([status_item(v) for v in await _volume_items(ctx, rows)])
    chunk, token = _page(statuses, "volumeId", req.max_results, req.next_token)
    return {"volumeStatusSet": chunk, "nextToken": token}


async def describe_volume_attribute(ctx: RequestContext,
                                    req: DescribeVolumeAttributeRequest) -> dict:
    """No volume here has product codes, and I/O is never suspended, so autoEnableIO
    (whether I/O resumes by itself after a consistency check) is false."""
    if req.attribute not in ("autoEnableIO", "productCodes"):
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid. Expecting "
            f"'autoEnableIO' or 'productCodes'.")
    row = await ctx.cloud.volumes.find(ctx.account_id, req.volume_id)
    answer: dict = {"volumeId": row["id"]}
    if req.attribute == "autoEnableIO":
        answer["autoEnableIO"] = {"value": False}
    else:
        answer["productCodes"] = []
    return answer


def modification_item(row) -> dict:
    done = row["state"] in ("completed", "failed")
    return {"volumeId": row["volume_id"], "modificationState": row["state"],
            "statusMessage": row["status_message"],
            "targetSize": row["target_size_gib"], "targetIops": row["target_iops"],
            "targetVolumeType": row["target_type"],
            "targetThroughput": row["target_throughput"], "targetMultiAttachEnabled": False,
            "originalSize": row["original_size_gib"], "originalIops": row["original_iops"],
            "originalVolumeType": row["original_type"],
            "originalThroughput": row["original_throughput"],
            "originalMultiAttachEnabled": False,
            "progress": 100 if row["state"] == "completed" else 0,
            "startTime": iso8601(row["started_at"]),
            "endTime": iso8601(row["ended_at"]) if done and row["ended_at"] else None}


async def modify_volume(ctx: RequestContext, req: ModifyVolumeRequest) -> dict:
    row = await ctx.cloud.volumes.modify(ctx.account_id, req.volume_id, req.size,
                                         req.volume_type, req.iops, req.throughput,
                                         req.multi_attach)
    return {"volumeModification": modification_item(row)}


MODIFICATION_FILTERS = {
    "volume-id": lambda m: m["volumeId"], "modification-state": lambda m: m["modificationState"],
    "target-size": lambda m: str(m["targetSize"]), "target-iops": lambda m: m["targetIops"],
    "target-volume-type": lambda m: m["targetVolumeType"],
    "target-throughput": lambda m: m["targetThroughput"],
    "original-size": lambda m: str(m["originalSize"]),
    "original-iops": lambda m: m["originalIops"],
    "original-volume-type": lambda m: m["originalVolumeType"],
    "start-time": lambda m: m["startTime"],
}


async def describe_volumes_modifications(ctx: RequestContext,
                                         req: DescribeVolumesRequest) -> dict:
    for volume_id in req.volume_ids:
        check_volume_id(volume_id)
    matching = FilterSet(req.filters, MODIFICATION_FILTERS)
    rows = await ctx.cloud.volumes.modifications(ctx.account_id, req.volume_ids)
    items = matching.apply([modification_item(r) for r in rows])
    chunk, token = _page(items, "volumeId", req.max_results, req.next_token)
    return {"volumeModificationSet": chunk, "nextToken": token}
