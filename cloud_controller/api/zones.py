"""DescribeRegions and DescribeAvailabilityZones (with Eucalyptus's `verbose`)."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from mallee import errors
from cloud_controller.api.query import Filter, listparam, param
from cloud_controller.services.placement import launchable


@dataclass
class DescribeRegionsRequest:
    region_names: list[str] = listparam("RegionName")
    filters: list[Filter] = listparam("Filter")
    all_regions: bool = param("AllRegions", default=False)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeAvailabilityZonesRequest:
    zone_names: list[str] = listparam("ZoneName")
    zone_ids: list[str] = listparam("ZoneId")
    filters: list[Filter] = listparam("Filter")
    all_zones: bool = param("AllAvailabilityZones", default=False)
    dry_run: bool = param("DryRun", default=False)


def endpoint(ctx: RequestContext) -> str:
    return ctx.host or f"{ctx.cloud.settings.cloud.host}:{ctx.cloud.settings.clc.port}"


async def describe_regions(ctx: RequestContext, req: DescribeRegionsRequest) -> dict:
    region = ctx.cloud.settings.cloud.region
    for name in req.region_names:
        if name != region:
            raise errors.InvalidParameterValue(f"Invalid region: {name}")
    regions = [{"regionName": region, "regionEndpoint": endpoint(ctx),
                "optInStatus": "opt-in-not-required"}]
    regions = FilterSet(req.filters, {"region-name": lambda r: r["regionName"],
                                      "endpoint": lambda r: r["regionEndpoint"],
                                      "opt-in-status": lambda r: r["optInStatus"]}).apply(regions)
    return {"regionInfo": regions}


def _zone_item(ctx: RequestContext, cluster) -> dict:
    region = ctx.cloud.settings.cloud.region
    return {"zoneName": cluster.ref.zone, "zoneId": f"{region}-{cluster.ref.name}",
            "zoneState": "available" if cluster.available else "unavailable",
            "regionName": region, "groupName": region, "networkBorderGroup": region,
            "optInStatus": "opt-in-not-required", "zoneType": "availability-zone",
            "messageSet": [] if cluster.available else [{"message": cluster.error or "no nodes up"}]}


def _verbose_lines(ctx: RequestContext, cluster) -> list[dict]:
    """Eucalyptus's capacity table, one pseudo-zone per line."""
    ref = cluster.ref
    lines = [{"zoneName": ref.zone,
              "zoneState": f"{ref.host} arn:euca:eucalyptus:{ref.zone}:cluster:{ref.name}/"},
             {"zoneName": "|- vm types", "zoneState": "free / max   cpu   ram  disk"}]
    for vmtype in ctx.cloud.settings.vmtypes:
        # Free: what RunInstances would take now (none while the cluster is down).
        free = launchable(cluster, ctx.cloud.instances.reservations, vmtype)
        total = cluster.capacity(vmtype)[1]
        lines.append({"zoneName": f"|- {vmtype.name}",
                      "zoneState": f"{free:04d} / {total:04d}  {vmtype.cpu:>3} "
                                   f"{vmtype.memory:>5} {vmtype.disk:>5}"})
    counts = cluster.node_counts()  # powered off: a placement policy's decision
    lines.append({"zoneName": "|- nodes",
                  "zoneState": f"{counts['up']} up, {counts['off']} powered off, "
                               f"{counts['unreachable']} unreachable"})
    for line in lines:
        line["regionName"] = ctx.cloud.settings.cloud.region
    return lines


async def describe_availability_zones(ctx: RequestContext,
                                      req: DescribeAvailabilityZonesRequest) -> dict:
    clusters = ctx.cloud.clusters.clusters
    if "verbose" in req.zone_names:
        if not ctx.is_admin:  # users see the plain list, as in Eucalyptus
            return {"availabilityZoneInfo": [_zone_item(ctx, c) for c in clusters]}
        return {"availabilityZoneInfo": [line for c in clusters for line in _verbose_lines(ctx, c)]}
    zones = [_zone_item(ctx, c) for c in clusters]
    known = {z["zoneName"] for z in zones}
    missing = [n for n in req.zone_names if n not in known]
    if missing:
        raise errors.InvalidParameterValue(f"Invalid availability zone: [{', '.join(missing)}]")
    if req.zone_names:
        zones = [z for z in zones if z["zoneName"] in req.zone_names]
    if req.zone_ids:
        zones = [z for z in zones if z["zoneId"] in req.zone_ids]
    return {"availabilityZoneInfo": FilterSet(req.filters, {
        "zone-name": lambda z: z["zoneName"], "zone-id": lambda z: z["zoneId"],
        "state": lambda z: z["zoneState"], "region-name": lambda z: z["regionName"],
        "zone-type": lambda z: z["zoneType"], "group-name": lambda z: z["groupName"],
        "opt-in-status": lambda z: z["optInStatus"],
        "message": lambda z: [m["message"] for m in z["messageSet"]],
    }).apply(zones)}
