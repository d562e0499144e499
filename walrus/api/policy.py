"""Put/Get/DeleteBucketPolicy (`?policy`, a bucket setting: the JSON document as sent)
and GetBucketPolicyStatus (`?policyStatus`). walrus/policy.py checks and evaluates
the document; walrus/api/access.py applies it to every request."""
from __future__ import annotations

from aiohttp import web

from walrus import errors, policy, s3xml
from walrus.api import access
from walrus.api.bucket_settings import Setting
from walrus.context import Ctx


def _parse(raw: bytes) -> str:
    """The document's own checks; `_accept` checks it against the bucket."""
    if not raw.strip():
        raise errors.MalformedPolicy(policy.INVALID_JSON)
    return policy.text_of(raw)


async def _accept(ctx: Ctx, document: str) -> None:
    checked = policy.check(document, ctx.bucket.name, set(ctx.creds.account_names()))
    controls = await access.controls(ctx.store, ctx.bucket.name)
    if "BlockPublicPolicy" in controls.block and checked.public:
        raise errors.AccessDenied()


SETTING = Setting(
    access.POLICY, parse=_parse,
    answer=lambda stored: web.Response(text=stored, content_type="application/json"),
    missing=errors.NoSuchBucketPolicy, max_bytes=policy.MAX_BYTES * 4, put_status=204,
    actions=("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    owner_only=True, accept=_accept)


async def get_policy_status(ctx: Ctx) -> web.Response:
    """IsPublic as AWS computes it; a bucket without a policy is NoSuchBucketPolicy."""
    stored = await ctx.store.bucket_setting(ctx.bucket.name, access.POLICY)
    if stored is None:
        raise errors.NoSuchBucketPolicy(BucketName=ctx.bucket.name)
    public = policy.compiled(stored, ctx.bucket.name).public
    return s3xml.response("PolicyStatus", {"IsPublic": "true" if public else "false"})
