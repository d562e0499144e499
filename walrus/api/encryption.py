"""Encryption at rest as the handlers see it (walrus/sse.py does the sealing):
Put/Get/DeleteBucketEncryption (`?encryption`, a bucket setting: the bucket's default,
SSE-S3), what a write asks for, the data key a read or a copy source unlocks, and the
x-amz-server-side-encryption* headers S3 answers with."""
from __future__ import annotations

import itertools
import json
import logging
from typing import Iterator

from aiohttp import web

from walrus import errors, s3xml, sse
from walrus.api.bucket_settings import Setting, xml_answer
from walrus.context import Ctx
from walrus.store import Object, ObjectContent, Upload

log = logging.getLogger(__name__)


def _parse(raw: bytes) -> str:
    """A ServerSideEncryptionConfiguration: one Rule whose default is AES256 (no KMS
    here), with BucketKeyEnabled kept to be echoed."""
    doc = s3xml.parse(raw, "ServerSideEncryptionConfiguration")
    rules = s3xml.as_list(doc.get("Rule"))
    if len(rules) != 1 or not isinstance(rules[0], dict):
        raise errors.MalformedXML()
    rule = rules[0]
    default = rule.get("ApplyServerSideEncryptionByDefault")
    if not isinstance(default, dict) or not isinstance(default.get("SSEAlgorithm"), str):
        raise errors.MalformedXML()
    algorithm = default["SSEAlgorithm"]
    if algorithm not in (sse.ALGORITHM, "aws:kms", "aws:kms:dsse"):
        raise errors.MalformedXML()
    if algorithm != sse.ALGORITHM:
        raise errors.InvalidArgument("The encryption method specified is not supported",
                                     ArgumentName="SSEAlgorithm", ArgumentValue=algorithm)
    if "KMSMasterKeyID" in default:
        raise errors.InvalidArgument("a KMSMasterKeyID is not applicable if the default sse "
                                     "algorithm is not aws:kms or aws:kms:dsse",
                                     ArgumentName="ApplyServerSideEncryptionByDefault")
    bucket_key = rule.get("BucketKeyEnabled", "false")
    if bucket_key not in ("true", "false"):
        raise errors.MalformedXML()
    return json.dumps({"algorithm": algorithm, "bucket_key": bucket_key == "true"})


def _document(stored: str) -> dict:
    doc = json.loads(stored)
    return {"Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": doc["algorithm"]},
                     "BucketKeyEnabled": "true" if doc["bucket_key"] else "false"}}


SETTING = Setting(
    "encryption", parse=_parse,
    answer=xml_answer("ServerSideEncryptionConfiguration", _document),
    missing=errors.ServerSideEncryptionConfigurationNotFoundError,
    needs_integrity=False,
    actions=("s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
             "s3:PutEncryptionConfiguration"))  # DeleteBucketEncryption's, as on AWS


async def sealer_for(ctx: Ctx, headers=None) -> sse.Sealer | None:
    """The fresh data key a new object (PUT, form POST, copy target,
    CreateMultipartUpload) is sealed with: as its headers (a form's fields) ask, else
    as its bucket's default; None: plaintext."""
    default = await ctx.store.bucket_setting(ctx.bucket.name, SETTING.kind) is not None
    asked = sse.wanted(ctx.headers if headers is None else headers, default)
    return None if asked is None else sse.Sealer.new(ctx.master, asked)


def data_key(ctx: Ctx, obj: Object, copy_source: bool = False) -> bytes | None:
    """The data key of an object being read or copied from (None: plaintext), checked
    against the SSE-C key the request sends for it."""
    customer = sse.customer_key(ctx.headers, sse.COPY_SOURCE if copy_source else "")
    return sse.unlock(ctx.master, sse.Encryption.from_json(obj.encryption), customer)


def upload_sealer(ctx: Ctx, upload: Upload) -> sse.Sealer | None:
    """UploadPart(Copy) of an encrypted upload: its data key, unlocked by the master key
    or by the SSE-C key every part of an SSE-C upload must send again."""
    enc = sse.Encryption.from_json(upload.encryption)
    customer = sse.customer_key(ctx.headers)
    if enc is None:
        if customer is not None:
            raise errors.InvalidRequest("The multipart upload initiate requested no "
                                        "encryption; its parts cannot send encryption "
                                        "parameters.")
        return None
    if enc.mode == sse.CUSTOMER and customer is None:
        raise errors.InvalidRequest("The multipart upload initiate requested encryption. "
                                    "Subsequent part requests must include the appropriate "
                                    "encryption parameters.")
    return sse.Sealer(enc, sse.unlock(ctx.master, enc, customer))


def headers_of(encryption: str) -> dict:
    """x-amz-server-side-encryption (SSE-S3) or the SSE-C algorithm and key MD5."""
    enc = sse.Encryption.from_json(encryption)
    return enc.headers() if enc is not None else {}


def decrypted(content: ObjectContent, key: bytes, offset: int, length: int
              ) -> Iterator[bytes]:
    """The plaintext of a span of sealed `content`, its first run already decrypted: a
    blob that fails authentication there is an InternalError answer."""
    pieces = sse.plaintext(content.sealed_file(), sse.Encryption.from_json(content.obj.encryption),
                           key, offset, length)
    try:
        first = next(pieces)
    except sse.Tampered as exc:
        log.error("object %s/%s: %s", content.obj.bucket, content.obj.key, exc)
        raise errors.InternalError("The object's stored bytes failed authentication.")
    return itertools.chain((first,), pieces)


async def send_decrypted(request: web.Request, response: web.StreamResponse,
                         pieces: Iterator[bytes]) -> None:
    """Write decrypted pieces; a chunk failing authentication after the status was sent
    cuts the connection, so the client sees a short body rather than wrong bytes."""
    try:
        for piece in pieces:
            await response.write(piece)
    except sse.Tampered as exc:
        log.error("%s: %s", request.path, exc)
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("stored bytes failed authentication") from exc
