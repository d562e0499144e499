"""Bucket policies: the JSON document checked as AWS checks it (MalformedPolicy with
AWS's reason), compiled once into statements, and evaluated against one request:
Deny, Allow, or nothing to say (the ACLs decide). Also AWS's "is this policy
public" (GetBucketPolicyStatus, BlockPublicPolicy, RestrictPublicBuckets).

Principals are accounts and their users: Walrus has no IAM roles or policies, so a
user acts with its account's rights and `arn:aws:iam::ID:root` (or the bare id)
names every user of the account, `arn:aws:iam::ID:user/NAME` one of them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from walrus import errors
from walrus.acl import Principal
from walrus.policy_conditions import Lookup, Test, fixes_principal, glob_body, malformed
from walrus.policy_conditions import parse as parse_conditions

MAX_BYTES = 20 * 1024  # S3's limit on a bucket policy
INVALID_JSON = "Policies must be valid JSON and the first byte must be '{'"  # S3's words
VERSIONS = ("2012-10-17", "2008-10-17")
ROOT_USER = "admin"    # an account's first user, Eucalyptus's account administrator

# Every S3 action a bucket policy may name, by the resource it applies to.
_BUCKET_ACTIONS = """
ListBucket ListBucketVersions ListBucketMultipartUploads GetBucketLocation DeleteBucket
GetBucketAcl PutBucketAcl GetBucketVersioning PutBucketVersioning GetBucketTagging
PutBucketTagging GetBucketCORS PutBucketCORS GetLifecycleConfiguration
PutLifecycleConfiguration GetBucketPolicy PutBucketPolicy DeleteBucketPolicy
GetBucketPolicyStatus GetBucketPublicAccessBlock PutBucketPublicAccessBlock
GetBucketOwnershipControls PutBucketOwnershipControls GetEncryptionConfiguration
PutEncryptionConfiguration GetBucketObjectLockConfiguration
PutBucketObjectLockConfiguration GetBucketWebsite PutBucketWebsite DeleteBucketWebsite
GetReplicationConfiguration PutReplicationConfiguration GetBucketLogging PutBucketLogging
GetBucketNotification PutBucketNotification GetBucketRequestPayment PutBucketRequestPayment
GetAccelerateConfiguration PutAccelerateConfiguration GetAnalyticsConfiguration
PutAnalyticsConfiguration GetInventoryConfiguration PutInventoryConfiguration
GetMetricsConfiguration PutMetricsConfiguration GetIntelligentTieringConfiguration
PutIntelligentTieringConfiguration CreateBucket ListBucketByTags
"""
_OBJECT_ACTIONS = """
GetObject GetObjectVersion PutObject DeleteObject DeleteObjectVersion GetObjectAcl
GetObjectVersionAcl PutObjectAcl PutObjectVersionAcl GetObjectTagging
GetObjectVersionTagging PutObjectTagging PutObjectVersionTagging DeleteObjectTagging
DeleteObjectVersionTagging GetObjectAttributes GetObjectVersionAttributes
AbortMultipartUpload ListMultipartUploadParts GetObjectRetention PutObjectRetention
GetObjectLegalHold PutObjectLegalHold BypassGovernanceRetention RestoreObject
GetObjectTorrent GetObjectVersionTorrent ReplicateObject ReplicateDelete ReplicateTags
GetObjectVersionForReplication ObjectOwnerOverrideToBucketOwner
"""
_SERVICE_ACTIONS = "ListAllMyBuckets"
ACTIONS: dict[str, str] = {
    f"s3:{name}".lower(): kind for kind, names in (
        ("bucket", _BUCKET_ACTIONS), ("object", _OBJECT_ACTIONS),
        ("service", _SERVICE_ACTIONS)) for name in names.split()}

_ACCOUNT = re.compile(r"\d{12}\Z")
_IAM_ARN = re.compile(r"arn:aws:iam::(\d{12}):(root|user/(?:[^/]+/)*([^/]+)|role/.+)\Z")
_TOP_LEVEL = {"Version", "Id", "Statement"}
_STATEMENT_FIELDS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                     "Resource", "NotResource", "Condition"}


def _matcher(patterns: Iterable[str], ignore_case: bool) -> re.Pattern:
    alternatives = "|".join(glob_body(p) for p in patterns)
    return re.compile(f"(?:{alternatives})\\Z", re.S | (re.I if ignore_case else 0))


def _strings(value, field: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise malformed(f"Policy has an invalid {field.lower()}" if field != "Principal"
                        else "Invalid principal in policy")
    return tuple(values)


@dataclass(frozen=True)
class Principals:
    everyone: bool
    accounts: frozenset[str]                  # every user of these accounts
    users: frozenset[tuple[str, str]]         # (account id, user name)

    def match(self, who: Principal) -> bool:
        if self.everyone:
            return True
        if who.anonymous:
            return False
        return who.account_id in self.accounts or (who.account_id, who.user_name) in self.users


def _principals(spec, known_accounts) -> Principals:
    if spec == "*":
        return Principals(True, frozenset(), frozenset())
    if not isinstance(spec, dict) or not spec:
        raise malformed("Invalid principal in policy")
    everyone, accounts, users = False, set(), set()
    for kind, values in spec.items():
        values = _strings(values, "Principal")
        if kind == "AWS":
            for value in values:
                if value == "*":
                    everyone = True
                    continue
                found = _ACCOUNT.match(value) and (value, "root", None) \
                    or (_IAM_ARN.match(value) and _IAM_ARN.match(value).groups())
                if not found or (known_accounts is not None and found[0] not in known_accounts):
                    raise malformed("Invalid principal in policy")
                account, what, user = found
                if what == "root":
                    accounts.add(account)
                elif user is not None:
                    users.add((account, user))
                # a role: valid, but no Walrus caller is one
        elif kind == "CanonicalUser":  # canonical ids are account ids here
            accounts.update(values)
        elif kind in ("Service", "Federated"):
            pass  # AWS services and federated users never call Walrus
        else:
            raise malformed("Invalid principal in policy")
    return Principals(everyone, frozenset(accounts), frozenset(users))


@dataclass(frozen=True)
class Statement:
    allow: bool
    principals: Principals
    not_principal: bool
    actions: re.Pattern
    not_action: bool
    resources: re.Pattern
    not_resource: bool
    conditions: tuple[Test, ...]

    def applies(self, who: Principal, action: str, resource: str, lookup: Lookup) -> bool:
        return (self.principals.match(who) != self.not_principal
                and (self.actions.match(action) is not None) != self.not_action
                and (self.resources.match(resource) is not None) != self.not_resource
                and all(test.holds(lookup) for test in self.conditions))

    @property
    def public(self) -> bool:
        """AWS's meaning of public: an Allow to everyone that no condition pins to given
        addresses, accounts or ARNs."""
        if not self.allow:
            return False
        everyone = not self.principals.everyone if self.not_principal \
            else self.principals.everyone
        return everyone and not any(fixes_principal(t) for t in self.conditions)


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    needs_tags: bool  # a condition reads s3:ExistingObjectTag/...

    def decide(self, who: Principal, action: str, resource: str, lookup: Lookup) -> str | None:
        """"Deny", "Allow" or None (no statement applies)."""
        allowed = False
        for statement in self.statements:
            if statement.applies(who, action, resource, lookup):
                if not statement.allow:
                    return "Deny"
                allowed = True
        return "Allow" if allowed else None

    def may_allow(self, who: Principal, actions: tuple[str, ...]) -> bool:
        """Whether some Allow names this caller and one of these actions, on whatever
        resource and condition (a request that asks key by key may then be granted)."""
        return any(s.allow and s.principals.match(who) != s.not_principal
                   and any((s.actions.match(a) is not None) != s.not_action for a in actions)
                   for s in self.statements)

    @property
    def public(self) -> bool:
        return any(s.public for s in self.statements)


def _action_kinds(patterns: tuple[str, ...]) -> set[str]:
    """The resource kinds the actions apply to; "Policy has invalid action" for a name
    that is no S3 action (a wildcard must match one)."""
    kinds = set()
    for pattern in patterns:
        if pattern == "*":
            kinds.update(("bucket", "object", "service"))
            continue
        if not pattern.lower().startswith("s3:"):
            raise malformed("Policy has invalid action")
        matcher = _matcher([pattern], True)
        found = {kind for name, kind in ACTIONS.items() if matcher.match(name)}
        if not found:
            raise malformed("Policy has invalid action")
        kinds |= found
    return kinds


def _resource_kinds(patterns: tuple[str, ...], bucket: str) -> set[str]:
    """The kinds of resource named (a bucket, its objects); "Policy has invalid resource"
    for an ARN that is not S3's or that no name of this bucket matches."""
    kinds = set()
    for pattern in patterns:
        if pattern == "*":
            kinds.update(("bucket", "object"))
            continue
        if not pattern.startswith("arn:aws:s3:::"):
            raise malformed("Policy has invalid resource")
        path = pattern[len("arn:aws:s3:::"):]
        name, slash, _ = path.partition("/")
        if not _matcher([name], False).match(bucket) and not (
                "*" in name and _matcher([path], False).match(bucket + "/x")):
            raise malformed("Policy has invalid resource")
        if slash:
            kinds.add("object")
        elif "*" in name:
            kinds.update(("bucket", "object"))  # "my-*" also matches my-bucket/key
        else:
            kinds.add("bucket")
    return kinds


def _one_of(statement: dict, field: str, required: str) -> tuple[str | None, bool]:
    """The field's value and whether it is the Not form; exactly one must be there."""
    plain, negated = statement.get(field), statement.get("Not" + field)
    if plain is not None and negated is not None:
        raise malformed(f"Statement has both {field} and Not{field}")
    if plain is None and negated is None:
        if required:
            raise malformed(f"Missing required field {required}")
        return None, False
    return (plain, False) if plain is not None else (negated, True)


def _statement(raw, bucket: str, known_accounts) -> Statement:
    if not isinstance(raw, dict):
        raise malformed("Statement must be an object")
    unknown = set(raw) - _STATEMENT_FIELDS
    if unknown:
        raise malformed(f"Unknown field {sorted(unknown)[0]}")
    effect = raw.get("Effect")
    if effect is None:
        raise malformed("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise malformed(f"Invalid effect: {effect}")
    principal, not_principal = _one_of(raw, "Principal", "Principal")
    action, not_action = _one_of(raw, "Action", "Action")
    resource, not_resource = _one_of(raw, "Resource", "Resource")
    actions = _strings(action, "Action")
    resources = _strings(resource, "Resource")
    action_kinds = _action_kinds(actions)
    resource_kinds = _resource_kinds(resources, bucket)
    if not not_action and not not_resource and not action_kinds & resource_kinds:
        raise malformed("Action does not apply to any resource(s) in statement")
    conditions = parse_conditions(raw["Condition"]) if "Condition" in raw else ()
    return Statement(effect == "Allow", _principals(principal, known_accounts), not_principal,
                     _matcher(actions, True), not_action, _matcher(resources, False),
                     not_resource, conditions)


def text_of(raw: bytes) -> str:
    """A PutBucketPolicy body, once it is a JSON policy document of a known version
    with statements (what can be checked without the bucket); stored as sent, since
    GetBucketPolicy answers it so."""
    if len(raw) > MAX_BYTES:
        raise errors.PolicyTooLarge()
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        raise malformed(INVALID_JSON)
    unknown = set(doc) - _TOP_LEVEL
    if unknown:
        raise malformed(f"Unknown field {sorted(unknown)[0]}")
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    statements = doc.get("Statement")
    if statements is None:
        raise malformed("Missing required field Statement")
    if statements == []:
        raise malformed("Could not parse the policy: Statement is empty!")
    return text


def check(document: str, bucket: str, known_accounts: set[str] | None = None) -> Policy:
    """A document's statements, checked against `bucket` (its resources must name it)
    and the accounts that exist (None: not checked), compiled."""
    raw = json.loads(document)["Statement"]
    statements = tuple(_statement(s, bucket, known_accounts)
                       for s in (raw if isinstance(raw, list) else [raw]))
    needs_tags = any(t.key.startswith("s3:existingobjecttag/")
                     for s in statements for t in s.conditions)
    return Policy(statements, needs_tags)


@lru_cache(maxsize=4096)
def compiled(document: str, bucket: str) -> Policy:
    """A stored document, compiled once: the store hands the same cached string back
    on every request."""
    return check(document, bucket)


def caller_arn(who: Principal) -> str | None:
    if who.anonymous:
        return None
    if who.user_name == ROOT_USER:
        return f"arn:aws:iam::{who.account_id}:root"
    return f"arn:aws:iam::{who.account_id}:user/{who.user_name}"
