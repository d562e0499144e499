"""Sharing a resource with other accounts (an image's launchPermission, a snapshot's
createVolumePermission): the same changes on a repository that has `grant`,
`revoke`, `revoke_all` and `set_public`, in the caller's unit."""
from __future__ import annotations


async def change_sharing(repo, resource_id: str, *, add_accounts=(), remove_accounts=(),
                         add_all=False, remove_all=False) -> None:
    for other in add_accounts:
        await repo.grant(resource_id, other)
    for other in remove_accounts:
        await repo.revoke(resource_id, other)
    if add_all or remove_all:
        await repo.set_public(resource_id, add_all)


async def reset_sharing(repo, resource_id: str) -> None:
    await repo.revoke_all(resource_id)
    await repo.set_public(resource_id, False)
