"""The CLC's access to Walrus objects: it reads manifests *as the caller*
(so RegisterImage proves the caller may read the bundle) and presigns URLs
that let a node fetch a bundle without holding any credential."""
from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp
import botocore.auth
import botocore.awsrequest
import botocore.credentials

from mallee import errors
from mallee.auth import Credential
from mallee.bodies import read_bounded


class ObjectStore:
    def __init__(self, endpoint: str, region: str):
        self.endpoint = endpoint.rstrip("/")
        self.region = region

    def url(self, bucket: str, key: str) -> str:
        return f"{self.endpoint}/{quote(bucket)}/{quote(key)}"

    def _creds(self, credential: Credential):
        return botocore.credentials.Credentials(credential.access_key_id,
                                                credential.secret_access_key)

    async def get(self, credential: Credential, bucket: str, key: str,
                  limit: int = 4 * 2**20) -> tuple[int, bytes]:
        """(HTTP status, body up to `limit` bytes) of a signed GET."""
        request = botocore.awsrequest.AWSRequest("GET", self.url(bucket, key))
        botocore.auth.S3SigV4Auth(self._creds(credential), "s3", self.region).add_auth(request)
        prepared = request.prepare()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
                async with s.get(prepared.url, headers=dict(prepared.headers)) as resp:
                    body = await read_bounded(resp.content, limit)
                    if len(body) > limit:
                        raise errors.InvalidManifest(f"{bucket}/{key} is larger than {limit} bytes.")
                    return resp.status, body
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise errors.Unavailable(f"Walrus could not be reached: {exc}")

    def presign(self, credential: Credential, bucket: str, key: str, expires: int = 3600) -> str:
        request = botocore.awsrequest.AWSRequest("GET", self.url(bucket, key))
        botocore.auth.S3SigV4QueryAuth(self._creds(credential), "s3", self.region,
                                       expires=expires).add_auth(request)
        return request.prepare().url
