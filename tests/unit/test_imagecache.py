"""The NC's image cache against a real bundle served over HTTP on 127.0.0.1."""
from __future__ import annotations

import asyncio
import collections
import json
import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from aiohttp import web

from mallee.bundle import BadPartDigest, bundle_image
from node_controller.imagecache import (ImageCache, ImageCacheError, ImageSource, make_overlay,
                                        make_sparse)
from node_controller.imagecache.errors import ImageChanged
from tests.unit.bundle_fixtures import make_identity

KiB, MiB = 2**10, 2**20


@pytest.fixture(scope="module")
def ident(tmp_path_factory):
    return make_identity(tmp_path_factory.mktemp("pki"))


def _make_bundle(ident, out_dir: Path, image_type="machine", size=MiB + 512 * KiB):
    image = out_dir / f"{image_type}.img"
    image.write_bytes(os.urandom(size))
    bundle = bundle_image(image, out_dir / "bundle", image_type=image_type, part_size=256 * KiB,
                          **ident.bundle_kwargs())
    return image, bundle


class BundleServer:
    """Serves a directory's files at /<name>, counting GETs (a stand-in for presigned Walrus URLs)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.hits = collections.Counter()
        self._runner = None
        self.base = ""

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] += 1
        path = self.directory / name
        if not path.is_file():
            return web.Response(status=404)
        await asyncio.sleep(0.01)  # let concurrent callers overlap
        return web.FileResponse(path)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_get("/{name}", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc):
        await self._runner.cleanup()

    def source(self, image_id, bundle, kind="machine") -> ImageSource:
        return ImageSource(
            image_id, f"{self.base}/{bundle.manifest_path.name}?X-Amz-Signature=x",
            {p.name: f"{self.base}/{p.name}?X-Amz-Signature=x" for p in bundle.part_paths}, kind)


def _qemu_info(path: Path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                                     capture_output=True, check=True, text=True).stdout)


def _qcow2_bytes(path: Path, tmp: Path) -> bytes:
    raw = tmp / "check.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), str(raw)],
                   check=True)
    return raw.read_bytes()


def _cache(tmp_path, ident, cap=10 * 2**30, **kw) -> ImageCache:
    key = tmp_path / "cloud-pk.pem"
    key.write_bytes(ident.cloud_key)
    return ImageCache(tmp_path / "cache", cap, key, **kw)


def test_concurrent_ensures_fetch_each_part_once_and_a_cached_image_copies_nothing(
        ident, tmp_path):
    image, bundle = _make_bundle(ident, tmp_path)

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            source = server.source("emi-00000001", bundle)
            first, second = await asyncio.gather(cache.ensure(source), cache.ensure(source))
            hits_after_first = dict(server.hits)
            third = await cache.ensure(source)
            await cache.close()
            return first, second, third, hits_after_first, dict(server.hits)

    first, second, third, hits_once, hits_after = asyncio.run(scenario())
    assert first == second == third
    assert first.name == "base.qcow2"
    assert hits_once == {p.name: 1 for p in [bundle.manifest_path, *bundle.part_paths]}
    assert hits_after == hits_once  # the second ensure fetched nothing
    info = _qemu_info(first)
    assert info["format"] == "qcow2" and info["virtual-size"] == image.stat().st_size
    assert _qcow2_bytes(first, tmp_path) == image.read_bytes()
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_one_caller_giving_up_does_not_cancel_the_shared_download(ident, tmp_path):
    _, bundle = _make_bundle(ident, tmp_path)

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            source = server.source("emi-00000001", bundle)
            impatient = asyncio.ensure_future(cache.ensure(source))
            patient = asyncio.ensure_future(cache.ensure(source))
            await asyncio.sleep(0.005)
            impatient.cancel()
            path = await patient
            await cache.close()
            return impatient.cancelled(), path, dict(server.hits)

    cancelled, path, hits = asyncio.run(scenario())
    assert cancelled and path.is_file()
    assert set(hits.values()) == {1}


def test_kernel_and_ramdisk_stay_raw(ident, tmp_path):
    image, bundle = _make_bundle(ident, tmp_path, image_type="kernel", size=300 * KiB + 7)

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            try:
                path = await cache.ensure(server.source("eki-00000001", bundle, "kernel"))
                with pytest.raises(ImageCacheError, match="kernel image, expected machine"):
                    await cache.ensure(server.source("emi-00000009", bundle, "machine"))
                return path
            finally:
                await cache.close()

    path = asyncio.run(scenario())
    assert path.name == "kernel" and path.read_bytes() == image.read_bytes()


def test_a_bad_part_digest_leaves_nothing_cached(ident, tmp_path):
    _, bundle = _make_bundle(ident, tmp_path)
    victim = bundle.part_paths[1]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            try:
                with pytest.raises(ImageChanged) as raised:
                    await cache.ensure(server.source("emi-00000001", bundle))
                # The image named, no digest of an object the launcher may not read.
                assert "image emi-00000001 has changed" in raised.value.message
                assert not re.search(r"[0-9a-f]{40}", raised.value.message)
                assert isinstance(raised.value.__context__, BadPartDigest)
                return cache
            finally:
                await cache.close()

    cache = asyncio.run(scenario())
    assert cache.cached("emi-00000001") is None and cache.entries() == []
    assert list((tmp_path / "cache" / "images").iterdir()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_only_the_registered_manifest_is_fetched(ident, tmp_path):
    _, bundle = _make_bundle(ident, tmp_path)
    registered = hashlib.sha256(bundle.manifest_path.read_bytes()).hexdigest()

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            try:
                source = server.source("emi-00000001", bundle)
                changed = ImageSource(source.image_id, source.manifest_url, source.part_urls,
                                      manifest_sha256="0" * 64)
                with pytest.raises(ImageChanged, match="image emi-00000001 has changed since "
                                                       "it was registered"):
                    await cache.ensure(changed)
                assert not any(server.hits[p.name] for p in bundle.part_paths)
                assert cache.cached("emi-00000001") is None
                pinned = ImageSource.from_params({
                    "image_id": source.image_id, "manifest_url": source.manifest_url,
                    "part_urls": dict(source.part_urls), "manifest_sha256": registered})
                assert (await cache.ensure(pinned)).name == "base.qcow2"
            finally:
                await cache.close()

    asyncio.run(scenario())
    with pytest.raises(ImageCacheError, match="SHA-256"):
        ImageSource("emi-00000001", "http://127.0.0.1/m", {}, manifest_sha256="nope")


def test_missing_part_url_and_http_errors_are_clear(ident, tmp_path):
    _, bundle = _make_bundle(ident, tmp_path)

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            try:
                good = server.source("emi-00000001", bundle)
                with pytest.raises(ImageCacheError, match="no URL for bundle part"):
                    await cache.ensure(ImageSource(good.image_id, good.manifest_url, {}))
                with pytest.raises(ImageCacheError, match="HTTP 404"):
                    await cache.ensure(ImageSource(good.image_id, f"{server.base}/nope", {}))
            finally:
                await cache.close()

    asyncio.run(scenario())


def test_lru_eviction_spares_pinned_and_in_use_images(ident, tmp_path):
    _, bundle = _make_bundle(ident, tmp_path)
    busy = set()

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident, in_use=lambda image_id: image_id in busy)
            try:
                await cache.ensure(server.source("emi-0000000a", bundle), pin=True)
                one = cache.used_bytes()
                cache.cap_bytes = int(2.5 * one)  # room for two entries
                await cache.ensure(server.source("emi-0000000b", bundle))
                await cache.ensure(server.source("emi-0000000c", bundle))
                after_c = {e.image_id for e in cache.entries()}   # a is pinned: b goes
                busy.add("emi-0000000c")
                await cache.ensure(server.source("emi-0000000d", bundle))
                after_d = {e.image_id for e in cache.entries()}   # a pinned, c in use: over cap
                cache.unpin("emi-0000000a")
                busy.clear()
                evicted = cache.evict_idle()                      # oldest first: a, then c
                return after_c, after_d, evicted, {e.image_id for e in cache.entries()}
            finally:
                await cache.close()

    after_c, after_d, evicted, final = asyncio.run(scenario())
    assert after_c == {"emi-0000000a", "emi-0000000c"}
    assert after_d == {"emi-0000000a", "emi-0000000c", "emi-0000000d"}
    assert evicted == ["emi-0000000a"]
    assert final == {"emi-0000000c", "emi-0000000d"}
    assert sorted(p.name for p in (tmp_path / "cache" / "images").iterdir()) == sorted(final)


def test_restart_keeps_complete_entries_and_drops_half_made_ones(ident, tmp_path):
    _, bundle = _make_bundle(ident, tmp_path)

    async def fill():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            await cache.ensure(server.source("emi-00000001", bundle))
            await cache.close()

    asyncio.run(fill())
    crashed = tmp_path / "cache" / "tmp" / "emi-00000002.dead"
    crashed.mkdir()
    (crashed / "image.raw").write_bytes(b"half")
    cache = _cache(tmp_path, ident)
    assert cache.cached("emi-00000001").name == "base.qcow2"
    assert cache.cached("emi-00000002") is None
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_overlay_on_a_base_and_sparse_disks(tmp_path):
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    (tmp_path / "i-1").mkdir()
    overlay = asyncio.run(make_overlay(base, tmp_path / "i-1" / "root.qcow2", 1))
    info = _qemu_info(overlay)
    assert info["format"] == "qcow2" and info["virtual-size"] == 2**30
    assert info["backing-filename"] == str(base) and info["backing-filename-format"] == "qcow2"
    same_size = asyncio.run(make_overlay(base, tmp_path / "i-1" / "plain.qcow2"))
    assert _qemu_info(same_size)["virtual-size"] == 64 * MiB
    swap = make_sparse(tmp_path / "i-1" / "swap", 2)
    assert swap.stat().st_size == 2 * 2**30 and swap.stat().st_blocks == 0
    assert sorted(p.name for p in (tmp_path / "i-1").iterdir()) == ["plain.qcow2", "root.qcow2",
                                                                    "swap"]


def test_a_manifests_claimed_size_evicts_nothing_its_real_size_does_not_need(ident, tmp_path):
    """Issue 11 #7: <size> is the user's (a sparse image may claim any size);
    eviction counts what images really take on disk."""
    (tmp_path / "small").mkdir()
    _, small = _make_bundle(ident, tmp_path / "small")
    sparse = tmp_path / "sparse" / "machine.img"
    sparse.parent.mkdir()
    with open(sparse, "wb") as f:  # 32 MiB claimed, a few KiB of data
        f.truncate(32 * MiB)
    big = bundle_image(sparse, sparse.parent / "bundle", image_type="machine",
                       part_size=256 * KiB, **ident.bundle_kwargs())

    async def scenario():
        async with BundleServer(small.manifest_path.parent) as s, \
                BundleServer(big.manifest_path.parent) as b:
            cache = _cache(tmp_path, ident)
            try:
                await cache.ensure(s.source("emi-0000000a", small))
                cache.cap_bytes = 3 * cache.used_bytes()  # room for a, b and a little
                await cache.ensure(s.source("emi-0000000b", small))
                await cache.ensure(b.source("emi-0000000c", big))
                return {e.image_id: e.size_bytes for e in cache.entries()}, cache.cap_bytes
            finally:
                await cache.close()

    entries, cap = asyncio.run(scenario())
    assert set(entries) == {"emi-0000000a", "emi-0000000b", "emi-0000000c"}
    assert sum(entries.values()) <= cap < 32 * MiB


def test_cached_images_are_owner_only(ident, tmp_path):
    """Issue 11 #18: a private image is its owner's data; libvirt chowns the
    backing file, kernel and ramdisk to QEMU's user while a guest uses them."""
    import stat
    _, bundle = _make_bundle(ident, tmp_path)

    async def scenario():
        async with BundleServer(bundle.manifest_path.parent) as server:
            cache = _cache(tmp_path, ident)
            try:
                return await cache.ensure(server.source("emi-00000001", bundle))
            finally:
                await cache.close()

    path = asyncio.run(scenario())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o711, directory
