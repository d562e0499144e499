"""EBS snapshots on the CLC's side: who may see and restore them, the per-account
quota, and each snapshot's life (docs/ebs.md).

As with volumes, the row is the record and is committed before the SC is asked.
CreateSnapshot then has the SC take its point-in-time copy of the volume and
answers `pending` once it has (the request's moment is the snapshot's, as in
EC2); CopySnapshot answers at once and has the SC share the source's chunks in
the background. A background task follows the SC's upload to Walrus until the
snapshot is `completed` (or `error`), keeping its progress. DeleteSnapshot hides the snapshot at once (`deleting`), the SC lets go
of its chunks, then the row goes. Every SC call is idempotent on the snapshot id,
so a CLC that starts takes up whatever it finds `pending` or `deleting` (`resume`).
"""
from __future__ import annotations

import asyncio
import logging
import re
import time

from cloud_controller.db.snapshots import SnapshotRepository
from cloud_controller.db.volumes import VolumeRepository
from cloud_controller.services.background import Background
from cloud_controller.services.sharing import change_sharing, reset_sharing
from cloud_controller.services.volumes import ask_sc, find_volume
from mallee import errors, ids
from mallee.faults import crash_point
from mallee.rpc import Unreachable

log = logging.getLogger(__name__)

SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8,17}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
# EC2 gives a copy "an arbitrary volume ID that should not be used for any purpose".
COPY_VOLUME_ID = "vol-ffffffff"
# How often the CLC asks the SC how far an upload (or a volume's fill) has got.
POLL_SECONDS = 1.0
DONE = ("completed", "error")


def check_snapshot_id(snapshot_id: str) -> str:
    if not SNAPSHOT_ID.match(snapshot_id or ""):
        raise errors.InvalidSnapshotIDMalformed(
            f'Invalid id: "{snapshot_id}" (expecting "snap-...")')
    return snapshot_id


def not_found(snapshot_ids) -> errors.ApiError:
    names = sorted(snapshot_ids)
    plural = len(names) > 1
    return errors.InvalidSnapshotNotFound(
        f"The snapshot{'s' if plural else ''} '{', '.join(names)}' "
        f"do{'' if plural else 'es'} not exist.")


class SnapshotService:
    def __init__(self, db, settings, tags, storage):
        self.db = db
        self.settings = settings
        self.tags = tags  # TagService
        self.storage = storage  # ebs.client.StorageClient (VolumeService closes it)
        self.repo = SnapshotRepository(db)
        self.volumes = VolumeRepository(db)
        self.background = Background()

    # --- reading -----------------------------------------------------------------
    async def visible(self, account_id: str, snapshot_ids: list[str]) -> list:
        """The snapshots the account may see (its own, shared with it, public), those
        named if any; one named and not visible is not found, as in EC2."""
        for snapshot_id in snapshot_ids:
            check_snapshot_id(snapshot_id)
        rows = await self.repo.visible(account_id)
        if not snapshot_ids:
            return rows
        missing = set(snapshot_ids) - {r["id"] for r in rows}
        if missing:
            raise not_found(missing)
        return [r for r in rows if r["id"] in set(snapshot_ids)]

    async def find(self, account_id: str, snapshot_id: str):
        return (await self.visible(account_id, [snapshot_id]))[0]

    async def owned(self, account_id: str, snapshot_id: str):
        """The caller's own snapshot; one it may only restore is not its to change."""
        row = await self.find(account_id, snapshot_id)
        if row["account_id"] != account_id:
            raise errors.UnauthorizedOperation(
                f"You are not authorized to perform this operation on snapshot {snapshot_id}: "
                f"it belongs to another account.")
        return row

    async def restorable(self, account_id: str, snapshot_id: str):
        """A snapshot the account may create a volume from: visible and completed."""
        row = await self.find(account_id, snapshot_id)
        if row["state"] != "completed":
            raise errors.IncorrectState(f"Snapshot is in invalid state - {row['state']}")
        return row

    async def being_taken(self, volume_id: str) -> list[str]:
        """Snapshots of the volume the SC has yet to take its copy for: the volume
        must stay until it has (DeleteVolume waits)."""
        return await self.repo.being_taken(volume_id)

    async def state_of(self, snapshot_id: str) -> str | None:
        """pending | completed | error | deleting; None once it is gone."""
        row = await self.repo.get(snapshot_id)
        return row["state"] if row is not None else None

    async def permitted_accounts(self, snapshot_ids: list[str]) -> dict[str, set[str]]:
        return await self.repo.permitted_accounts(snapshot_ids)

    async def _check_quota(self, account_id: str, more: int = 1) -> None:
        limit = self.settings.clc.max_snapshots_per_account
        if await self.repo.count(account_id) + more > limit:
            raise errors.SnapshotLimitExceeded(
                f"You have reached the limit of {limit} snapshots for this account.")

    # --- CreateSnapshot(s), CopySnapshot --------------------------------------------
    async def create(self, account_id: str, volume_id: str, description: str,
                     tags: list[tuple[str, str]]):
        """The new snapshot's row, committed `pending`; the SC takes it next."""
        return (await self.create_many(account_id, [(volume_id, tags)], description))[0]

    async def create_many(self, account_id: str,
                          volumes: list[tuple[str, list[tuple[str, str]]]],
                          description: str) -> list:
        """A snapshot of each (volume, its snapshot's tags), all or none, in one unit
        with the quota count; each is taken by the SC next."""
        made = [(ids.resource_id("snap"), volume_id, tags) for volume_id, tags in volumes]
        async with self.db.unit():
            await self._check_quota(account_id, len(made))
            for snapshot_id, volume_id, tags in made:
                volume = await find_volume(self.volumes, account_id, volume_id)
                if volume["state"] not in ("available", "in-use"):
                    raise errors.IncorrectState(
                        f"Volume '{volume_id}' is in the '{volume['state']}' state.")
                await self.repo.insert(snapshot_id, account_id, volume_id, volume["size_gib"],
                                       description)
                await self.tags.tag_new(account_id, snapshot_id, "snapshot", tags)
        crash_point("clc.snapshot.recorded")
        # The point in time is the request's, as in EC2 (a user may thaw the guest's
        # filesystem once CreateSnapshot answers): the SC has taken its copy of each
        # volume before the caller is answered; the upload goes on in the background.
        for snapshot_id, _, _ in made:
            await asyncio.shield(self.background.spawn(self._take(snapshot_id, until="taken")))
        return [await self.repo.get(snapshot_id) for snapshot_id, _, _ in made]

    async def copy(self, account_id: str, source_id: str, description: str | None,
                   tags: list[tuple[str, str]]):
        """A copy in this region, the caller's own: the SC shares the source's chunks."""
        snapshot_id = ids.resource_id("snap")
        async with self.db.unit():
            source = await self.find(account_id, source_id)
            if source["state"] != "completed":
                raise errors.IncorrectState(f"Snapshot is in invalid state - {source['state']}")
            await self._check_quota(account_id)
            if description is None:
                description = f"[Copied {source_id} from {self.settings.cloud.region}]"
            await self.repo.insert(snapshot_id, account_id, COPY_VOLUME_ID, source["size_gib"],
                                   description, source_snapshot_id=source_id)
            await self.tags.tag_new(account_id, snapshot_id, "snapshot", tags)
        crash_point("clc.snapshot.recorded")
        self.background.spawn(self._take(snapshot_id))
        return await self.repo.get(snapshot_id)

    async def _take(self, snapshot_id: str, until: str = "done") -> None:
        """Have the SC take (or copy) the snapshot, then follow it to its end (in a
        task of its own when `until` is "taken": the caller waits only for the SC's
        first answer)."""
        row = await self.repo.get(snapshot_id)
        if row is None or row["state"] != "pending":
            return
        source = row["source_snapshot_id"]
        try:
            if source:
                answer = await ask_sc(f"copy {source} to {snapshot_id}",
                                      lambda: self.storage.copy_snapshot(source, snapshot_id))
            else:
                answer = await ask_sc(f"snapshot {row['volume_id']} as {snapshot_id}",
                                      lambda: self.storage.create_snapshot(snapshot_id,
                                                                           row["volume_id"]))
        except errors.ApiError as err:
            await self._record(snapshot_id, {"state": "error", "progress": 0,
                                             "message": f"{err.code}: {err.message}"})
            return
        async with self.db.unit():
            await self.repo.mark_taken(snapshot_id)
        if until == "taken":
            self.background.spawn(self._follow(snapshot_id, answer))
        else:
            await self._follow(snapshot_id, answer)

    async def _follow(self, snapshot_id: str, answer: dict) -> None:
        """Record the SC's answers until the upload ends. An SC that cannot be reached
        is asked again (the upload goes on without the CLC); one that no longer knows
        the snapshot has lost it."""
        while await self._record(snapshot_id, answer) and answer.get("state") not in DONE:
            await asyncio.sleep(POLL_SECONDS)
            try:
                found = await self.storage.describe_snapshots([snapshot_id])
            except Unreachable as err:
                log.warning("%s: the SC cannot be reached (%s); asking again", snapshot_id,
                            err.message)
                continue
            except errors.ApiError as err:
                found = [{"state": "error", "message": f"{err.code}: {err.message}"}]
            answer = found[0] if found else {"state": "error",
                                             "message": "the SC no longer has the snapshot"}

    async def _record(self, snapshot_id: str, answer: dict) -> bool:
        """The SC's latest word on a pending snapshot; False once it is no longer
        pending here (finished, or being deleted)."""
        state = answer.get("state") if answer.get("state") in DONE else "pending"
        progress = max(0, min(100, int(answer.get("progress") or 0)))
        columns: dict = {"state": state, "progress": 100 if state == "completed" else progress}
        if state == "error":
            columns["status_message"] = answer.get("message") or "the snapshot failed"
            log.warning("%s failed: %s", snapshot_id, columns["status_message"])
        if state in DONE:
            columns["completed_at"] = time.time()
        async with self.db.unit():
            return await self.repo.compare_and_set(snapshot_id, "pending", **columns)

    # --- DeleteSnapshot ----------------------------------------------------------
    async def delete(self, account_id: str, snapshot_id: str) -> None:
        async with self.db.unit():
            row = await self.owned(account_id, snapshot_id)
            users = await self.repo.images_using(snapshot_id) or \
                await self.repo.volumes_filling(snapshot_id)
            if users:
                raise errors.InvalidSnapshotInUse(
                    f"The snapshot {snapshot_id} is currently in use by {users[0]}")
            await self.repo.compare_and_set(snapshot_id, row["state"], state="deleting")
        crash_point("clc.snapshot.deleting")
        self.background.spawn(self._destroy(snapshot_id))

    async def _destroy(self, snapshot_id: str) -> None:
        try:
            await ask_sc(f"delete {snapshot_id}",
                         lambda: self.storage.delete_snapshot(snapshot_id))
        except errors.ApiError:
            return  # stays `deleting` (hidden): the next start asks the SC again
        async with self.db.unit():
            await self.repo.delete(snapshot_id)
            await self.tags.forget(snapshot_id)

    # --- createVolumePermission --------------------------------------------------
    async def volume_permissions(self, account_id: str,
                                 snapshot_id: str) -> tuple[bool, list[str]]:
        row = await self.owned(account_id, snapshot_id)
        return bool(row["is_public"]), await self.repo.permissions(snapshot_id)

    async def modify_volume_permissions(self, account_id: str, snapshot_id: str, *,
                                        add_accounts=(), remove_accounts=(),
                                        add_all=False, remove_all=False) -> None:
        for other in list(add_accounts) + list(remove_accounts):
            if not ACCOUNT_ID.match(other):
                raise errors.InvalidParameterValue(
                    f"Value ({other}) for parameter userId is invalid. Expecting a 12-digit "
                    f"account id.")
        async with self.db.unit():
            await self.owned(account_id, snapshot_id)
            await change_sharing(self.repo, snapshot_id, add_accounts=add_accounts,
                                 remove_accounts=remove_accounts, add_all=add_all,
                                 remove_all=remove_all)

    async def reset_volume_permissions(self, account_id: str, snapshot_id: str) -> None:
        async with self.db.unit():
            await self.owned(account_id, snapshot_id)
            await reset_sharing(self.repo, snapshot_id)

    # --- after a restart ---------------------------------------------------------
    async def resume(self) -> None:
        """Finish what a CLC that stopped left half done: snapshots still `pending`
        (asked again: the SC answers the one it has) and `deleting`."""
        for row in await self.repo.in_states(("pending",)):
            log.info("%s was left pending: asking the SC again", row["id"])
            self.background.spawn(self._take(row["id"]))
        for row in await self.repo.in_states(("deleting",)):
            log.info("%s was left deleting: asking the SC again", row["id"])
            self.background.spawn(self._destroy(row["id"]))

    async def close(self) -> None:
        await self.background.close()
