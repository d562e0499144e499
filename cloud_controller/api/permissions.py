"""Who may use a resource another account owns: an image's launchPermission and a
snapshot's createVolumePermission take the same changes (Add.N / Remove.N of a
UserId or the Group `all`, or the older flat OperationType + UserId.N +
UserGroup.N form)."""
from __future__ import annotations

from dataclasses import dataclass, field

from mallee import errors
from cloud_controller.api.query import listparam, param


@dataclass
class Permission:
    user_id: str = param("UserId")
    group: str = param("Group")


@dataclass
class PermissionChanges:
    add: list[Permission] = listparam("Add")
    remove: list[Permission] = listparam("Remove")


@dataclass
class Changes:
    """The accounts and groups to add and remove, checked."""
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    add_groups: list[str] = field(default_factory=list)
    remove_groups: list[str] = field(default_factory=list)


def requested_changes(changes: PermissionChanges | None, *, attribute: str | None,
                      attribute_name: str, operation_type: str | None, user_ids: list[str],
                      user_groups: list[str], bad_group) -> Changes:
    """What a Modify*Attribute request asks of permission `attribute_name`; a group
    other than `all` raises `bad_group(group)`."""
    changes = changes or PermissionChanges()
    found = Changes([p.user_id for p in changes.add if p.user_id],
                    [p.user_id for p in changes.remove if p.user_id],
                    [p.group for p in changes.add if p.group],
                    [p.group for p in changes.remove if p.group])
    if operation_type or user_ids or user_groups:  # the older flat form
        if attribute not in (None, attribute_name):
            raise errors.InvalidParameterValue(f"Attribute {attribute} cannot be modified.")
        if operation_type not in ("add", "remove"):
            raise errors.InvalidParameterValue("OperationType must be add or remove.")
        if operation_type == "add":
            found.add += user_ids
            found.add_groups += user_groups
        else:
            found.remove += user_ids
            found.remove_groups += user_groups
    if not (found.add or found.remove or found.add_groups or found.remove_groups):
        raise errors.MissingParameter(
            f"The request must name a {attribute_name} to change.")
    for group in found.add_groups + found.remove_groups:
        if group != "all":
            raise bad_group(group)
    return found
