"""Turn a bundle's parts back into the image file, checking every digest on the way.

parts (each SHA1-checked) -> AES-128-CBC decrypt -> gunzip -> tar [SHA1 = <digest>]
  -> the one file, written sparsely to a temporary name, fsynced and renamed.

Unbundler is push-based (feed it bytes as they arrive from disk or the
network); `unbundle` and `unbundle_async` are the two loops that drive it.
Nothing is ever held whole: decompression is bounded per call, so even a
gzip bomb of zeros cannot balloon memory, and the output size is capped by
the manifest's <size>.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import zlib
from collections.abc import AsyncIterable
from pathlib import Path
from typing import BinaryIO, Callable

from mallee.bundle.bundler import CHUNK, Progress
from mallee.bundle.crypto import AesCbcDecryptor
from mallee.bundle.errors import BadPartDigest, BundleError, CorruptImage, CorruptManifest
from mallee.bundle.manifest import DIGEST_ALGORITHM, Manifest, ManifestPart
from mallee.bundle.tarstream import SingleFileExtractor

_HOLE = 64 * 1024
_ZEROS = memoryview(bytes(_HOLE))


class _SparseFile:
    """Writes a file at a temporary name, leaving holes for all-zero blocks."""

    def __init__(self, final_path: Path, limit: int):
        self.final_path = final_path
        self.tmp_path = final_path.with_name(f".{final_path.name}.{secrets.token_hex(4)}.tmp")
        self._file = open(self.tmp_path, "wb")
        self._limit = limit
        self.size = 0

    def write(self, data) -> None:
        if self.size + len(data) > self._limit:
            raise CorruptImage("the image inside the bundle is larger than its manifest says")
        view = memoryview(data)
        for start in range(0, len(view), _HOLE):
            block = view[start:start + _HOLE]
            if block == _ZEROS[:len(block)]:
                self._file.seek(len(block), os.SEEK_CUR)
            else:
                self._file.write(block)
        self.size += len(view)

    def commit(self) -> None:
        self._file.truncate(self.size)  # a trailing hole still counts toward the size
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp_path, self.final_path)
        dir_fd = os.open(self.final_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def discard(self) -> None:
        self._file.close()
        self.tmp_path.unlink(missing_ok=True)


class _Gunzip:
    """gzip decompression that never returns more than CHUNK bytes per step."""

    def __init__(self):
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, sink: Callable[[bytes], None]) -> None:
        try:
            while data:
                if self._d.eof:  # concatenated gzip members (pigz -i, cat a.gz b.gz)
                    data = self._d.unused_data + data
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                sink(self._d.decompress(data, CHUNK))
                data = self._d.unconsumed_tail
            while not self._d.eof and (out := self._d.decompress(b"", CHUNK)):
                sink(out)  # drain what is buffered beyond max_length
        except zlib.error as err:
            raise CorruptImage(f"the decrypted bundle is not valid gzip ({err})") from None

    def finish(self) -> None:
        if not self._d.eof:
            raise CorruptImage("the bundle's gzip stream is truncated")


class Unbundler:
    """Push a bundle's parts through in order: start_part, feed..., end_part; then finish.

    Errors in decryption or decompression while a part streams in are held
    until that part's digest is known: a damaged part is reported as
    BadPartDigest (the real cause), not as the gzip error it produced.
    """

    def __init__(self, manifest: Manifest, private_key_pem: bytes, out_path: Path | str):
        if manifest.digest_algorithm != DIGEST_ALGORITHM:
            raise CorruptManifest(f"unsupported digest algorithm {manifest.digest_algorithm}")
        if manifest.enc_algorithm != "AES-128-CBC":
            raise CorruptManifest(f"unsupported encryption {manifest.enc_algorithm}")
        self.manifest = manifest
        key, iv = manifest.decrypt_key_iv(private_key_pem)
        self._decryptor = AesCbcDecryptor(key, iv)
        self._gunzip = _Gunzip()
        self._tar_sha1 = hashlib.sha1()
        self._out = _SparseFile(Path(out_path), manifest.size)
        self._extractor = SingleFileExtractor(self._out.write)
        self._part: ManifestPart | None = None
        self._part_sha1 = None
        self._held_error: BaseException | None = None
        self._next_index = 0
        self.bytes_in = 0

    def __enter__(self) -> "Unbundler":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def start_part(self, part: ManifestPart) -> None:
        if part.index != self._next_index:
            raise BundleError(f"bundle parts must be fed in order: expected part "
                              f"{self._next_index}, got {part.index}")
        self._part, self._part_sha1 = part, hashlib.sha1()

    def feed(self, data: bytes) -> None:
        self._part_sha1.update(data)
        self.bytes_in += len(data)
        if self._held_error is None:
            try:
                self._gunzip.feed(self._decryptor.update(data), self._tar)
            except BundleError as err:
                self._held_error = err

    def _tar(self, data: bytes) -> None:
        if data:
            self._tar_sha1.update(data)
            self._extractor.feed(data)

    def end_part(self) -> None:
        actual = self._part_sha1.hexdigest()
        if actual != self._part.digest.lower():
            raise BadPartDigest(f"bundle part {self._part.filename} is corrupt: its SHA1 is "
                                f"{actual}, the manifest says {self._part.digest}")
        if self._held_error is not None:
            raise self._held_error
        self._next_index += 1
        self._part = None

    def finish(self) -> Path:
        if self._next_index != len(self.manifest.parts):
            raise BundleError(f"only {self._next_index} of {len(self.manifest.parts)} "
                              "bundle parts were read")
        try:
            self._gunzip.feed(self._decryptor.finalize(), self._tar)
        except ValueError:
            raise CorruptImage("the bundle does not decrypt: bad padding (wrong key or "
                               "truncated data)") from None
        self._gunzip.finish()
        self._extractor.finish()
        if self._tar_sha1.hexdigest() != self.manifest.digest.lower():
            raise CorruptImage("the unbundled image's SHA1 does not match the manifest's "
                               "<digest>")
        if self._out.size != self.manifest.size:
            raise CorruptImage(f"the unbundled image is {self._out.size} bytes, the manifest "
                               f"says {self.manifest.size}")
        self._out.commit()
        return self._out.final_path

    def abort(self) -> None:
        self._out.discard()


def unbundle(manifest: Manifest, open_part: Callable[[str], BinaryIO], private_key_pem: bytes,
             out_path: Path | str, *, progress: Progress | None = None) -> Path:
    """Unbundle from readable binary streams, e.g. `lambda name: open(dir / name, 'rb')`."""
    with Unbundler(manifest, private_key_pem, out_path) as unbundler:
        for part in manifest.parts:
            unbundler.start_part(part)
            with open_part(part.filename) as stream:
                while chunk := stream.read(CHUNK):
                    unbundler.feed(chunk)
                    if progress:
                        progress(unbundler.bytes_in, manifest.bundled_size)
            unbundler.end_part()
        return unbundler.finish()


async def unbundle_async(manifest: Manifest,
                         open_part: Callable[[str], AsyncIterable[bytes]],
                         private_key_pem: bytes, out_path: Path | str, *,
                         progress: Progress | None = None) -> Path:
    """Unbundle from async byte iterators (e.g. an HTTP body); the CPU work runs off the loop."""
    unbundler = await asyncio.to_thread(Unbundler, manifest, private_key_pem, out_path)
    try:
        for part in manifest.parts:
            unbundler.start_part(part)
            async for chunk in open_part(part.filename):
                await asyncio.to_thread(unbundler.feed, chunk)
                if progress:
                    progress(unbundler.bytes_in, manifest.bundled_size)
            unbundler.end_part()
        return await asyncio.to_thread(unbundler.finish)
    except BaseException:
        unbundler.abort()
        raise
