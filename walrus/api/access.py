"""Who may do what: a resource's ACL, as the bucket's ownership controls and public
access block let it count, and the bucket's policy, combined as AWS combines them
within and across accounts:

- the cloud's admin may do anything (nodes fetch image bundles so);
- a policy's explicit Deny wins over every Allow and every ACL grant (except that
  the owner account's root may always Get/Put/DeleteBucketPolicy, so it cannot lock
  itself out);
- otherwise the ACL grants, or the policy's Allow does (RestrictPublicBuckets: a
  public policy grants only to the owner's account);
- BucketOwnerEnforced disables ACLs: only the bucket owner's account holds what
  they granted; IgnorePublicAcls ignores grants to AllUsers/AuthenticatedUsers.

A bucket without a policy, public access block or ownership controls costs three
cached dictionary look-ups.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from walrus import acl, errors, policy
from walrus.context import Ctx
from walrus.store import Bucket, Object

POLICY, PUBLIC_ACCESS_BLOCK, OWNERSHIP = "policy", "publicAccessBlock", "ownershipControls"
ENFORCED, PREFERRED, WRITER = "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"
PAB_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
              "RestrictPublicBuckets")
# What the owner account's root may always do, whatever its policy denies.
LOCKOUT_SAFE = ("s3:getbucketpolicy", "s3:putbucketpolicy", "s3:deletebucketpolicy")


@dataclass(frozen=True)
class Controls:
    """A bucket's access settings, parsed."""
    policy: policy.Policy | None = None
    block: frozenset[str] = frozenset()  # the PAB_FIELDS set to true
    ownership: str = ""                  # "" (never set: ObjectWriter, S3's old default)


NONE = Controls()


@lru_cache(maxsize=4096)
def _controls(bucket: str, policy_doc: str | None, block_doc: str | None,
              ownership_doc: str | None) -> Controls:
    block = json.loads(block_doc) if block_doc else {}
    return Controls(policy.compiled(policy_doc, bucket) if policy_doc else None,
                    frozenset(k for k in PAB_FIELDS if block.get(k)),
                    json.loads(ownership_doc)["ObjectOwnership"] if ownership_doc else "")


KINDS = (POLICY, PUBLIC_ACCESS_BLOCK, OWNERSHIP)
_NO_DOCUMENTS = (None, None, None)


async def controls(store, bucket: str) -> Controls:
    docs = await store.bucket_settings(bucket, KINDS)
    return NONE if docs == _NO_DOCUMENTS else _controls(bucket, *docs)


def arn(bucket: str, key: str | None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _header(name: str):
    return lambda ctx, bucket, tags: ctx.headers.get(name)


def _query(name: str):
    return lambda ctx, bucket, tags: ctx.query.get(name)


def _who(field: str):
    return lambda ctx, bucket, tags: getattr(ctx.who, field) or None


def _request_tags(ctx: Ctx) -> dict[str, str]:
    return dict(parse_qsl(ctx.headers.get("x-amz-tagging", ""), keep_blank_values=True))


def _auth_type(ctx: Ctx) -> str | None:
    if ctx.who.anonymous:
        return None
    return "REST-QUERY-STRING" if "Authorization" not in ctx.headers else "REST-HEADER"


def _signature_version(ctx: Ctx) -> str | None:
    if ctx.who.anonymous:
        return None
    v4 = ctx.headers.get("Authorization", "").startswith("AWS4-") or \
        "X-Amz-Algorithm" in ctx.query
    return "AWS4-HMAC-SHA256" if v4 else "AWS"


# condition key (lower case) -> its value for a request (None: the request has none)
_KEYS = {
    "aws:sourceip": lambda ctx, bucket, tags: ctx.request.remote,
    "aws:securetransport": lambda ctx, bucket, tags: "true" if ctx.request.secure else "false",
    "aws:currenttime": lambda ctx, bucket, tags: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()),
    "aws:epochtime": lambda ctx, bucket, tags: str(int(time.time())),
    "aws:username": _who("user_name"),
    "aws:principalaccount": _who("account_id"),
    "aws:principalarn": lambda ctx, bucket, tags: policy.caller_arn(ctx.who),
    "aws:principaltype": lambda ctx, bucket, tags: "Anonymous" if ctx.who.anonymous else
    "Account" if ctx.who.user_name == policy.ROOT_USER else "User",
    "aws:referer": _header("Referer"),
    "aws:useragent": _header("User-Agent"),
    "s3:prefix": _query("prefix"),
    "s3:delimiter": _query("delimiter"),
    "s3:max-keys": _query("max-keys"),
    "s3:versionid": _query("versionId"),
    "s3:resourceaccount": lambda ctx, bucket, tags: bucket.owner_id,
    "s3:authtype": lambda ctx, bucket, tags: _auth_type(ctx),
    "s3:signatureversion": lambda ctx, bucket, tags: _signature_version(ctx),
    "s3:x-amz-object-ownership": _header("x-amz-object-ownership"),
}


def lookup_for(ctx: Ctx, bucket: Bucket, tags: dict[str, str] | None):
    """The request's values of a condition key, computed only when a condition asks."""
    def lookup(key: str) -> list[str] | None:
        if key.startswith("s3:existingobjecttag/"):
            wanted = key.split("/", 1)[1]
            found = [v for k, v in (tags or {}).items() if k.lower() == wanted]
        elif key.startswith("s3:requestobjecttag/"):
            wanted = key.split("/", 1)[1]
            found = [v for k, v in _request_tags(ctx).items() if k.lower() == wanted]
        elif key == "s3:requestobjecttagkeys" or key == "aws:tagkeys":
            found = list(_request_tags(ctx))
        else:
            fn = _KEYS.get(key)
            if fn is None and key.startswith("s3:x-amz-"):
                fn = _header(key[3:])
            value = fn(ctx, bucket, tags) if fn else None
            found = [value] if value is not None else []
        return found or None
    return lookup


def acl_allows(c: Controls, bucket: Bucket, who: acl.Principal, resource_acl: acl.Acl | None,
               permission: str | None) -> bool:
    """What the ACL grants; without an ACL or a permission to ask (or with ACLs
    disabled), only the bucket owner's account holds it."""
    if who.is_admin:
        return True
    if c.ownership == ENFORCED or resource_acl is None or permission is None:
        return not who.anonymous and who.account_id == bucket.owner_id
    return resource_acl.allows(who, permission, ignore_public="IgnorePublicAcls" in c.block)


async def _object_tags(ctx: Ctx, obj: Object | None) -> dict[str, str] | None:
    if obj is None:
        return None
    tags = obj.tags if obj.tags is not None else await ctx.store.object_tags(
        obj.bucket, obj.key, obj.version_id)
    return dict(tags)


async def policy_decision(ctx: Ctx, bucket: Bucket, c: Controls, action: str,
                          key: str | None, obj: Object | None = None) -> str | None:
    """"Deny", "Allow" or None from the bucket's policy, as it counts for this caller."""
    if c.policy is None:
        return None
    tags = await _object_tags(ctx, obj) if c.policy.needs_tags else None
    who = ctx.who
    decision = c.policy.decide(who, action, arn(bucket.name, key),
                               lookup_for(ctx, bucket, tags))
    owner = not who.anonymous and who.account_id == bucket.owner_id
    if decision == "Deny" and owner and who.user_name == policy.ROOT_USER \
            and action.lower() in LOCKOUT_SAFE:
        return None
    if decision == "Allow" and not owner and "RestrictPublicBuckets" in c.block \
            and c.policy.public:
        return None
    return decision


async def allowed(ctx: Ctx, bucket: Bucket, action: str, key: str | None,
                  resource_acl: acl.Acl | None, permission: str | None,
                  obj: Object | None = None, owner_only: bool = False) -> bool:
    """Whether the caller may do `action` on the bucket (key None) or one of its keys,
    the ACL asking `permission`. `owner_only`: an action only the owner's account may do
    (a policy that grants it to another account earns that caller 405, as on S3)."""
    who = ctx.who
    if who.is_admin:
        return True
    c = await controls(ctx.store, bucket.name)
    decision = None if c.policy is None else \
        await policy_decision(ctx, bucket, c, action, key, obj)
    if decision == "Deny":
        return False
    if owner_only:
        if not who.anonymous and who.account_id == bucket.owner_id:
            return True
        if decision == "Allow":
            raise errors.MethodNotAllowed(Method=ctx.request.method, ResourceType="BUCKET")
        return False
    if acl_allows(c, bucket, who, resource_acl, permission):
        return True
    return decision == "Allow"


async def require(ctx: Ctx, bucket: Bucket, action: str, key: str | None,
                  resource_acl: acl.Acl | None, permission: str | None,
                  obj: Object | None = None, owner_only: bool = False) -> None:
    if not await allowed(ctx, bucket, action, key, resource_acl, permission, obj, owner_only):
        raise errors.AccessDenied()


# --- what ACLs a write may set -------------------------------------------------
def is_public_acl(grants) -> bool:
    return any(g.kind == "Group" and g.grantee in (acl.ALL_USERS, acl.AUTHENTICATED_USERS)
               for g in grants)


def only_owner_full_control(new: acl.Acl, owner_id: str) -> bool:
    return all(g.kind == "CanonicalUser" and g.grantee == owner_id
               and g.permission == acl.FULL_CONTROL for g in new.grants)


async def check_new_acl(ctx: Ctx, bucket: Bucket, new: acl.Acl, explicit: bool) -> None:
    """Refuse an ACL a PUT, COPY, CreateMultipartUpload, PutBucketAcl or PutObjectAcl asks
    for that the bucket's settings forbid: any but the owner's full control when ACLs
    are disabled (`explicit`: the request named one), a public one under BlockPublicAcls."""
    c = await controls(ctx.store, bucket.name)
    if c is NONE:
        return
    if c.ownership == ENFORCED and explicit and not only_owner_full_control(
            new, bucket.owner_id) and ctx.headers.get("x-amz-acl") != "bucket-owner-full-control":
        raise errors.AccessControlListNotSupported()
    if "BlockPublicAcls" in c.block and is_public_acl(new.grants):
        raise errors.AccessDenied()


async def object_writer(ctx: Ctx) -> acl.Principal:
    """Who owns a new object: its writer, or the bucket owner when ACLs are disabled or
    (BucketOwnerPreferred) the writer gave the bucket owner full control."""
    c = await controls(ctx.store, ctx.bucket.name)
    if c.ownership == ENFORCED or (c.ownership == PREFERRED and ctx.headers.get(
            "x-amz-acl") == "bucket-owner-full-control"):
        return acl.Principal(ctx.bucket.owner_id, ctx.bucket.owner_name)
    return ctx.who


async def require_missing(ctx: Ctx, bucket: Bucket, action: str, key: str) -> None:
    """A key that does not exist is 404 only to a caller not denied `action` who may list
    the bucket; to others AccessDenied, which does not tell which keys exist."""
    c = await controls(ctx.store, bucket.name)
    if not ctx.who.is_admin and await policy_decision(ctx, bucket, c, action, key) == "Deny":
        raise errors.AccessDenied()
    await require(ctx, bucket, "s3:ListBucket", None, bucket.acl, acl.READ)


async def could_allow(ctx: Ctx, bucket: Bucket, resource_acl: acl.Acl, permission: str,
                      actions: tuple[str, ...]) -> bool:
    """Whether the ACL grants `permission` or the policy might grant one of `actions` on
    some key: a request that asks key by key (DeleteObjects) is otherwise refused whole."""
    c = await controls(ctx.store, bucket.name)
    return acl_allows(c, bucket, ctx.who, resource_acl, permission) or (
        c.policy is not None and c.policy.may_allow(ctx.who, actions))
