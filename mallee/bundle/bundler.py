"""Make a bundle from an image file, as euca-bundle-image does, in constant memory.

image file -> tar (one member) -> [SHA1 = manifest <digest>] -> gzip
  -> AES-128-CBC -> parts of part_size bytes, <prefix>.part.N, each with its SHA1
then <prefix>.manifest.xml, signed by the user's key, written last so that a
manifest on disk always describes a complete set of parts.
"""
from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mallee.bundle import crypto
from mallee.bundle.errors import BundleError
from mallee.bundle.manifest import IMAGE_TYPES, Manifest, ManifestPart, sign_and_render
from mallee.bundle.tarstream import single_file_header, single_file_trailer

DEFAULT_PART_SIZE = 10 * 2**20
CHUNK = 2**20
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass(frozen=True)
class Bundle:
    manifest_path: Path
    part_paths: tuple[Path, ...]
    manifest: Manifest


def part_filename(prefix: str, index: int) -> str:
    return f"{prefix}.part.{index}"


def manifest_filename(prefix: str) -> str:
    return f"{prefix}.manifest.xml"


class _PartWriter:
    """Cuts a byte stream into files of part_size bytes, hashing each as it goes."""

    def __init__(self, out_dir: Path, prefix: str, part_size: int):
        self._out_dir, self._prefix, self._part_size = out_dir, prefix, part_size
        self.paths: list[Path] = []
        self.parts: list[ManifestPart] = []
        self.total = 0
        self._file = None
        self._sha1 = None
        self._room = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if not self._room:
                self._next_part()
            take = view[:self._room]
            self._file.write(take)
            self._sha1.update(take)
            self._room -= len(take)
            self.total += len(take)
            view = view[len(take):]

    def _next_part(self) -> None:
        self._close_part()
        path = self._out_dir / part_filename(self._prefix, len(self.paths))
        self.paths.append(path)
        self._file = open(path, "wb")
        self._sha1 = hashlib.sha1()
        self._room = self._part_size

    def _close_part(self) -> None:
        if self._file is not None:
            self._file.close()
            self.parts.append(ManifestPart(len(self.parts), self.paths[-1].name,
                                           self._sha1.hexdigest()))
            self._file = None

    def close(self) -> None:
        self._close_part()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for path in self.paths:
            path.unlink(missing_ok=True)


def bundle_image(image_path: Path | str, out_dir: Path | str, *, prefix: str | None = None,
                 image_type: str = "machine", arch: str = "x86_64",
                 cloud_cert_pem: bytes, user_cert_pem: bytes, user_key_pem: bytes,
                 account_id: str, kernel_id: str | None = None, ramdisk_id: str | None = None,
                 block_device_mappings: Mapping[str, str] | None = None,
                 part_size: int = DEFAULT_PART_SIZE, progress: Progress | None = None,
                 compress_level: int = 6) -> Bundle:
    image_path, out_dir = Path(image_path), Path(out_dir)
    if image_type not in IMAGE_TYPES:
        raise BundleError(f"image type must be one of {', '.join(IMAGE_TYPES)}, "
                          f"not {image_type!r}")
    if part_size < 1:
        raise BundleError("part size must be positive")
    prefix = prefix or image_path.name
    if "/" in prefix:
        raise BundleError(f"the bundle prefix {prefix!r} may not contain '/'")
    # As `euca-bundle-image --kernel true` / `--ramdisk true`: Eucalyptus marks
    # kernel and ramdisk bundles with the value "true" in the matching element.
    if image_type == "kernel" and kernel_id is None:
        kernel_id = "true"
    if image_type == "ramdisk" and ramdisk_id is None:
        ramdisk_id = "true"
    out_dir.mkdir(parents=True, exist_ok=True)

    key, iv = crypto.new_hex_secret(), crypto.new_hex_secret()
    encryptor = crypto.AesCbcEncryptor(key, iv)
    compressor = zlib.compressobj(compress_level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip
    tar_sha1 = hashlib.sha1()
    writer = _PartWriter(out_dir, prefix, part_size)

    def push_tar(data: bytes) -> None:
        tar_sha1.update(data)
        writer.write(encryptor.update(compressor.compress(data)))

    try:
        with open(image_path, "rb") as image:
            stat = os.fstat(image.fileno())
            size = stat.st_size
            header = single_file_header(prefix, size, int(stat.st_mtime))
            push_tar(header)
            done = 0
            while chunk := image.read(CHUNK):
                push_tar(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
            if done != size:
                raise BundleError(f"{image_path} changed size while it was being bundled")
        push_tar(single_file_trailer(len(header), size))
        writer.write(encryptor.update(compressor.flush()))
        writer.write(encryptor.finalize())
        writer.close()

        manifest = Manifest(
            architecture=arch, kernel_id=kernel_id, ramdisk_id=ramdisk_id,
            block_device_mappings=tuple(sorted((block_device_mappings or {}).items())),
            name=prefix, user=account_id.replace("-", ""), image_type=image_type,
            digest=tar_sha1.hexdigest(), size=size, bundled_size=writer.total,
            ec2_encrypted_key=crypto.encrypt_to_cert(key, cloud_cert_pem),
            user_encrypted_key=crypto.encrypt_to_cert(key, user_cert_pem),
            ec2_encrypted_iv=crypto.encrypt_to_cert(iv, cloud_cert_pem),
            user_encrypted_iv=crypto.encrypt_to_cert(iv, user_cert_pem),
            parts=tuple(writer.parts))
        manifest, xml = sign_and_render(manifest, user_key_pem)
        manifest_path = out_dir / manifest_filename(prefix)
        tmp = manifest_path.with_name(manifest_path.name + ".tmp")
        tmp.write_bytes(xml)
        os.replace(tmp, manifest_path)
    except BaseException:
        writer.discard()
        raise
    return Bundle(manifest_path, tuple(writer.paths), manifest)
