"""Put/Get/DeleteBucketLifecycleConfiguration (`?lifecycle`), answered from
walrus/lifecycle.py's rules; walrus/expiry.py applies them. Also the
x-amz-expiration header of PUT, GET and HEAD."""
from __future__ import annotations

from walrus import errors, lifecycle
from walrus.api.bucket_settings import Setting, xml_answer
from walrus.context import Ctx
from walrus.store import Object

SETTING = Setting(
    "lifecycle", parse=lambda raw: lifecycle.to_json(lifecycle.parse(raw)),
    answer=xml_answer("LifecycleConfiguration",
                      lambda stored: lifecycle.document(lifecycle.from_json(stored))),
    missing=errors.NoSuchLifecycleConfiguration,
    max_bytes=1024 * 1024,  # 1,000 rules with long filters fit
    actions=("s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
             "s3:PutLifecycleConfiguration"))


async def expiration_headers(ctx: Ctx, obj: Object) -> dict:
    """x-amz-expiration for the current version of an object a rule will expire."""
    if not obj.is_latest or obj.is_marker:
        return {}
    stored = await ctx.store.bucket_setting(obj.bucket, "lifecycle")
    if stored is None:
        return {}
    rules = lifecycle.from_json(stored)
    tags = obj.tags
    if tags is None and lifecycle.needs_tags(rules):
        tags = (await ctx.store.get(obj.bucket, obj.key, with_tags=True,
                                    version_id=obj.version_id) or obj).tags
    found = lifecycle.expiration_header(rules, obj.key, obj.size, tags, obj.last_modified,
                                        ctx.settings.walrus.lifecycle_day_seconds)
    return {"x-amz-expiration": found} if found else {}
