"""Put/Get/DeletePublicAccessBlock (`?publicAccessBlock`) and
Put/Get/DeleteBucketOwnershipControls (`?ownershipControls`): bucket settings,
stored as JSON, that walrus/api/access.py enforces on every request."""
from __future__ import annotations

import json

from walrus import errors
from walrus.api import access
from walrus.api.bucket_settings import Setting, xml_answer
from walrus.context import Ctx
from walrus.s3xml import parse as parse_xml

OWNERSHIPS = (access.ENFORCED, access.PREFERRED, access.WRITER)


def _flag(value) -> bool:
    if value is None:
        return False
    if not isinstance(value, str) or value.strip().lower() not in ("true", "false"):
        raise errors.MalformedXML()
    return value.strip().lower() == "true"


def parse_block(raw: bytes) -> str:
    doc = parse_xml(raw, "PublicAccessBlockConfiguration")
    if {k for k in doc if not k.startswith("@")} - set(access.PAB_FIELDS):
        raise errors.MalformedXML()
    return json.dumps({field: _flag(doc.get(field)) for field in access.PAB_FIELDS})


BLOCK_SETTING = Setting(
    access.PUBLIC_ACCESS_BLOCK, parse=parse_block,
    answer=xml_answer("PublicAccessBlockConfiguration", lambda stored: {
        k: "true" if v else "false" for k, v in json.loads(stored).items()}),
    missing=errors.NoSuchPublicAccessBlockConfiguration,
    actions=("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
             "s3:PutBucketPublicAccessBlock"))


def ownership_document(value: str) -> str:
    if value not in OWNERSHIPS:
        raise errors.MalformedXML()
    return json.dumps({"ObjectOwnership": value})


def parse_ownership(raw: bytes) -> str:
    doc = parse_xml(raw, "OwnershipControls")
    rules = doc.get("Rule")
    if not isinstance(rules, dict) or {k for k in rules if not k.startswith("@")} \
            != {"ObjectOwnership"}:
        raise errors.MalformedXML()  # exactly one rule, as S3 wants
    return ownership_document(rules["ObjectOwnership"])


async def _accept_ownership(ctx: Ctx, document: str) -> None:
    """ACLs cannot be disabled while the bucket's ACL grants anyone but its owner."""
    if json.loads(document)["ObjectOwnership"] == access.ENFORCED \
            and not access.only_owner_full_control(ctx.bucket.acl, ctx.bucket.owner_id):
        raise errors.InvalidBucketAclWithObjectOwnership()


OWNERSHIP_SETTING = Setting(
    access.OWNERSHIP, parse=parse_ownership,
    answer=xml_answer("OwnershipControls", lambda stored: {
        "Rule": {"ObjectOwnership": json.loads(stored)["ObjectOwnership"]}}),
    missing=errors.OwnershipControlsNotFoundError,
    actions=("s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls",
             "s3:PutBucketOwnershipControls"),
    accept=_accept_ownership)
