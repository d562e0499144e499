"""What a handler gets: the request, where it points, who sent it, and the store."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mallee.settings import Settings
from walrus import errors, s3xml
from walrus.acl import Principal
from walrus.auth import Authenticated
from walrus.body import RequestBody
from walrus.credstore import CredentialStore
from walrus.routing import Target
from walrus.sse import MasterKey
from walrus.store import Bucket, Object, Store


@dataclass
class Ctx:
    request: web.Request
    target: Target
    auth: Authenticated
    store: Store
    creds: CredentialStore
    settings: Settings
    master: MasterKey | None = None  # seals SSE-S3 data keys
    bucket: Bucket | None = None
    obj: Object | None = None

    @property
    def who(self) -> Principal:
        return self.auth.principal

    @property
    def query(self):
        return self.request.query

    @property
    def headers(self):
        return self.request.headers

    @property
    def key(self) -> str:
        return self.target.key or ""

    def body(self, max_size: int | None = None, checksum_header: bool = True) -> RequestBody:
        return RequestBody(self.request, self.auth.payload_sha256, self.auth.signer, max_size,
                           checksum_header=checksum_header)

    async def read_small(self, limit: int = s3xml.MAX_XML_BODY,
                         checksum_header: bool = True) -> bytes:
        """A small verified body (XML documents), refused when over `limit`;
        `checksum_header` False: an x-amz-checksum-* header is not the body's."""
        chunks = []
        async for chunk in self.body(max_size=limit, checksum_header=checksum_header):
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_xml(self, root: str, error=errors.MalformedXML) -> dict:
        return s3xml.parse(await self.read_small(), root, error)

    def require_signed(self) -> None:
        if self.who.anonymous:
            raise errors.AccessDenied("Anonymous users cannot do this.")
