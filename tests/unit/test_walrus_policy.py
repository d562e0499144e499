"""Bucket policy evaluation without a server (walrus/policy.py,
walrus/policy_conditions.py): condition semantics for absent keys, IfExists, the
set operators, explicit Deny, public-ness, and that odd documents are
MalformedPolicy, never another error."""
from __future__ import annotations

import json
import random

import pytest

from walrus import errors, policy
from walrus.acl import ANONYMOUS, Principal
from walrus.policy_conditions import parse as parse_conditions

ALICE = Principal("111111111111", "alice", "admin", "AK1")
CAROL = Principal("111111111111", "alice", "carol", "AK3")
BOB = Principal("222222222222", "bob", "admin", "AK2")


def compile_(*statements, bucket="b") -> policy.Policy:
    text = policy.text_of(json.dumps({"Version": "2012-10-17",
                                      "Statement": list(statements)}).encode())
    return policy.check(text, bucket, {ALICE.account_id, BOB.account_id})


def holds(block: dict, values: dict) -> bool:
    return all(t.holds(lambda k: values.get(k)) for t in parse_conditions(block))


@pytest.mark.parametrize("block,values,expected", [
    ({"StringEquals": {"aws:username": "x"}}, {}, False),
    ({"StringNotEquals": {"aws:username": "x"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:username": "x"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:username": "x"}}, {"aws:username": ["y"]}, False),
    ({"StringEquals": {"aws:username": ["x", "y"]}}, {"aws:username": ["y"]}, True),
    ({"StringNotEquals": {"aws:username": ["x", "y"]}}, {"aws:username": ["y"]}, False),
    ({"StringLike": {"s3:prefix": "home/*/docs"}}, {"s3:prefix": ["home/a/b/docs"]}, True),
    ({"StringLike": {"s3:prefix": "home/?"}}, {"s3:prefix": ["home/ab"]}, False),
    ({"StringEqualsIgnoreCase": {"aws:referer": "A"}}, {"aws:referer": ["a"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["a", "c"]},
     False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:tagkeys": ["c", "a"]}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
    ({"Null": {"aws:username": "true"}}, {}, True),
    ({"Null": {"aws:username": "false"}}, {"aws:username": ["u"]}, True),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["9"]}, True),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["ten"]}, False),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, False),
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}},
     {"aws:currenttime": ["2026-01-01T00:00:00Z"]}, True),
    ({"IpAddress": {"aws:SourceIp": "192.168.0.0/16"}}, {"aws:sourceip": ["192.168.4.5"]},
     True),
    ({"NotIpAddress": {"aws:SourceIp": "192.168.0.0/16"}}, {"aws:sourceip": ["10.0.0.1"]},
     True),
    ({"IpAddress": {"aws:SourceIp": "192.168.0.0/16"}}, {"aws:sourceip": ["::1"]}, False),
    ({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": ["false"]}, True),
    ({"StringEquals": {"aws:username": "x"}, "Bool": {"aws:SecureTransport": "true"}},
     {"aws:username": ["x"], "aws:securetransport": ["false"]}, False),
])
def test_condition_semantics(block, values, expected):
    assert holds(block, values) is expected


def test_deny_wins_and_principals():
    p = compile_(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111111111111:user/carol"},
         "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/secret/*"})
    look = lambda key: None  # noqa: E731
    assert p.decide(CAROL, "s3:GetObject", "arn:aws:s3:::b/secret/x", look) == "Deny"
    assert p.decide(ALICE, "s3:GetObject", "arn:aws:s3:::b/secret/x", look) == "Allow"
    assert p.decide(ANONYMOUS, "s3:getobject", "arn:aws:s3:::b/x", look) == "Allow"
    assert p.decide(BOB, "s3:ListBucket", "arn:aws:s3:::b", look) is None
    assert p.public


def test_caller_arns():
    assert policy.caller_arn(ALICE) == "arn:aws:iam::111111111111:root"
    assert policy.caller_arn(CAROL) == "arn:aws:iam::111111111111:user/carol"
    assert policy.caller_arn(ANONYMOUS) is None


def test_random_documents_are_malformed_policy_or_accepted():
    """Whatever the shapes, the checker answers MalformedPolicy or accepts: no 500."""
    values = [None, 1, True, "", "*", "s3:*", "x", [], [1], ["*"], {}, {"AWS": "*"},
              {"AWS": []}, {"AWS": [1]}, {"StringEquals": {}},
              {"StringEquals": {"aws:username": [[1]]}}, {"Foo:StringEquals": {"aws:x": "1"}},
              {"IfExists": {"aws:x": "1"}}, {"DateLessThan": {"aws:CurrentTime": "never"}},
              "arn:aws:s3:::b", "arn:aws:s3:::b/*", "arn:aws:s3:::*", ["s3:GetObject", 3]]
    fields = ["Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
              "NotResource", "Condition", "Sid"]
    rng = random.Random(13)
    for _ in range(3000):
        statement = {f: rng.choice(values + (["Allow", "Deny"] if f == "Effect" else []))
                     for f in rng.sample(fields, rng.randint(0, len(fields)))}
        doc = {"Version": "2012-10-17",
               "Statement": rng.choice([[statement], statement, "x", [statement, 1]])}
        try:
            compiled = policy.check(policy.text_of(json.dumps(doc).encode()), "b")
        except errors.MalformedPolicy:
            continue
        compiled.decide(ALICE, "s3:GetObject", "arn:aws:s3:::b/k", lambda k: ["1"])
        assert compiled.public in (True, False)
