"""Bucket settings Walrus does not implement, answered as AWS answers a bucket
that never had them (Ansible's s3_bucket and the SDKs read them all). (Tagging,
CORS, lifecycle, versioning, policies, public access blocks, ownership controls and
encryption are real: walrus/api/tagging.py, cors.py, lifecycle.py, buckets.py, policy.py,
public_access.py, encryption.py.)"""
from __future__ import annotations

from aiohttp import web

from walrus import errors, s3xml
from walrus.context import Ctx

# sub-resource -> the "not configured" error GET answers with
NOT_CONFIGURED = {
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
# sub-resource -> the IAM actions of its Get and Put (Delete: Put's), for bucket policies
ACTIONS = {
    "object-lock": ("s3:GetBucketObjectLockConfiguration",
                    "s3:PutBucketObjectLockConfiguration"),
    "website": ("s3:GetBucketWebsite", "s3:PutBucketWebsite"),
    "replication": ("s3:GetReplicationConfiguration", "s3:PutReplicationConfiguration"),
    "logging": ("s3:GetBucketLogging", "s3:PutBucketLogging"),
    "notification": ("s3:GetBucketNotification", "s3:PutBucketNotification"),
    "requestPayment": ("s3:GetBucketRequestPayment", "s3:PutBucketRequestPayment"),
    "accelerate": ("s3:GetAccelerateConfiguration", "s3:PutAccelerateConfiguration"),
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
