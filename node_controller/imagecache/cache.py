"""The NC's image cache: each registered image fetched once, kept as a base for overlays.

Layout under root:
    images/<image-id>/base.qcow2   machine image, converted from the bundle's raw disk
    images/<image-id>/kernel       kernel image, raw, as bundled
    images/<image-id>/ramdisk      ramdisk image, raw, as bundled
    tmp/                           work in progress and entries being evicted

An entry appears only by renaming a finished directory from tmp/ into
images/, and leaves by renaming it back into tmp/ before deletion, so a
directory under images/ is always complete; tmp/ is emptied at start-up.

Concurrent ensure() calls for one image share one download. Eviction is
least recently used, past cap_bytes of allocated disk (measured, never the
manifest's size), once a new entry has landed, and never touches an
image that is pinned, reported in use by the `in_use` callback (the NC's
view of which instances' overlays sit on which base), or being fetched.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import aiohttp

from mallee.bundle import BadPartDigest, parse_manifest, unbundle_async
from mallee.bundle.bundler import Progress
from mallee.files import fsync_path, private_dir
from node_controller.imagecache.errors import ImageCacheError, ImageChanged
from node_controller.imagecache.fetch import fetch_manifest, stream_part
from node_controller.imagecache.qemu_img import convert_raw_to_qcow2

log = logging.getLogger(__name__)

ENTRY_FILES = {"machine": "base.qcow2", "kernel": "kernel", "ramdisk": "ramdisk"}
_IMAGE_ID = re.compile(r"^[a-z]{3}-[0-9a-zA-Z]{1,32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageSource:
    """Where an image's bundle is: what the CLC sends with a launch."""
    image_id: str
    manifest_url: str
    part_urls: Mapping[str, str]  # part file name (as in the manifest) -> presigned URL
    kind: str = "machine"         # machine | kernel | ramdisk
    manifest_sha256: str | None = None  # of the manifest RegisterImage verified (None: unpinned)

    def __post_init__(self):
        if not _IMAGE_ID.match(self.image_id):
            raise ImageCacheError(f"not an image id: {self.image_id!r}")
        if self.kind not in ENTRY_FILES:
            raise ImageCacheError(f"image kind must be one of {', '.join(ENTRY_FILES)}, "
                                  f"not {self.kind!r}")
        if self.manifest_sha256 is not None and not _SHA256.match(self.manifest_sha256):
            raise ImageCacheError(f"not a SHA-256 digest: {self.manifest_sha256!r}")

    @classmethod
    def from_params(cls, params: Mapping) -> "ImageSource":
        """From RPC JSON: {"image_id", "manifest_url", "part_urls": {name: url}, "kind",
        "manifest_sha256"}."""
        try:
            digest = params.get("manifest_sha256")
            return cls(str(params["image_id"]), str(params["manifest_url"]),
                       {str(k): str(v) for k, v in dict(params["part_urls"]).items()},
                       str(params.get("kind", "machine")),
                       None if digest is None else str(digest))
        except (KeyError, TypeError, ValueError) as err:
            raise ImageCacheError(f"bad image source: {err}") from None


@dataclass
class CacheEntry:
    image_id: str
    path: Path
    size_bytes: int      # allocated on disk
    last_used: float
    pins: int = 0


def _allocated_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.iterdir() if p.is_file())


@dataclass
class ImageCache:
    root: Path
    cap_bytes: int
    cloud_key_pem_path: Path
    in_use: Callable[[str], bool] | None = None
    session: aiohttp.ClientSession | None = None  # None: the cache makes (and closes) its own
    _entries: dict[str, CacheEntry] = field(default_factory=dict, init=False)
    _inflight: dict[str, asyncio.Future] = field(default_factory=dict, init=False)
    _pins: dict[str, int] = field(default_factory=dict, init=False)
    _waiters: collections.Counter = field(default_factory=collections.Counter, init=False)
    _owns_session: bool = field(default=False, init=False)

    def __post_init__(self):
        self.root = private_dir(self.root, 0o711)  # QEMU's user passes through, lists nothing
        private_dir(self.images_dir, 0o711)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)  # half-made or half-evicted entries
        private_dir(self.tmp_dir)
        for entry_dir in self.images_dir.iterdir():
            if entry_dir.is_dir():
                self._entries[entry_dir.name] = CacheEntry(
                    entry_dir.name, entry_dir, _allocated_bytes(entry_dir),
                    entry_dir.stat().st_mtime)

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    # --- what is cached --------------------------------------------------------
    def cached(self, image_id: str, kind: str = "machine") -> Path | None:
        entry = self._entries.get(image_id)
        if entry is None:
            return None
        path = entry.path / ENTRY_FILES[kind]
        return path if path.exists() else None

    def entries(self) -> list[CacheEntry]:
        return [CacheEntry(e.image_id, e.path, e.size_bytes, e.last_used,
                           self._pins.get(e.image_id, 0))
                for e in sorted(self._entries.values(), key=lambda e: e.last_used)]

    def used_bytes(self) -> int:
        return sum(e.size_bytes for e in self._entries.values())

    # --- pins -------------------------------------------------------------------
    def pin(self, image_id: str) -> None:
        self._pins[image_id] = self._pins.get(image_id, 0) + 1

    def unpin(self, image_id: str) -> None:
        count = self._pins.get(image_id, 0) - 1
        if count > 0:
            self._pins[image_id] = count
        else:
            self._pins.pop(image_id, None)

    def _busy(self, image_id: str) -> bool:
        if self._pins.get(image_id) or image_id in self._inflight or self._waiters[image_id]:
            return True
        try:
            return bool(self.in_use and self.in_use(image_id))
        except Exception:
            log.exception("in_use(%s) failed; keeping the image", image_id)
            return True

    # --- ensure -----------------------------------------------------------------
    async def ensure(self, source: ImageSource, *, pin: bool = False,
                     progress: Progress | None = None) -> Path:
        """The local path of the image's base file, fetching and preparing it once.

        With pin=True the image is pinned before this returns (unpin when the
        instance is gone), so no concurrent eviction can take it in between.
        """
        path = self.cached(source.image_id, source.kind)
        if path is None and source.image_id in self._entries:
            raise ImageCacheError(f"{source.image_id} is cached as another kind of image "
                                  f"than {source.kind}")
        if path is None:
            flight = self._inflight.get(source.image_id)
            if flight is None:
                flight = asyncio.ensure_future(self._fetch(source, progress))
                self._inflight[source.image_id] = flight
                flight.add_done_callback(lambda f, i=source.image_id: self._landed(i, f))
            # Waiters count as users: between the download landing and this
            # caller resuming, another ensure's eviction must not take the image.
            self._waiters[source.image_id] += 1
            try:
                # shield: one caller giving up must not cancel the others' download.
                path = await asyncio.shield(flight)
            finally:
                self._waiters[source.image_id] -= 1
                if not self._waiters[source.image_id]:
                    del self._waiters[source.image_id]
            if path.name != ENTRY_FILES[source.kind]:
                raise ImageCacheError(f"{source.image_id} is being fetched as another kind of "
                                      f"image than {source.kind}")
        if pin:
            self.pin(source.image_id)
        self._touch(source.image_id)
        return path

    def _landed(self, image_id: str, flight: asyncio.Future) -> None:
        self._inflight.pop(image_id, None)
        if not flight.cancelled() and flight.exception() is not None:
            log.warning("image %s: %s", image_id, flight.exception())

    def _touch(self, image_id: str) -> None:
        entry = self._entries[image_id]
        entry.last_used = time.time()
        try:
            os.utime(entry.path, (entry.last_used, entry.last_used))  # LRU order survives restarts
        except FileNotFoundError:
            pass

    async def _fetch(self, source: ImageSource, progress: Progress | None) -> Path:
        work = self.tmp_dir / f"{source.image_id}.{secrets.token_hex(4)}"
        work.mkdir()
        try:
            session = await self._session()
            body = await fetch_manifest(session, source.manifest_url)
            # The bucket's owner can still write it: run only the manifest
            # RegisterImage verified (its part digests then pin the parts).
            if (source.manifest_sha256 is not None
                    and hashlib.sha256(body).hexdigest() != source.manifest_sha256):
                raise ImageChanged.of(source.image_id, "its manifest is not the one registered")
            manifest = parse_manifest(body)
            if manifest.image_type != source.kind:
                raise ImageCacheError(f"{source.image_id}: the manifest is a "
                                      f"{manifest.image_type} image, expected {source.kind}")
            missing = [p.filename for p in manifest.parts if p.filename not in source.part_urls]
            if missing:
                raise ImageCacheError(f"{source.image_id}: no URL for bundle part(s) "
                                      f"{', '.join(missing)}")
            key_pem = await asyncio.to_thread(Path(self.cloud_key_pem_path).read_bytes)
            try:
                raw = await unbundle_async(
                    manifest, lambda name: stream_part(session, source.part_urls[name], name),
                    key_pem, work / "image.raw", progress=progress)
            except BadPartDigest:
                # Named by file only: the digests are of objects the launcher may not read.
                raise ImageChanged.of(source.image_id, "a part of its bundle is not the one "
                                      "registered") from None
            final_name = ENTRY_FILES[source.kind]
            if source.kind == "machine":
                await convert_raw_to_qcow2(raw, work / final_name)
                raw.unlink()
            else:
                raw.rename(work / final_name)
            # A private image is its owner's data: libvirt chowns the base (a
            # backing file), kernel and ramdisk to QEMU's user while a guest runs.
            for path in (work / final_name, work):
                os.chmod(path, 0o711 if path.is_dir() else 0o600)
            entry_dir = self.images_dir / source.image_id
            os.rename(work, entry_dir)
            await asyncio.to_thread(fsync_path, self.images_dir)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        self._entries[source.image_id] = CacheEntry(
            source.image_id, entry_dir, _allocated_bytes(entry_dir), time.time())
        log.info("image %s cached (%d bytes)", source.image_id,
                 self._entries[source.image_id].size_bytes)
        # Only now, by what the entry really takes: the manifest's <size> is
        # the user's claim (a sparse image may claim terabytes), so evicting
        # room for it beforehand let one launch empty the cache.
        self._evict(self.cap_bytes, keep=source.image_id)
        return entry_dir / final_name

    # --- eviction ---------------------------------------------------------------
    def _evict(self, target_bytes: int, keep: str | None = None) -> list[str]:
        """Drop least recently used idle images until the cache uses at most target_bytes."""
        evicted = []
        for entry in sorted(self._entries.values(), key=lambda e: e.last_used):
            if self.used_bytes() <= target_bytes:
                break
            if entry.image_id == keep or self._busy(entry.image_id):
                continue
            doomed = self.tmp_dir / f"evicted-{entry.image_id}.{secrets.token_hex(4)}"
            os.rename(entry.path, doomed)  # atomic: never a half-deleted entry in images/
            del self._entries[entry.image_id]
            shutil.rmtree(doomed, ignore_errors=True)
            evicted.append(entry.image_id)
            log.info("image %s evicted from the cache", entry.image_id)
        if self.used_bytes() > target_bytes:
            log.warning("image cache holds %d bytes, over its target of %d: the rest is in use",
                        self.used_bytes(), target_bytes)
        return evicted

    def evict_idle(self) -> list[str]:
        """Enforce the cap now (e.g. after instances ended); returns the evicted image ids."""
        return self._evict(self.cap_bytes)

    async def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
            self._owns_session = True
        return self.session

    async def close(self) -> None:
        if self._owns_session and self.session is not None:
            await self.session.close()
            self.session = None
