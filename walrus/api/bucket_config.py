"""Bucket settings Walrus does not implement, answered as AWS answers a bucket
that never had them (Ansible's s3_bucket and the SDKs read them all). (Tagging,
CORS, lifecycle, encryption and versioning are real: walrus/api/tagging.py,
walrus/api/cors.py, walrus/api/lifecycle.py, walrus/api/encryption.py,
walrus/api/buckets.py.)"""
from __future__ import annotations

from aiohttp import web

from walrus import errors, s3xml
from walrus.context import Ctx

# sub-resource -> the "not configured" error GET answers with
NOT_CONFIGURED = {
    "policy": errors.NoSuchBucketPolicy,
    "publicAccessBlock": errors.NoSuchPublicAccessBlockConfiguration,
    "ownershipControls": errors.OwnershipControlsNotFoundError,
    "object-lock": errors.ObjectLockConfigurationNotFoundError,
    "website": errors.NoSuchWebsiteConfiguration,
    "replication": errors.ReplicationConfigurationNotFoundError,
}
# Settings whose empty state is a document, not an error.
EMPTY_DOCUMENTS = {
    "logging": ("BucketLoggingStatus", {}),
    "notification": ("NotificationConfiguration", {}),
    "requestPayment": ("RequestPaymentConfiguration", {"Payer": "BucketOwner"}),
    "accelerate": ("AccelerateConfiguration", {}),
}


def sub_resource_of(ctx: Ctx) -> str:
    return next(k for k in list(NOT_CONFIGURED) + list(EMPTY_DOCUMENTS) if k in ctx.query)


async def get_setting(ctx: Ctx) -> web.Response:
    sub = sub_resource_of(ctx)
    if sub in EMPTY_DOCUMENTS:
        root, body = EMPTY_DOCUMENTS[sub]
        return s3xml.response(root, body)
    raise NOT_CONFIGURED[sub](BucketName=ctx.bucket.name)


async def put_setting(ctx: Ctx) -> web.Response:
    await ctx.read_small()
    raise errors.NotImplemented_(f"Walrus does not support bucket {sub_resource_of(ctx)} "
                                 "configuration.")


async def delete_setting(ctx: Ctx) -> web.Response:
    return web.Response(status=204)  # nothing configured, nothing to delete
