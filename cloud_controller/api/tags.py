"""CreateTags, DeleteTags, DescribeTags."""
from __future__ import annotations

from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from mallee import errors
from cloud_controller.api.query import Filter, listparam, param


@dataclass
class WireTag:
    key: str = param("Key")
    value: str = param("Value")


@dataclass
class WireTagToDelete:
    key: str = param("Key")
    value: str = param("Value", empty_is_value=True)  # "": only a tag whose value is empty


@dataclass
class CreateTagsRequest:
    resource_ids: list[str] = listparam("ResourceId", required=True)
    tags: list[WireTag] = listparam("Tag", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DeleteTagsRequest:
    resource_ids: list[str] = listparam("ResourceId", required=True)
    tags: list[WireTagToDelete] = listparam("Tag")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeTagsRequest:
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


async def create_tags(ctx: RequestContext, req: CreateTagsRequest) -> dict:
    for tag in req.tags:
        if tag.key is None:
            raise errors.MissingParameter("The request must contain the parameter Tag.N.Key")
    await ctx.cloud.tags.create(ctx.account_id, req.resource_ids,
                                [(t.key, t.value or "") for t in req.tags])
    return {"return": True}


async def delete_tags(ctx: RequestContext, req: DeleteTagsRequest) -> dict:
    await ctx.cloud.tags.delete(ctx.account_id, req.resource_ids,
                                [(t.key, t.value) for t in req.tags if t.key is not None])
    return {"return": True}


async def describe_tags(ctx: RequestContext, req: DescribeTagsRequest) -> dict:
    rows = FilterSet(req.filters, {
        "key": lambda r: r["key"], "value": lambda r: r["value"],
        "resource-id": lambda r: r["resource_id"], "resource-type": lambda r: r["resource_type"],
    }).apply(await ctx.cloud.tags.all(ctx.account_id))
    chunk, token = page(rows, lambda r: f"{r['resource_id']}\0{r['key']}", req.max_results,
                        req.next_token)
    return {"tagSet": [{"resourceId": r["resource_id"], "resourceType": r["resource_type"],
                        "key": r["key"], "value": r["value"]} for r in chunk],
            "nextToken": token}
