"""Decoder for S3's `aws-chunked` content encoding.

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer>:<value>\\r\\n ...][x-amz-trailer-signature:<sig>\\r\\n]\\r\\n

Signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], restic, awscli
with payload signing) chain each chunk's signature from the previous one,
starting at the request's own signature. The unsigned form with a trailer
(STREAMING-UNSIGNED-PAYLOAD-TRAILER) is what current boto3 and awscli send.
Data is yielded in pieces of at most READ_SIZE, never a whole chunk at once.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import AsyncIterator, Protocol

from walrus import errors, numbers

READ_SIZE = 1 << 20
MAX_LINE = 4096
MAX_TRAILERS = 64  # trailer lines; each is a line read, but nothing else bounds them
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Reader(Protocol):
    async def readline(self) -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...


@dataclass(frozen=True)
class ChunkSigner:
    """What chunk signatures are checked with: the request's SigV4 context."""
    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, data_sha256: str) -> str:
        text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous,
                          EMPTY_SHA256, data_sha256])
        return hmac.new(self.signing_key, text.encode(), hashlib.sha256).hexdigest()

    def trailer_signature(self, previous: str, trailer_text: str) -> str:
        text = "\n".join(["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, previous,
                          hashlib.sha256(trailer_text.encode()).hexdigest()])
        return hmac.new(self.signing_key, text.encode(), hashlib.sha256).hexdigest()


def _ended() -> errors.IncompleteBody:
    return errors.IncompleteBody("The aws-chunked body ended early.")


def _malformed(what: str) -> errors.IncompleteBody:
    # S3 answers every malformed aws-chunked framing (a bad chunk size, a missing CRLF)
    # with 400 IncompleteBody; InvalidChunkSizeError is only for small non-final chunks.
    return errors.IncompleteBody(f"The aws-chunked body is malformed: {what}.")


def _bad(message: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message)


class AwsChunkedDecoder:
    def __init__(self, reader: Reader, signer: ChunkSigner | None = None):
        self._reader = reader
        self._signer = signer
        self.trailers: dict[str, str] = {}
        self.decoded_length = 0

    async def _line(self) -> str:
        try:
            line = await self._reader.readline()
        except ValueError:  # aiohttp: line longer than its limit
            raise _bad("An aws-chunked line is too long.")
        if not line.endswith(b"\n"):
            raise _ended()
        if len(line) > MAX_LINE:
            raise _bad("An aws-chunked line is too long.")
        return line.decode("latin-1").rstrip("\r\n")

    async def _exactly(self, n: int) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except Exception as exc:  # IncompleteReadError and friends
            if type(exc).__name__ == "IncompleteReadError" or isinstance(exc, EOFError):
                raise _ended()
            raise

    def _parse_header(self, line: str) -> tuple[int, str | None]:
        size_text, _, ext = line.partition(";")
        # Bounded ASCII hex only: int(x, 16) took "-1", whose readexactly(-1) returned
        # b"" at once and spun the loop forever without yielding to the event loop.
        size = numbers.hexadecimal(size_text.strip(" \t"))
        if size is None:
            raise _malformed("a chunk size is not a hexadecimal number")
        signature = None
        if ext:
            name, _, value = ext.partition("=")
            if name.strip() == "chunk-signature":
                signature = value.strip().lower()
        if self._signer is not None and signature is None:
            raise errors.SignatureDoesNotMatch("A signed aws-chunked chunk has no signature.")
        return size, signature

    async def __aiter__(self) -> AsyncIterator[bytes]:
        previous = self._signer.seed_signature if self._signer else ""
        while True:
            size, signature = self._parse_header(await self._line())
            digest = hashlib.sha256() if self._signer else None
            remaining = size
            while remaining:
                piece = await self._exactly(min(remaining, READ_SIZE))
                remaining -= len(piece)
                if digest is not None:
                    digest.update(piece)
                self.decoded_length += len(piece)
                yield piece
            if self._signer is not None:
                expected = self._signer.chunk_signature(previous, digest.hexdigest())
                if not hmac.compare_digest(expected, signature or ""):
                    raise errors.SignatureDoesNotMatch(
                        "The chunk signature we calculated does not match the one you provided.")
                previous = expected
            if size == 0:
                break
            if await self._exactly(2) != b"\r\n":
                raise _malformed("a chunk is not followed by CRLF")
        await self._read_trailers(previous)

    async def _read_trailers(self, previous: str) -> None:
        trailer_signature = None
        lines = []
        while True:
            try:
                line = await self._line()
            except errors.IncompleteBody:
                break  # some clients end the body right after the last chunk
            if line == "":
                break
            if len(lines) == MAX_TRAILERS:
                raise _malformed("too many trailers")
            name, sep, value = line.partition(":")
            if not sep:
                raise _bad(f"Malformed aws-chunked trailer {line[:64]!r}.")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                trailer_signature = value.strip().lower()
            else:
                self.trailers[name] = value.strip()
                lines.append(f"{name}:{value.strip()}\n")
        if self._signer is not None and lines:
            expected = self._signer.trailer_signature(previous, "".join(lines))
            if not hmac.compare_digest(expected, trailer_signature or ""):
                raise errors.SignatureDoesNotMatch(
                    "The trailer signature we calculated does not match the one you provided.")
