"""AttachVolume and DetachVolume (docs/ebs.md): both answer with the attachment as
it is committed (attaching, detaching); the volume is plugged in or out after."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.query import param
from cloud_controller.api.volumes import attachment_item
from cloud_controller.services.volumes import check_volume_id


@dataclass
class AttachVolumeRequest:
    volume_id: str = param("VolumeId", required=True)
    instance_id: str = param("InstanceId", required=True)
    device: str = param("Device", required=True)
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes it for instances with several EBS cards; every instance here has one.
    IGNORED: ClassVar[tuple[str, ...]] = ("EbsCardIndex",)


@dataclass
class DetachVolumeRequest:
    volume_id: str = param("VolumeId", required=True)
    instance_id: str = param("InstanceId")
    device: str = param("Device")
    force: bool = param("Force", default=False)
    dry_run: bool = param("DryRun", default=False)


async def attach_volume(ctx: RequestContext, req: AttachVolumeRequest) -> dict:
    check_volume_id(req.volume_id)
    row = await ctx.cloud.attachments.attach(ctx.account_id, req.volume_id, req.instance_id,
                                             req.device)
    return attachment_item(row)


async def detach_volume(ctx: RequestContext, req: DetachVolumeRequest) -> dict:
    check_volume_id(req.volume_id)
    row = await ctx.cloud.attachments.detach(ctx.account_id, req.volume_id, req.instance_id,
                                             req.device, req.force)
    return attachment_item(row)
