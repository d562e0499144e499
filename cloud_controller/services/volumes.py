"""EBS volumes on the CLC's side: EC2's rules for each volume type, per-account
quotas, and each volume's life (docs/ebs.md).

The row is the record and is committed before anything is asked of the SC:
CreateVolume answers `creating`, then a background task has the SC make the
file and sets `available` (or `error` when the SC cannot be reached); from
a snapshot, the SC fills the file from Walrus and the task asks until it is done;
DeleteVolume sets `deleting`, the SC removes the file, then the row goes.
ModifyVolume records a modification, the SC grows the file, then the volume
takes the new figures. Every SC call is idempotent on the volume id, so a
CLC that restarts finishes whatever it finds half done (`resume`).
"""
from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from dataclasses import dataclass

from cloud_controller.db.volumes import AttachmentRepository, VolumeRepository
from cloud_controller.services.background import Background
from mallee import errors, ids
from mallee.faults import crash_point
from mallee.rpc import Unreachable

log = logging.getLogger(__name__)

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")
# How often a background step asks an unreachable SC before it gives up
# (create: the volume is `error`; delete and grow are tried again at the next start).
SC_ATTEMPTS = 3
SC_RETRY_SECONDS = 1.0
# How often the CLC asks the SC whether a volume made from a snapshot is filled.
FILL_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class VolumeType:
    """EC2's limits for one volume type: size (GiB); provisioned IOPS (None: not
    taken) with its maximum per GiB; throughput (MiB/s, gp3 only)."""
    min_size: int
    max_size: int
    iops: tuple[int, int] | None = None
    iops_per_gib: int = 0
    iops_required: bool = False
    default_iops: int | None = None
    throughput: tuple[int, int] | None = None
    default_throughput: int | None = None


# The SC's files are at most 16 TiB (ebs.volumes.MAX_SIZE_GIB), io2 included.
TYPES = {
    "standard": VolumeType(1, 1024),
    "gp2": VolumeType(1, 16384),
    "gp3": VolumeType(1, 16384, iops=(3000, 16000), iops_per_gib=500, default_iops=3000,
                      throughput=(125, 1000), default_throughput=125),
    "io1": VolumeType(4, 16384, iops=(100, 64000), iops_per_gib=50, iops_required=True),
    "io2": VolumeType(4, 16384, iops=(100, 256000), iops_per_gib=1000, iops_required=True),
    "sc1": VolumeType(125, 16384),
    "st1": VolumeType(125, 16384),
}
DEFAULT_TYPE = "gp2"


def gp2_iops(size_gib: int) -> int:
    """gp2's baseline: 3 IOPS per GiB, at least 100 and at most 16,000."""
    return max(100, min(16000, 3 * size_gib))


def check_volume_id(volume_id: str) -> str:
    if not VOLUME_ID.match(volume_id or ""):
        raise errors.InvalidVolumeIDMalformed(f'Invalid id: "{volume_id}" (expecting "vol-...")')
    return volume_id


async def find_volume(repo: VolumeRepository, account_id: str, volume_id: str):
    """The caller's volume; another account's is not found, as in EC2."""
    check_volume_id(volume_id)
    row = await repo.get(volume_id)
    if row is None or row["account_id"] != account_id:
        raise errors.InvalidVolumeNotFound(f"The volume '{volume_id}' does not exist.")
    return row


async def ask_sc(what: str, call):
    """One SC call, asked again while the SC cannot be reached (every SC call is
    idempotent on its ids)."""
    for attempt in range(1, SC_ATTEMPTS + 1):
        try:
            return await call()
        except errors.ApiError as err:
            retry = isinstance(err, Unreachable) and attempt < SC_ATTEMPTS
            log.warning("%s: the SC answered %s: %s%s", what, err.code, err.message,
                        " (trying again)" if retry else "")
            if not retry:
                raise
        await asyncio.sleep(SC_RETRY_SECONDS)


def performance(volume_type: str, size: int, iops: int | None,
                throughput: int | None) -> tuple[int | None, int | None]:
    """The (iops, throughput) a volume of this type and size gets, by EC2's rules."""
    rule = TYPES.get(volume_type)
    if rule is None:
        raise errors.InvalidParameterValue(
            f"Value ({volume_type}) for parameter volumeType is invalid. Expecting one of "
            f"{', '.join(sorted(TYPES))}.")
    if size < rule.min_size:
        raise errors.InvalidParameterValue(
            f"Volume of {size}GiB is too small; minimum is {rule.min_size}GiB.")
    if size > rule.max_size:
        raise errors.InvalidParameterValue(
            f"Volume of {size}GiB is too large; maximum is {rule.max_size}GiB.")
    if iops is not None and rule.iops is None:
        raise errors.InvalidParameterCombination(
            f"The parameter iops is not supported for {volume_type} volumes.")
    if throughput is not None and rule.throughput is None:
        raise errors.InvalidParameterCombination(
            f"The parameter throughput is not supported for {volume_type} volumes.")
    if rule.iops is None:
        return (gp2_iops(size) if volume_type == "gp2" else None), None
    if iops is None:
        if rule.iops_required:
            raise errors.InvalidParameterCombination(
                f"The parameter iops must be specified for {volume_type} volumes.")
        iops = rule.default_iops
    low, high = rule.iops
    if iops < low:
        raise errors.InvalidParameterValue(f"Volume iops of {iops} is too low; minimum is {low}.")
    if iops > high:
        raise errors.InvalidParameterValue(f"Volume iops of {iops} is too high; maximum is {high}.")
    if iops > max(rule.default_iops or low, size * rule.iops_per_gib):
        raise errors.InvalidParameterValue(
            f"Iops to volume size ratio of {iops / size:f} is too high; maximum is "
            f"{rule.iops_per_gib:f}.")
    if rule.throughput is None:
        return iops, None
    throughput = rule.default_throughput if throughput is None else throughput
    low, high = rule.throughput
    if not low <= throughput <= high:
        raise errors.InvalidParameterValue(
            f"Throughput of {throughput}MiB/s is outside {low}..{high}MiB/s.")
    if throughput > iops // 4:
        raise errors.InvalidParameterValue(
            f"Throughput of {throughput}MiB/s is too high for {iops} iops; maximum is "
            f"0.25MiB/s per iops.")
    return iops, throughput


def size_from(snapshot, size: int | None) -> int:
    """A volume made from a snapshot is at least as large: the snapshot's size by default."""
    if size is None:
        return snapshot["size_gib"]
    if size < snapshot["size_gib"]:
        raise errors.InvalidParameterValue(
            f"Volume of size {size}GB is smaller than snapshot '{snapshot['id']}', expect "
            f"size >= {snapshot['size_gib']}GB")
    return size


@dataclass
class NewVolume:
    zone: str | None
    zone_id: str | None
    size: int | None
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    snapshot_id: str | None = None
    encrypted: bool | None = None
    multi_attach: bool | None = None
    client_token: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


class VolumeService:
    def __init__(self, db, settings, clusters, tags, storage, snapshots):
        self.db = db
        self.settings = settings
        self.clusters = clusters  # ClusterMonitor: its clusters are the zones
        self.tags = tags  # TagService
        self.storage = storage  # ebs.client.StorageClient
        self.snapshots = snapshots  # SnapshotService: who may restore which snapshot
        self.repo = VolumeRepository(db)
        self.plugged = AttachmentRepository(db)
        self.background = Background()

    # --- reading -----------------------------------------------------------------
    async def find(self, account_id: str, volume_id: str):
        return await find_volume(self.repo, account_id, volume_id)

    async def describe(self, account_id: str, volume_ids: list[str]) -> list:
        for volume_id in volume_ids:
            check_volume_id(volume_id)
        rows = await self.repo.of_account(account_id)
        if not volume_ids:
            return rows
        missing = sorted(set(volume_ids) - {r["id"] for r in rows})
        if missing:
            raise errors.InvalidVolumeNotFound(
                f"The volume{'s' if len(missing) > 1 else ''} '{', '.join(missing)}' "
                f"do{'' if len(missing) > 1 else 'es'} not exist.")
        return [r for r in rows if r["id"] in set(volume_ids)]

    async def attachments(self, volume_ids: list[str]) -> dict[str, list]:
        return await self.plugged.of_volumes(volume_ids)

    async def modifications(self, account_id: str, volume_ids: list[str]) -> list:
        rows = await self.describe(account_id, volume_ids)
        return await self.repo.modifications([r["id"] for r in rows])

    def zone_of(self, zone: str | None, zone_id: str | None) -> str:
        region = self.settings.cloud.region
        for cluster in self.clusters.clusters:
            if zone == cluster.ref.zone or zone_id == f"{region}-{cluster.ref.name}":
                return cluster.ref.zone
        if not zone and not zone_id:
            raise errors.MissingParameter("The request must contain the parameter zone")
        raise errors.InvalidZoneNotFound(f"The zone '{zone or zone_id}' does not exist.")

    # --- CreateVolume ------------------------------------------------------------
    async def create(self, account_id: str, req: NewVolume):
        """The new volume's row, committed `creating`; the SC makes its file next
        (from a snapshot: fills it from Walrus)."""
        zone = self.zone_of(req.zone, req.zone_id)
        if req.size is None and req.snapshot_id is None:
            raise errors.MissingParameter("The request must contain the parameter size/snapshot")
        if req.encrypted:
            raise errors.UnsupportedOperation("Encrypted volumes are not supported by this cloud.")
        if req.multi_attach:
            raise errors.UnsupportedOperation(
                "Multi-attach volumes are not supported by this cloud.")
        volume_id = ids.resource_id("vol")
        try:
            async with self.db.unit():  # the snapshot, the quota count and the row go together
                size = req.size
                if req.snapshot_id is not None:  # a DeleteSnapshot waits for this unit
                    size = size_from(await self.snapshots.restorable(account_id,
                                                                     req.snapshot_id), size)
                earlier = await self._record(account_id, volume_id, zone, size, req)
                if earlier is not None:
                    return earlier
        except sqlite3.IntegrityError:  # a racing request with the same token won
            raise errors.IdempotentParameterMismatch("The client token is already in use.") \
                from None
        crash_point("clc.volume.recorded")
        self.background.spawn(self._provision(volume_id, size, req.snapshot_id))
        return await self.repo.get(volume_id)

    async def _record(self, account_id: str, volume_id: str, zone: str, size: int,
                      req: NewVolume):
        """Insert the row within the account's quota (in the caller's unit); the
        earlier volume of the same ClientToken instead, if there is one."""
        volume_type = req.volume_type or DEFAULT_TYPE
        iops, throughput = performance(volume_type, size, req.iops, req.throughput)
        clc = self.settings.clc
        if req.client_token:
            earlier = await self.repo.by_token(account_id, req.client_token)
            if earlier is not None:
                if (earlier["size_gib"], earlier["volume_type"], earlier["zone"],
                        earlier["snapshot_id"]) != (size, volume_type, zone, req.snapshot_id):
                    raise errors.IdempotentParameterMismatch(
                        "The client token was used with different parameters.")
                return earlier
        count, gib = await self.repo.usage(account_id)
        if count >= clc.max_volumes_per_account:
            raise errors.VolumeLimitExceeded(
                f"You have reached the limit of {clc.max_volumes_per_account} volumes.")
        if gib + size > clc.max_volume_gib_per_account:
            raise errors.VolumeLimitExceeded(
                f"You have exceeded your maximum volume storage limit of "
                f"{clc.max_volume_gib_per_account} GiB.")
        await self.repo.insert(volume_id, account_id, zone, size, volume_type,
                               iops, throughput, req.snapshot_id, req.client_token)
        await self.tags.tag_new(account_id, volume_id, "volume", list(req.tags))
        return None

    async def _provision(self, volume_id: str, size_gib: int,
                         snapshot_id: str | None = None) -> None:
        """The SC's file; one from a snapshot is `creating` at the SC while it is
        filled, and asking again answers how it stands."""
        def make():
            return self.storage.create_volume(volume_id, size_gib, snapshot_id)
        try:
            answer = await ask_sc(f"create {volume_id}", make)
            while answer.get("state") == "creating":
                await asyncio.sleep(FILL_POLL_SECONDS)
                answer = await ask_sc(f"fill {volume_id} from {snapshot_id}", make)
        except errors.ApiError:
            state = "error"
        else:
            state = "error" if answer.get("state") == "error" else "available"
            if state == "error":
                log.warning("%s: the SC could not fill it from %s: %s", volume_id, snapshot_id,
                            answer.get("message"))
        async with self.db.unit():
            await self.repo.compare_and_set(volume_id, "creating", state=state)

    # --- DeleteVolume ------------------------------------------------------------
    async def delete(self, account_id: str, volume_id: str) -> None:
        async with self.db.unit():
            row = await self.find(account_id, volume_id)
            if (await self.plugged.of_volumes([volume_id]))[volume_id] or row["state"] == "in-use":
                raise errors.VolumeInUse(f"Volume {volume_id} is currently attached.")
            if row["state"] == "deleting":
                return
            taking = await self.snapshots.being_taken(volume_id)
            if taking:
                raise errors.IncorrectState(
                    f"The volume '{volume_id}' is being snapshotted ({taking[0]}); delete it "
                    f"once the snapshot has started.")
            last = await self.repo.modification(volume_id)
            if last is not None and last["state"] == "modifying":
                raise errors.IncorrectModificationState(
                    f"Volume {volume_id} is being modified: delete it when that is done.")
            if row["state"] not in ("available", "error"):
                raise errors.IncorrectState(
                    f"The volume '{volume_id}' is '{row['state']}' and cannot be deleted.")
            await self.repo.compare_and_set(volume_id, row["state"], state="deleting")
        crash_point("clc.volume.deleting")
        self.background.spawn(self._destroy(volume_id))

    async def _destroy(self, volume_id: str) -> None:
        try:
            await ask_sc(f"delete {volume_id}",
                               lambda: self.storage.delete_volume(volume_id))
        except errors.ApiError:
            return  # stays `deleting`: the next start asks the SC again
        async with self.db.unit():
            await self.repo.delete(volume_id)
            await self.tags.forget(volume_id)

    # --- ModifyVolume ------------------------------------------------------------
    async def modify(self, account_id: str, volume_id: str, size: int | None,
                     volume_type: str | None, iops: int | None, throughput: int | None,
                     multi_attach: bool | None):
        """Record the volume's modification (`modifying`); the SC grows its file next."""
        if multi_attach:
            raise errors.UnsupportedOperation(
                "Multi-attach volumes are not supported by this cloud.")
        if size is None and volume_type is None and iops is None and throughput is None:
            raise errors.MissingParameter(
                "The request must contain at least one of the parameters size, volumeType, "
                "iops or throughput.")
        async with self.db.unit():
            row = await self.find(account_id, volume_id)
            if row["state"] not in ("available", "in-use"):
                raise errors.IncorrectState(
                    f"The volume '{volume_id}' is '{row['state']}' and cannot be modified.")
            last = await self.repo.modification(volume_id)
            if last is not None and last["state"] == "modifying":
                raise errors.IncorrectModificationState(
                    f"Volume {volume_id} is already being modified.")
            new_size = row["size_gib"] if size is None else size
            if new_size < row["size_gib"]:
                raise errors.InvalidParameterValue(
                    f"New size cannot be smaller than existing size: {new_size}GiB is less "
                    f"than {row['size_gib']}GiB.")
            new_type = volume_type or row["volume_type"]
            keep = new_type == row["volume_type"]  # a type change starts from its defaults
            new_iops, new_throughput = performance(
                new_type, new_size,
                iops if iops is not None or not keep or new_type == "gp2" else row["iops"],
                throughput if throughput is not None or not keep else row["throughput"])
            target = (new_size, new_type, new_iops, new_throughput)
            if target == (row["size_gib"], row["volume_type"], row["iops"], row["throughput"]):
                raise errors.InvalidParameterValue(
                    f"Volume {volume_id} already has the requested size, type and "
                    f"performance.")
            await self.repo.start_modification(row, *target)
        crash_point("clc.volume.modifying")
        self.background.spawn(self._grow(volume_id, new_size))
        return await self.repo.modification(volume_id)

    async def _grow(self, volume_id: str, size_gib: int) -> None:
        try:
            await ask_sc(f"grow {volume_id}",
                               lambda: self.storage.grow_volume(volume_id, size_gib))
        except Unreachable:
            return  # stays `modifying`: the next start asks the SC again
        except errors.ApiError as err:
            async with self.db.unit():
                await self.repo.end_modification(volume_id, "failed", err.message)
            return
        async with self.db.unit():
            await self.repo.end_modification(volume_id, "completed")

    # --- after a restart ---------------------------------------------------------
    async def resume(self) -> None:
        """Finish what a CLC that stopped left half done: volumes still `creating` or
        `deleting`, and modifications still `modifying`."""
        for row in await self.repo.in_states(("creating",)):
            log.info("%s was left creating: asking the SC again", row["id"])
            self.background.spawn(self._provision(row["id"], row["size_gib"],
                                                  row["snapshot_id"]))
        for row in await self.repo.in_states(("deleting",)):
            log.info("%s was left deleting: asking the SC again", row["id"])
            self.background.spawn(self._destroy(row["id"]))
        for row in await self.repo.modifying():
            self.background.spawn(self._grow(row["volume_id"], row["target_size_gib"]))

    async def close(self) -> None:
        await self.background.close()
        await self.storage.close()
