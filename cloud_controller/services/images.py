"""The image registry: RegisterImage from a bundle manifest in Walrus,
visibility and launch permissions.

A manifest is fetched with the caller's own credential, so registering
proves the caller may read the bundle; its signature must verify against a
bundling certificate issued to the caller's account. The SHA-256 of the
manifest verified is kept with the image: the owner can still write the
bucket, so a launch runs the bundle only if its manifest is still that one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field

from cloud_controller.db.images import ImageRepository
from cloud_controller.services.boot_volumes import BlockDevice, check_mappings
from cloud_controller.services.sharing import change_sharing, reset_sharing
from cloud_controller.services.storage import ObjectStore
from mallee import errors, ids
from mallee.auth import Credential
from mallee.bundle import parse_manifest, verify_signature

PREFIXES = {"machine": "ami", "kernel": "aki", "ramdisk": "ari"}
_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")
_IMAGE_ID = re.compile(r"^(ami|aki|ari|emi|eki|eri)-[0-9a-f]{8,17}$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    location: str
    name: str | None
    description: str | None
    architecture: str | None
    kernel_id: str | None
    ramdisk_id: str | None
    root_device_name: str | None


@dataclass(frozen=True)
class EbsRegistration:
    """RegisterImage without ImageLocation: the root (RootDeviceName) is an EBS
    snapshot in the block device mapping."""
    name: str | None
    description: str | None
    architecture: str | None
    kernel_id: str | None
    ramdisk_id: str | None
    root_device_name: str | None
    mappings: list[BlockDevice] = field(default_factory=list)


def check_image_id(image_id: str, error=errors.InvalidAMIIDMalformed) -> None:
    if not _IMAGE_ID.match(image_id or ""):
        raise error(f"Invalid id: \"{image_id}\"")


def split_location(location: str) -> tuple[str, str]:
    bucket, _, key = location.lstrip("/").partition("/")
    if not bucket or not key:
        raise errors.InvalidParameterValue(
            f"ImageLocation must be bucket/key of a manifest, not {location!r}.")
    return bucket, key


class ImageService:
    def __init__(self, db, store: ObjectStore, accounts, snapshots=None):
        self.db = db
        self.snapshots = snapshots  # SnapshotService: an EBS image's snapshots
        self.repo = ImageRepository(db)
        self.store = store
        self.accounts = accounts

    async def register(self, credential: Credential, req: Registration) -> str:
        bucket, key = split_location(req.location)
        status, body = await self.store.get(credential, bucket, key)
        if status == 404:
            raise errors.InvalidManifest(f"The manifest {req.location} does not exist.")
        if status in (401, 403):
            raise errors.InvalidManifest(f"You may not read the manifest {req.location}.")
        if status != 200:
            raise errors.InvalidManifest(f"Walrus answered {status} for {req.location}.")
        manifest = parse_manifest(body)
        certificates = await self.accounts.certificates(credential.account_id)
        if not any(verify_signature(body, pem.encode()) for pem in certificates):
            raise errors.InvalidManifest(
                "The manifest's signature does not verify with any bundling certificate "
                "of your account (EC2_CERT from your eucarc).")
        name = req.name or key.rsplit("/", 1)[-1].removesuffix(".manifest.xml")
        # The name check and the kernel and ramdisk it names decide the insert: one unit.
        async with self.db.unit():
            await self._check_name(credential.account_id, name)
            image_type = manifest.image_type
            kernel_id = req.kernel_id or manifest.default_kernel_id
            ramdisk_id = req.ramdisk_id or manifest.default_ramdisk_id
            if image_type == "machine":
                await self._check_boot_files(credential.account_id, kernel_id, ramdisk_id)
            else:
                kernel_id = ramdisk_id = None
            image_id = ids.resource_id(PREFIXES[image_type])
            await self.repo.insert({
                "id": image_id, "account_id": credential.account_id, "name": name,
                "description": req.description, "image_type": image_type,
                "architecture": req.architecture or manifest.architecture or "x86_64",
                "location": f"{bucket}/{key}", "kernel_id": kernel_id, "ramdisk_id": ramdisk_id,
                "virtualization_type": "paravirtual" if kernel_id else "hvm",
                "root_device_name": req.root_device_name or "/dev/sda1",
                "size_bytes": manifest.size,
                "parts": json.dumps([p.filename for p in manifest.parts]),
                "manifest_sha256": hashlib.sha256(body).hexdigest(),
            })
        return image_id

    async def register_ebs(self, account_id: str, req: EbsRegistration,
                           state: str = "available", sizes: dict[str, int] | None = None) -> str:
        """An EBS-backed machine image: no bundle; its root volume is made from the
        snapshot its root device maps. CreateImage registers one `pending` with the
        sizes of snapshots it has just begun (which are not restorable yet)."""
        if not req.name:
            raise errors.MissingParameter("The request must contain the parameter name")
        root = req.root_device_name or "/dev/sda1"
        check_mappings(req.mappings)
        root_map = next((m for m in req.mappings if m.device_name == root), None)
        if root_map is None or not root_map.ebs or not root_map.snapshot_id:
            raise errors.InvalidBlockDeviceMapping(
                f"The root device {root} must map an EBS snapshot (BlockDeviceMapping with "
                f"DeviceName {root} and Ebs.SnapshotId).")
        rows = []
        async with self.db.unit():
            await self._check_name(account_id, req.name)
            await self._check_boot_files(account_id, req.kernel_id, req.ramdisk_id)
            for m in req.mappings:
                size = m.volume_size
                if m.snapshot_id:
                    least = (sizes or {}).get(m.snapshot_id) or (
                        await self.snapshots.restorable(account_id, m.snapshot_id))["size_gib"]
                    if size is not None and size < least:
                        raise errors.InvalidBlockDeviceMapping(
                            f"Volume of size {size} GiB is smaller than snapshot "
                            f"'{m.snapshot_id}', expect size >= {least}")
                    size = size or least
                rows.append({"device_name": m.device_name, "snapshot_id": m.snapshot_id,
                             "volume_size": size if m.ebs else None,
                             "volume_type": m.volume_type if m.ebs else None,
                             "delete_on_termination": int(m.delete_on_termination
                                                          is not False),
                             "no_device": int(m.no_device), "virtual_name": m.virtual_name,
                             "iops": m.iops, "encrypted": 0})
            image_id = ids.resource_id("ami")
            root_size = next(r["volume_size"] for r in rows if r["device_name"] == root)
            await self.repo.insert({
                "id": image_id, "account_id": account_id, "name": req.name,
                "description": req.description, "image_type": "machine",
                "architecture": req.architecture or "x86_64", "location": "",
                "kernel_id": req.kernel_id, "ramdisk_id": req.ramdisk_id,
                "virtualization_type": "paravirtual" if req.kernel_id else "hvm",
                "root_device_name": root, "root_device_type": "ebs",
                "size_bytes": root_size * 2**30, "parts": "[]", "manifest_sha256": None,
            }, state)
            await self.repo.insert_block_devices(image_id, rows)
        return image_id

    async def block_devices(self, image_ids: list[str]) -> dict[str, list]:
        return await self.repo.block_devices(image_ids)

    async def check_new_name(self, account_id: str, name: str | None) -> None:
        """A name RegisterImage would take now (CreateImage asks before its snapshots)."""
        if not name:
            raise errors.MissingParameter("The request must contain the parameter name")
        await self._check_name(account_id, name)

    async def pending(self) -> list[str]:
        """Images CreateImage registered whose snapshots are not all done yet."""
        return await self.repo.in_state("pending")

    async def settle(self, image_id: str, state: str) -> None:
        """A pending image becomes available (its snapshots completed) or failed."""
        async with self.db.unit():
            await self.repo.set_state_from(image_id, "pending", state)

    async def _check_name(self, account_id: str, name: str) -> None:
        """Inside the caller's unit: a well-formed name the account does not use yet."""
        if not _NAME.match(name):
            raise errors.InvalidAMINameMalformed(
                "AMI names must be 3 to 128 characters of letters, digits, ()[] ./-'@_")
        if await self.repo.name_taken(account_id, name):
            raise errors.InvalidAMINameDuplicate(f"AMI name {name} is already in use by AMI")

    async def _check_boot_files(self, account_id: str, kernel_id: str | None,
                                ramdisk_id: str | None) -> None:
        if kernel_id:
            await self._require(account_id, kernel_id, "kernel", errors.InvalidKernelIdMalformed)
        if ramdisk_id:
            await self._require(account_id, ramdisk_id, "ramdisk",
                                errors.InvalidRamDiskIdMalformed)

    async def _require(self, account_id: str, image_id: str, image_type: str, malformed) -> None:
        check_image_id(image_id, malformed)
        image = await self.launchable(account_id, image_id)
        if image["image_type"] != image_type:
            raise malformed(f"{image_id} is not a {image_type} image.")

    async def get(self, image_id: str):
        """The image's row whoever owns it (for the cloud's own use, not a caller's)."""
        return await self.repo.get(image_id)

    async def owner_credential(self, image) -> Credential | None:
        """An active key of the image's owner, to fetch its bundle as the owner
        (who could read it at registration); None if the owner has none left."""
        try:
            keys = await self.accounts.access_keys(image["account_id"])
        except errors.NoSuchEntity:
            keys = []
        for key in keys:  # (an account may be named like another's id: check the id)
            if key.status == "Active" and key.credential.account_id == image["account_id"]:
                return key.credential
        log.warning("the owner of %s has no active access key", image["id"])
        return None

    async def visible(self, account_id: str, image_ids: list[str] | None = None):
        for image_id in image_ids or ():
            check_image_id(image_id)
        rows = await self.repo.visible(account_id, image_ids)
        if image_ids:
            missing = sorted(set(image_ids) - {r["id"] for r in rows})
            if missing:
                raise errors.InvalidAMIIDNotFound(
                    f"The image id '[{', '.join(missing)}]' does not exist")
        return rows

    async def _seen(self, account_id: str, image_id: str):
        """The image if this account may see it; NotFound otherwise (no leaks)."""
        check_image_id(image_id)
        rows = await self.repo.visible(account_id, [image_id])
        if not rows:
            raise errors.InvalidAMIIDNotFound(f"The image id '[{image_id}]' does not exist")
        return rows[0]

    async def launchable(self, account_id: str, image_id: str):
        """The image if this account may launch it: seen, and available."""
        rows = [await self._seen(account_id, image_id)]
        if rows[0]["state"] != "available":
            raise errors.InvalidAMIIDUnavailable(
                f"Image {image_id} is not available (it is {rows[0]['state']}).")
        return rows[0]

    async def owned(self, account_id: str, image_id: str):
        image = await self._seen(account_id, image_id)
        if image["account_id"] != account_id:
            raise errors.AuthFailure(f"Not authorized for image:{image_id}")
        return image

    async def deregister(self, account_id: str, image_id: str) -> None:
        async with self.db.unit():
            await self.owned(account_id, image_id)
            await self.repo.set_state(image_id, "deregistered")

    async def permitted_accounts(self, image_ids: list[str]) -> dict[str, set[str]]:
        return await self.repo.permitted_accounts(image_ids)

    async def launch_permissions(self, account_id: str, image_id: str) -> tuple[bool, list[str]]:
        image = await self.owned(account_id, image_id)
        return bool(image["is_public"]), await self.repo.permissions(image_id)

    async def modify_launch_permissions(self, account_id: str, image_id: str, *,
                                        add_accounts=(), remove_accounts=(),
                                        add_all=False, remove_all=False) -> None:
        for other in list(add_accounts) + list(remove_accounts):
            if not re.fullmatch(r"\d{12}", other):
                raise errors.InvalidUserIDMalformed(f"User ID '{other}' is invalid")
        async with self.db.unit():
            await self.owned(account_id, image_id)
            await change_sharing(self.repo, image_id, add_accounts=add_accounts,
                                 remove_accounts=remove_accounts, add_all=add_all,
                                 remove_all=remove_all)

    async def reset_launch_permissions(self, account_id: str, image_id: str) -> None:
        async with self.db.unit():
            await self.owned(account_id, image_id)
            await reset_sharing(self.repo, image_id)

    async def set_description(self, account_id: str, image_id: str, description: str) -> None:
        async with self.db.unit():
            await self.owned(account_id, image_id)
            await self.repo.set_description(image_id, description)
