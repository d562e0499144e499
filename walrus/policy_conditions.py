"""A bucket policy's Condition block: parsed once into tests, evaluated against the
values a request offers for each condition key (walrus/api/access.py supplies them).

AWS's rules: every operator of a block must hold, every key of an operator must
hold; a key holds when the request's value matches any of the policy's values,
and the negated operators (StringNotEquals, NotIpAddress, ...) hold when it
matches none. A key the request lacks fails a positive operator and passes a
negated one; `...IfExists` passes either way; `Null` tests presence.
`ForAnyValue:`/`ForAllValues:` compare every value of a multi-valued key.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from walrus import errors

Lookup = Callable[[str], "list[str] | None"]  # lower-cased key -> the request's values


def malformed(reason: str) -> errors.ApiError:
    return errors.MalformedPolicy(reason)


# S3's own condition keys (AWS's service authorization reference); `aws:` keys are
# global and open-ended (tags, principal attributes), so any is accepted.
S3_KEYS = {k.lower() for k in (
    "s3:prefix", "s3:delimiter", "s3:max-keys", "s3:x-amz-acl", "s3:x-amz-grant-read",
    "s3:x-amz-grant-write", "s3:x-amz-grant-read-acp", "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control", "s3:x-amz-copy-source", "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-storage-class",
    "s3:x-amz-website-redirect-location", "s3:x-amz-content-sha256", "s3:VersionId",
    "s3:LocationConstraint", "s3:RequestObjectTagKeys", "s3:authType",
    "s3:signatureversion", "s3:signatureAge", "s3:TlsVersion", "s3:ResourceAccount",
    "s3:x-amz-object-ownership", "s3:object-lock-mode", "s3:object-lock-retain-until-date",
    "s3:object-lock-remaining-retention-days", "s3:object-lock-legal-hold",
    "s3:AccessPointNetworkOrigin", "s3:DataAccessPointArn", "s3:DataAccessPointAccount",
    "s3:if-match", "s3:if-none-match", "s3:ObjectCreationOperation",
    "s3:x-amz-checksum-algorithm")}
S3_KEY_PREFIXES = ("s3:existingobjecttag/", "s3:requestobjecttag/")


def check_key(key: str) -> str:
    lowered = key.lower()
    if lowered.startswith("aws:") and len(lowered) > 4:
        return lowered
    if lowered in S3_KEYS or (lowered.startswith(S3_KEY_PREFIXES)
                              and len(lowered) > lowered.index("/") + 1):
        return lowered
    raise malformed("Policy has an invalid condition key")


def glob_body(pattern: str) -> str:
    """IAM's wildcards as a regular expression: `*` any run, `?` one character."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _glob(pattern: str) -> re.Pattern:
    return re.compile(glob_body(pattern) + r"\Z", re.S)


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise malformed("Invalid Condition value: a number is expected")


def _date(text: str) -> float:
    """An ISO 8601 date or time, or epoch seconds."""
    text = str(text)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise malformed("Invalid Condition value: a date is expected")
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _network(text: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise malformed("Invalid Condition value: an IP address or CIDR block is expected")


def _address(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# operator family -> (prepare a policy value, does a request value match it)
def _string(ignore_case: bool):
    if ignore_case:
        return lambda v: v.lower(), lambda got, want: got.lower() == want
    return lambda v: v, lambda got, want: got == want


_NUMERIC = {"Equals": lambda a, b: a == b, "NotEquals": lambda a, b: a == b,
            "LessThan": lambda a, b: a < b, "LessThanEquals": lambda a, b: a <= b,
            "GreaterThan": lambda a, b: a > b, "GreaterThanEquals": lambda a, b: a >= b}


def _compare(convert, test):
    def match(got, want):
        try:
            return test(convert(got), want)
        except errors.MalformedPolicy:  # a request value that is no number/date
            return False
    return convert, match


def _family(name: str):
    """(prepare, match, negated) for an operator name without prefixes or IfExists."""
    strings = {"StringEquals": (False, False), "StringNotEquals": (False, True),
               "StringEqualsIgnoreCase": (True, False),
               "StringNotEqualsIgnoreCase": (True, True)}
    if name in strings:
        ignore_case, negated = strings[name]
        return (*_string(ignore_case), negated)
    if name in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals",
                "ArnNotEquals"):
        return _glob, lambda got, want: want.match(got) is not None, "Not" in name
    for kind, convert in (("Numeric", _number), ("Date", _date)):
        if name.startswith(kind) and name[len(kind):] in _NUMERIC:
            op = name[len(kind):]
            return (*_compare(convert, _NUMERIC[op]), op == "NotEquals")
    if name == "Bool":
        return lambda v: str(v).lower(), lambda got, want: got.lower() == want, False
    if name == "BinaryEquals":
        return lambda v: v, lambda got, want: got == want, False
    if name in ("IpAddress", "NotIpAddress"):
        def match(got, want):
            address = _address(got)
            return address is not None and address.version == want.version and address in want
        return _network, match, name == "NotIpAddress"
    return None


@dataclass(frozen=True)
class Test:
    operator: str          # as written, for GetBucketPolicyStatus's public check
    key: str               # lower-cased
    values: tuple          # as written
    prepared: tuple
    match: Callable
    negated: bool
    if_exists: bool
    quantifier: str        # "", "ForAnyValue" or "ForAllValues"
    null: bool = False     # the Null operator: values say whether the key is absent

    def holds(self, lookup: Lookup) -> bool:
        got = lookup(self.key)
        if self.null:
            absent = not got
            return any(absent == (str(v).lower() == "true") for v in self.values)
        if not got:
            if self.quantifier == "ForAllValues":
                return True
            return self.if_exists or (self.negated and self.quantifier != "ForAnyValue")
        hits = [any(self.match(value, want) for want in self.prepared) for value in got]
        if self.quantifier == "ForAllValues":
            return all(hit != self.negated for hit in hits)
        if self.quantifier == "ForAnyValue":
            return any(hit != self.negated for hit in hits)
        return any(hits) != self.negated


def parse(block) -> tuple[Test, ...]:
    if not isinstance(block, dict):
        raise malformed("Condition must be an object")
    tests = []
    for operator, keys in block.items():
        quantifier, _, name = operator.rpartition(":")
        if quantifier not in ("", "ForAnyValue", "ForAllValues"):
            raise malformed(f"Invalid Condition type : {operator}")
        if_exists = name.endswith("IfExists") and name != "IfExists"
        base = name[:-len("IfExists")] if if_exists else name
        if not isinstance(keys, dict) or not keys:
            raise malformed(f"Invalid Condition type : {operator}")
        for key, values in keys.items():
            key = check_key(key)
            values = tuple(values) if isinstance(values, list) else (values,)
            if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise malformed("Invalid Condition value")
            values = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            if base == "Null" and not if_exists:
                tests.append(Test(operator, key, values, (), None, False, False, quantifier,
                                  null=True))
                continue
            family = _family(base)
            if family is None:
                raise malformed(f"Invalid Condition type : {operator}")
            prepare, match, negated = family
            tests.append(Test(operator, key, values, tuple(prepare(v) for v in values), match,
                              negated, if_exists, quantifier))
    return tuple(tests)


# Keys that, fixed to given values, make a statement with Principal "*" non-public
# (AWS's "The meaning of public").
FIXING_KEYS = {k.lower() for k in (
    "aws:SourceIp", "aws:SourceArn", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceAccount",
    "aws:SourceOwner", "aws:PrincipalAccount", "aws:PrincipalOrgID", "aws:PrincipalArn",
    "aws:userid", "aws:username", "s3:DataAccessPointArn", "s3:DataAccessPointAccount",
    "s3:ResourceAccount", "aws:SourceOrgID")}


def fixes_principal(test: Test) -> bool:
    """Whether this test pins the caller to given IPs, accounts, networks or ARNs."""
    if test.key not in FIXING_KEYS or test.negated or test.if_exists or test.null \
            or test.quantifier == "ForAllValues":
        return False
    name = test.operator.split(":")[-1]
    if name == "IpAddress":  # 0.0.0.0/1 is not a fixed set of callers; /8 and narrower are
        return all(_network(v).prefixlen >= (8 if _network(v).version == 4 else 32)
                   for v in test.values)
    if "Like" in name or name.startswith("Arn"):
        return not any(c in v for v in test.values for c in "*?")
    return name.startswith("StringEquals")
