"""Tags in requests (TagSpecification) and responses (tagSet), shared by
every action that creates or describes a taggable resource."""
from __future__ import annotations

from cloud_controller.services.tags import check_tag
from mallee import errors
from cloud_controller.api.query import TagSpecification


def tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def tags_for(specs: list[TagSpecification], resource_type: str) -> list[tuple[str, str]]:
    """The tags a request asks for on `resource_type`, checked before anything is made."""
    return tags_by_type(specs, (resource_type,))[resource_type]


def tags_by_type(specs: list[TagSpecification],
                 resource_types: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
    """The tags a request asks for on each of the resource types it makes (RunInstances:
    the instance, its volumes, its network interface), checked before anything is made."""
    tags: dict[str, list[tuple[str, str]]] = {t: [] for t in resource_types}
    for spec in specs:
        if spec.resource_type is None:
            raise errors.MissingParameter(
                "The request must contain the parameter TagSpecification.N.ResourceType")
        if spec.resource_type not in tags:
            raise errors.InvalidParameterValue(
                f"'{spec.resource_type}' is not a valid taggable resource type for this operation.")
        tags[spec.resource_type] += [(t.key, t.value) for t in spec.tags]
    for key, value in (kv for found in tags.values() for kv in found):
        check_tag(key, value)
    return tags
