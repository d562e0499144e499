"""A request's payload as a verified byte stream.

Decodes aws-chunked bodies, and checks everything the client vouched for:
Content-Length (or x-amz-decoded-content-length), the SigV4 payload hash,
Content-MD5 and x-amz-checksum-* (from a header or an aws-chunked trailer).
Checks that need the whole body raise at the end of iteration, before the
consumer commits anything, so a bad upload never becomes visible.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterable, AsyncIterator

from aiohttp import web

from walrus import checksums, errors, numbers
from walrus.chunked import AwsChunkedDecoder, ChunkSigner
from walrus.pipeline import Pipeline

# Bodies being hashed at once beside the event loop (one thread each, in order).
HASH_THREADS = 8
_hashing = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="walrus-hash")


def _content_md5(headers) -> bytes | None:
    value = headers.get("Content-MD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidDigest()
    if len(digest) != 16:
        raise errors.InvalidDigest()
    return digest


def is_aws_chunked(headers) -> bool:
    return headers.get("x-amz-content-sha256", "").startswith("STREAMING-") or \
        "aws-chunked" in headers.get("Content-Encoding", "").lower()


def declared_length(headers) -> int | None:
    """Bytes the stored object will have, if the client said."""
    text = headers.get("x-amz-decoded-content-length") if is_aws_chunked(headers) \
        else headers.get("Content-Length")
    if text is None:
        return None
    value = numbers.decimal(text.strip())
    if value is None:
        raise errors.InvalidArgument("Content-Length is not a non-negative integer.")
    return value


class RequestBody:
    """The request's payload; or, with `source` and `headers`, another stream checked
    the same way against those headers (a browser upload's file, whose Content-MD5 and
    x-amz-checksum-* come as form fields)."""

    def __init__(self, request: web.Request, payload_sha256: str | None = None,
                 signer: ChunkSigner | None = None, max_size: int | None = None, *,
                 source: AsyncIterable[bytes] | None = None, headers=None,
                 min_size: int = 0, checksum_header: bool = True):
        self._request = request
        self._headers = request.headers if headers is None else headers
        self._source = source
        self._payload_sha256 = payload_sha256
        self._signer = signer
        self._max_size = max_size
        self._min_size = min_size
        self._content_md5 = _content_md5(self._headers)
        self.length = declared_length(self._headers)
        self.chunked = is_aws_chunked(self._headers)
        self.md5 = hashlib.md5()
        self.size = 0
        self.checksum: tuple[str, str] | None = None  # (algorithm, base64), once verified
        # False where x-amz-checksum-* is not the body's (CompleteMultipartUpload: the
        # whole object's); a trailer is always the body's.
        self._header_checksum = self._checksum_header() if checksum_header else None
        self._trailer_algorithm = self._declared_trailer()

    def _checksum_header(self) -> tuple[str, str] | None:
        for name, value in self._headers.items():
            algorithm = checksums.algorithm_of_header(name)
            if algorithm:
                return algorithm, value.strip()
        return None

    def _declared_trailer(self) -> str | None:
        declared = self._headers.get("x-amz-trailer", "").strip().lower()
        if not declared:
            return None
        algorithm = checksums.algorithm_of_header(declared)
        if algorithm is None:
            raise errors.InvalidRequest(f"Unsupported trailer {declared!r}.")
        return algorithm

    def _raw(self) -> AsyncIterable[bytes]:
        return self._source if self._source is not None else self._request.content.iter_any()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        algorithm = (self._header_checksum or (self._trailer_algorithm, ""))[0]
        hasher = checksums.new(algorithm) if algorithm else None
        # The payload's SHA-256 only when the signature covers it (not UNSIGNED-PAYLOAD).
        sha256 = hashlib.sha256() if self._payload_sha256 else None
        hashers = [h for h in (self.md5, hasher, sha256) if h is not None]

        def update(chunks: list[bytes]) -> None:
            for chunk in chunks:
                for h in hashers:
                    h.update(chunk)
        # Hashed on a thread while the loop receives (and the blob store writes) the
        # next chunks; only a body that never fills a batch is hashed on the loop.
        hashing = Pipeline(_hashing, update)
        decoder = AwsChunkedDecoder(self._request.content, self._signer) if self.chunked else None
        source = decoder if decoder is not None else self._raw()
        try:
            async for chunk in source:
                self.size += len(chunk)
                if self._max_size is not None and self.size > self._max_size:
                    raise errors.EntityTooLarge(MaxSizeAllowed=self._max_size)
                if self.length is not None and self.size > self.length:
                    raise errors.InvalidRequest("The body is longer than its declared length.")
                await hashing.feed(chunk)
                yield chunk
            await hashing.finish(inline=True)
        finally:
            hashing.abandon()
        self._verify_end(hasher, sha256, decoder)

    def _verify_end(self, hasher, sha256, decoder) -> None:
        if self.length is not None and self.size != self.length:
            raise errors.IncompleteBody(
                f"Expected {self.length} bytes, received {self.size}.")
        if self.size < self._min_size:
            raise errors.EntityTooSmall(ProposedSize=self.size, MinSizeAllowed=self._min_size)
        if sha256 is not None and not hmac.compare_digest(sha256.hexdigest(),
                                                          self._payload_sha256):
            raise errors.XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=self._payload_sha256,
                S3ComputedContentSHA256=sha256.hexdigest())
        if self._content_md5 is not None and self.md5.digest() != self._content_md5:
            raise errors.BadDigest("The Content-MD5 you specified did not match what we received.")
        if hasher is None:
            return
        algorithm, expected = self._header_checksum or (self._trailer_algorithm, None)
        if expected is None:
            expected = (decoder.trailers if decoder else {}).get(checksums.HEADER_PREFIX + algorithm)
            if expected is None:
                raise errors.InvalidRequest(f"The x-amz-checksum-{algorithm} trailer is missing.")
        actual = checksums.b64(hasher)
        if actual != expected:
            raise errors.BadDigest(
                f"The {algorithm.upper()} you specified did not match the calculated checksum.")
        self.checksum = (algorithm, actual)

    @property
    def etag(self) -> str:
        return self.md5.hexdigest()
