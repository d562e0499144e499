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
from dataclasses import dataclass

from cloud_controller.db.images import ImageRepository
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
    def __init__(self, db, store: ObjectStore, accounts):
        self.db = db
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
        if not _NAME.match(name):
            raise errors.InvalidAMINameMalformed(
                "AMI names must be 3 to 128 characters of letters, digits, ()[] ./-'@_")
        # The name check and the kernel and ramdisk it names decide the insert: one unit.
        async with self.db.unit():
            if await self.repo.name_taken(credential.account_id, name):
                raise errors.InvalidAMINameDuplicate(f"AMI name {name} is already in use by AMI")
            image_type = manifest.image_type
            kernel_id = req.kernel_id or manifest.default_kernel_id
            ramdisk_id = req.ramdisk_id or manifest.default_ramdisk_id
            if image_type == "machine":
                if kernel_id:
                    await self._require(credential.account_id, kernel_id, "kernel",
                                        errors.InvalidKernelIdMalformed)
                if ramdisk_id:
                    await self._require(credential.account_id, ramdisk_id, "ramdisk",
                                        errors.InvalidRamDiskIdMalformed)
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

    async def launchable(self, account_id: str, image_id: str):
        """The image if this account may launch it; NotFound otherwise (no leaks)."""
        check_image_id(image_id)
        rows = await self.repo.visible(account_id, [image_id])
        if not rows:
            raise errors.InvalidAMIIDNotFound(f"The image id '[{image_id}]' does not exist")
        return rows[0]

    async def owned(self, account_id: str, image_id: str):
        image = await self.launchable(account_id, image_id)
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
