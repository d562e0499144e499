"""Bucket policies (issue 13 item 3): Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus,
MalformedPolicy's reasons, and the policy evaluated on every request beside the ACLs:
a public prefix readable by an anonymous plain HTTP GET and nothing else, a Deny that
beats the owner's ACL, cross-account grants, conditions."""
from __future__ import annotations

import json
import subprocess
import urllib.request
from urllib.error import HTTPError

import pytest
import requests
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, WalrusServer, awscli, client_for, code, status


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect="Allow", principal="*", action="s3:GetObject", resource=None,
              **extra) -> dict:
    out = {"Effect": effect, "Principal": principal, **extra}
    if action is not None:
        out["Action"] = action
    if resource is not None:
        out["Resource"] = resource
    return out


def anonymous_get(server, path: str) -> int:
    try:
        with urllib.request.urlopen(server.endpoint + path, timeout=10) as r:
            r.read()
            return r.status
    except HTTPError as e:
        return e.code


def failure(call, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return status(e), code(e)


# --- the document ------------------------------------------------------------------

def test_put_get_delete_policy(s3, bucket):
    assert failure(s3.get_bucket_policy, Bucket=bucket) == (404, "NoSuchBucketPolicy")
    assert failure(s3.get_bucket_policy_status, Bucket=bucket) == (404, "NoSuchBucketPolicy")
    text = document(statement(resource=f"arn:aws:s3:::{bucket}/public/*", Sid="Public"))
    put = s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text  # as stored, byte for byte
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    deleted = s3.delete_bucket_policy(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert failure(s3.get_bucket_policy, Bucket=bucket) == (404, "NoSuchBucketPolicy")
    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_awscli_put_and_get_policy(server, bucket, aws, tmp_path):
    text = document(statement(resource=f"arn:aws:s3:::{bucket}/*"))
    (tmp_path / "policy.json").write_text(text)
    aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy",
        f"file://{tmp_path / 'policy.json'}")
    got = json.loads(aws("s3api", "get-bucket-policy", "--bucket", bucket).stdout)
    assert json.loads(got["Policy"]) == json.loads(text)
    shown = json.loads(aws("s3api", "get-bucket-policy-status", "--bucket", bucket).stdout)
    assert shown["PolicyStatus"]["IsPublic"] is True
    aws("s3api", "delete-bucket-policy", "--bucket", bucket)
    done = aws("s3api", "get-bucket-policy", "--bucket", bucket, check=False)
    assert done.returncode != 0 and "NoSuchBucketPolicy" in done.stderr


@pytest.mark.parametrize("conditions,public", [
    ({}, True),
    ({"IpAddress": {"aws:SourceIp": "10.1.2.0/24"}}, False),
    ({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, True),
    ({"StringEquals": {"aws:PrincipalAccount": BOB.account_id}}, False),
    ({"StringLike": {"aws:PrincipalAccount": "2*"}}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, True),
    ({"StringEquals": {"s3:x-amz-acl": "private"}}, True),
])
def test_policy_status_is_public_as_aws_computes_it(s3, bucket, conditions, public):
    extra = {"Condition": conditions} if conditions else {}
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(resource=f"arn:aws:s3:::{bucket}/*", **extra)))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is public


def test_policy_status_of_account_and_deny_policies(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(principal={"AWS": BOB.account_id}, resource=f"arn:aws:s3:::{bucket}/*"),
        statement("Deny", resource=f"arn:aws:s3:::{bucket}/*")))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(principal={"AWS": ["*"]}, resource=f"arn:aws:s3:::{bucket}/*")))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True


MALFORMED = [
    (b"not json", "Policies must be valid JSON and the first byte must be '{'"),
    (b'["a"]', "Policies must be valid JSON and the first byte must be '{'"),
    (b'{"Version": "2012-10-17"}', "Missing required field Statement"),
    (b'{"Version": "2020-01-01", "Statement": []}', "The policy must contain a valid version"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"},
     "Missing required field Principal"),
    ({"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"},
     "Missing required field Effect"),
    ({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*"}, "Invalid effect: Maybe"),
    ({"Effect": "Allow", "Principal": "*", "Resource": "arn:aws:s3:::{b}/*"},
     "Missing required field Action"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"},
     "Missing required field Resource"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjekt",
      "Resource": "arn:aws:s3:::{b}/*"}, "Policy has invalid action"),
    ({"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances",
      "Resource": "arn:aws:s3:::{b}/*"}, "Policy has invalid action"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:Frob*",
      "Resource": "arn:aws:s3:::{b}/*"}, "Policy has invalid action"),
    ({"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*"}, "Invalid principal in policy"),
    ({"Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*"}, "Invalid principal in policy"),
    ({"Effect": "Allow", "Principal": "bob", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*"}, "Invalid principal in policy"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}"}, "Action does not apply to any resource(s) in statement"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
      "Resource": "arn:aws:s3:::{b}/*"}, "Action does not apply to any resource(s) in statement"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::someone-elses-bucket/*"}, "Policy has invalid resource"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:ec2:::{b}/*"}, "Policy has invalid resource"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*", "Condition": {"StringEquals": {"s3:frob": "x"}}},
     "Policy has an invalid condition key"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*", "Condition": {"StringEqualz": {"aws:username": "x"}}},
     "Invalid Condition type : StringEqualz"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*", "Condition": {"IpAddress": {"aws:SourceIp": "nope"}}},
     "Invalid Condition value"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*", "Frob": 1}, "Unknown field Frob"),
]


@pytest.mark.parametrize("body,reason", MALFORMED, ids=lambda v: str(v)[:40])
def test_malformed_policies(server, s3, bucket, body, reason):
    if isinstance(body, dict):
        body = json.dumps({"Version": "2012-10-17", "Statement": [body]}).replace("{b}", bucket)
    else:
        body = body.decode()
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=body)
    assert (status(e), code(e)) == (400, "MalformedPolicy")
    assert reason in e.value.response["Error"]["Message"]
    assert failure(s3.get_bucket_policy, Bucket=bucket) == (404, "NoSuchBucketPolicy")


def test_policy_over_20_kib_is_too_large(s3, bucket):
    statements = [statement(resource=f"arn:aws:s3:::{bucket}/p{i:05}/*", Sid=f"S{i}")
                  for i in range(300)]
    text = document(*statements)
    assert len(text) > 20 * 1024
    assert failure(s3.put_bucket_policy, Bucket=bucket, Policy=text) == (400, "PolicyTooLarge")


def test_only_the_owner_account_manages_the_policy(s3, s3_bob, bucket):
    text = document(statement(principal={"AWS": BOB.account_id},
                              resource=f"arn:aws:s3:::{bucket}/*"))
    assert failure(s3_bob.put_bucket_policy, Bucket=bucket, Policy=text) == (403, "AccessDenied")
    assert failure(s3_bob.get_bucket_policy, Bucket=bucket) == (403, "AccessDenied")
    # A policy that grants bob the policy calls earns him 405, as on AWS.
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": f"arn:aws:iam::{BOB.account_id}:root"},
        action=["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
        resource=f"arn:aws:s3:::{bucket}")))
    assert failure(s3_bob.get_bucket_policy, Bucket=bucket) == (405, "MethodNotAllowed")
    assert failure(s3_bob.delete_bucket_policy, Bucket=bucket) == (405, "MethodNotAllowed")
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"]


# --- evaluation --------------------------------------------------------------------

def test_public_prefix_is_readable_anonymously_and_nothing_else(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public/page.html", Body=b"<h1>hello</h1>")
    s3.put_object(Bucket=bucket, Key="private/secret.txt", Body=b"secret")
    assert anonymous_get(server, f"/{bucket}/public/page.html") == 403  # the control
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(resource=f"arn:aws:s3:::{bucket}/public/*")))
    assert anonymous_get(server, f"/{bucket}/public/page.html") == 200
    with urllib.request.urlopen(f"{server.endpoint}/{bucket}/public/page.html") as r:
        assert r.read() == b"<h1>hello</h1>"
    curl = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}",
                           f"{server.endpoint}/{bucket}/public/page.html"],
                          capture_output=True, text=True, timeout=30)
    assert curl.stdout.splitlines() == ["<h1>hello</h1>", "200"]
    assert requests.head(f"{server.endpoint}/{bucket}/public/page.html").status_code == 200
    assert anonymous_get(server, f"/{bucket}/private/secret.txt") == 403
    assert anonymous_get(server, f"/{bucket}/public/missing.html") == 403  # may not list
    assert anonymous_get(server, f"/{bucket}") == 403
    assert anonymous_get(server, f"/{bucket}?list-type=2&prefix=public/") == 403
    assert anonymous_get(server, f"/{bucket}/public/page.html?acl") == 403
    put = requests.put(f"{server.endpoint}/{bucket}/public/new.html", data=b"vandal")
    assert put.status_code == 403 and "<Code>AccessDenied</Code>" in put.text
    delete = requests.delete(f"{server.endpoint}/{bucket}/public/page.html")
    assert delete.status_code == 403
    assert s3.get_object(Bucket=bucket, Key="public/page.html")["Body"].read() == b"<h1>hello</h1>"
    s3.delete_bucket_policy(Bucket=bucket)
    assert anonymous_get(server, f"/{bucket}/public/page.html") == 403


def test_deny_beats_the_owners_acl(s3, bucket):
    s3.put_object(Bucket=bucket, Key="locked/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="open/b", Body=b"b")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        "Deny", action=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        resource=f"arn:aws:s3:::{bucket}/locked/*")))
    assert failure(s3.get_object, Bucket=bucket, Key="locked/a") == (403, "AccessDenied")
    assert failure(s3.put_object, Bucket=bucket, Key="locked/c", Body=b"c") == \
        (403, "AccessDenied")
    assert failure(s3.delete_object, Bucket=bucket, Key="locked/a") == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="open/b")["Body"].read() == b"b"
    # DeleteObjects asks key by key: the denied one fails alone.
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "locked/a"}, {"Key": "open/b"}]})
    assert [d["Key"] for d in result.get("Deleted", [])] == ["open/b"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("locked/a", "AccessDenied")]
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="locked/a")["Body"].read() == b"a"


def test_owner_root_cannot_lock_itself_out(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement("Deny", action="s3:*", resource=[f"arn:aws:s3:::{bucket}",
                                                   f"arn:aws:s3:::{bucket}/*"])))
    assert failure(s3.list_objects_v2, Bucket=bucket) == (403, "AccessDenied")
    assert failure(s3.put_object, Bucket=bucket, Key="k", Body=b"x") == (403, "AccessDenied")
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"]  # still the owner's to read
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_cross_account_get_object_only(s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="shared/report.csv", Body=b"1,2,3")
    assert failure(s3_bob.get_object, Bucket=bucket, Key="shared/report.csv") == \
        (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": f"arn:aws:iam::{BOB.account_id}:root"},
        resource=f"arn:aws:s3:::{bucket}/*")))
    assert s3_bob.get_object(Bucket=bucket, Key="shared/report.csv")["Body"].read() == b"1,2,3"
    assert s3_bob.head_object(Bucket=bucket, Key="shared/report.csv")["ContentLength"] == 5
    assert failure(s3_bob.list_objects_v2, Bucket=bucket) == (403, "AccessDenied")
    assert failure(s3_bob.put_object, Bucket=bucket, Key="shared/x", Body=b"x") == \
        (403, "AccessDenied")
    assert failure(s3_bob.get_object_acl, Bucket=bucket, Key="shared/report.csv") == \
        (403, "AccessDenied")
    assert failure(s3_bob.get_object, Bucket=bucket, Key="shared/none") == (403, "AccessDenied")
    # The copy source is read under the same policy.
    mine = f"{bucket}-bob"
    s3_bob.create_bucket(Bucket=mine)
    try:
        s3_bob.copy_object(Bucket=mine, Key="copy.csv",
                           CopySource={"Bucket": bucket, "Key": "shared/report.csv"})
        assert s3_bob.get_object(Bucket=mine, Key="copy.csv")["Body"].read() == b"1,2,3"
        s3_bob.delete_object(Bucket=mine, Key="copy.csv")
    finally:
        s3_bob.delete_bucket(Bucket=mine)


@pytest.mark.parametrize("principal,granted", [
    ({"AWS": BOB.account_id}, True),
    ({"AWS": f"arn:aws:iam::{BOB.account_id}:user/{BOB.user_name}"}, True),
    ({"AWS": f"arn:aws:iam::{BOB.account_id}:user/someone-else"}, False),
    ({"AWS": f"arn:aws:iam::{BOB.account_id}:role/reader"}, False),
    ({"CanonicalUser": BOB.account_id}, True),
    ({"AWS": ALICE.account_id}, False),
    ("*", True),
])
def test_principals(s3, s3_bob, bucket, principal, granted):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(principal=principal, resource=f"arn:aws:s3:::{bucket}/*")))
    if granted:
        assert s3_bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    else:
        assert failure(s3_bob.get_object, Bucket=bucket, Key="k") == (403, "AccessDenied")


def test_action_and_resource_wildcards_and_not_forms(s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="docs/b.bin", Body=b"b")
    bob = {"AWS": BOB.account_id}
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(principal=bob, action="s3:Get*", resource=f"arn:aws:s3:::{bucket}/docs/*.txt"),
        statement(principal=bob, action="s3:List*", resource=f"arn:aws:s3:::{bucket}"),
        # everything but reading is denied to bob, wherever
        statement("Deny", principal=bob, action=None, NotAction=["s3:Get*", "s3:List*"],
                  resource=f"arn:aws:s3:::{bucket}/*")))
    assert s3_bob.get_object(Bucket=bucket, Key="docs/a.txt")["Body"].read() == b"a"
    assert s3_bob.get_object_tagging(Bucket=bucket, Key="docs/a.txt")["TagSet"] == []
    assert failure(s3_bob.get_object, Bucket=bucket, Key="docs/b.bin") == (403, "AccessDenied")
    assert [o["Key"] for o in s3_bob.list_objects_v2(Bucket=bucket)["Contents"]] == \
        ["docs/a.txt", "docs/b.bin"]
    assert s3_bob.list_object_versions(Bucket=bucket)["Versions"]
    assert failure(s3_bob.put_object, Bucket=bucket, Key="docs/c.txt", Body=b"c") == \
        (403, "AccessDenied")
    # NotResource: alice herself may write only under docs/
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        "Deny", action="s3:PutObject", NotResource=f"arn:aws:s3:::{bucket}/docs/*")))
    s3.put_object(Bucket=bucket, Key="docs/c.txt", Body=b"c")
    assert failure(s3.put_object, Bucket=bucket, Key="elsewhere", Body=b"x") == \
        (403, "AccessDenied")
    # NotPrincipal: everyone but alice's account is denied reading
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(principal=bob, resource=f"arn:aws:s3:::{bucket}/*"),
        {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.account_id}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert s3.get_object(Bucket=bucket, Key="docs/a.txt")["Body"].read() == b"a"
    assert failure(s3_bob.get_object, Bucket=bucket, Key="docs/a.txt") == (403, "AccessDenied")


def test_version_actions(s3, s3_bob, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": BOB.account_id}, resource=f"arn:aws:s3:::{bucket}/*")))
    assert s3_bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    assert failure(s3_bob.get_object, Bucket=bucket, Key="k", VersionId=first) == \
        (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": BOB.account_id}, action="s3:GetObjectVersion",
        resource=f"arn:aws:s3:::{bucket}/*")))
    assert s3_bob.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"one"


# --- conditions --------------------------------------------------------------------

def _allow_anonymous(s3, bucket, condition, action="s3:GetObject", resource=None):
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        action=action, resource=resource or f"arn:aws:s3:::{bucket}/*", Condition=condition)))


@pytest.mark.parametrize("condition,readable", [
    ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, True),
    ({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.1/32"]}}, True),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, False),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, True),
    ({"IpAddress": {"aws:SourceIp": "::1/128"}}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, True),
    ({"Bool": {"aws:SecureTransport": True}}, False),
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, False),
    ({"NumericGreaterThan": {"aws:EpochTime": "1577836800"}}, True),
    ({"StringLike": {"aws:UserAgent": "*curl*"}}, True),
    ({"StringNotLike": {"aws:UserAgent": "*curl*"}}, False),
    ({"StringEquals": {"aws:Referer": "https://site.example/"}}, False),
    ({"StringEqualsIgnoreCase": {"aws:Referer": "HTTPS://SITE.EXAMPLE/"}}, True),
    ({"StringNotEqualsIfExists": {"aws:username": "mallory"}}, True),
    ({"StringEquals": {"aws:username": "mallory"}}, False),  # anonymous has no user name
    ({"Null": {"aws:username": "true"}}, True),
    ({"Null": {"aws:username": "false"}}, False),
    ({"StringEqualsIfExists": {"aws:username": "mallory"}}, True),
])
def test_conditions_on_an_anonymous_get(server, s3, bucket, condition, readable):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    _allow_anonymous(s3, bucket, condition)
    got = requests.get(f"{server.endpoint}/{bucket}/k", headers={
        "User-Agent": "curl/8.0", "Referer": "https://Site.Example/"})
    assert got.status_code == (200 if readable else 403), (condition, got.text)


def test_secure_transport_deny_refuses_plain_http_even_to_the_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        "Deny", action="s3:*", resource=[f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        Condition={"Bool": {"aws:SecureTransport": "false"}})))
    assert failure(s3.get_object, Bucket=bucket, Key="k") == (403, "AccessDenied")
    assert failure(s3.list_objects_v2, Bucket=bucket) == (403, "AccessDenied")
    s3.delete_bucket_policy(Bucket=bucket)


def test_list_conditions_prefix_delimiter_max_keys(s3, s3_bob, bucket):
    for key in ("home/bob/a", "home/carol/b", "top"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": BOB.account_id}, action="s3:ListBucket",
        resource=f"arn:aws:s3:::{bucket}", Condition={
            "StringLike": {"s3:prefix": ["home/bob/*", "home/bob/"]},
            "NumericLessThanEquals": {"s3:max-keys": "100"}})))
    listed = s3_bob.list_objects_v2(Bucket=bucket, Prefix="home/bob/", MaxKeys=10)
    assert [o["Key"] for o in listed["Contents"]] == ["home/bob/a"]
    assert failure(s3_bob.list_objects_v2, Bucket=bucket, Prefix="home/bob/",
                   MaxKeys=1000) == (403, "AccessDenied")
    assert failure(s3_bob.list_objects_v2, Bucket=bucket, Prefix="home/carol/",
                   MaxKeys=10) == (403, "AccessDenied")
    assert failure(s3_bob.list_objects_v2, Bucket=bucket) == (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": BOB.account_id}, action="s3:ListBucket",
        resource=f"arn:aws:s3:::{bucket}",
        Condition={"StringEquals": {"s3:delimiter": "/"}})))
    assert s3_bob.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"] == \
        [{"Prefix": "home/"}]
    assert failure(s3_bob.list_objects_v2, Bucket=bucket) == (403, "AccessDenied")


def test_cross_account_put_requires_bucket_owner_full_control(s3, s3_bob, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": BOB.account_id}, action="s3:PutObject",
        resource=f"arn:aws:s3:::{bucket}/incoming/*",
        Condition={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}})))
    assert failure(s3_bob.put_object, Bucket=bucket, Key="incoming/a", Body=b"a") == \
        (403, "AccessDenied")
    s3_bob.put_object(Bucket=bucket, Key="incoming/a", Body=b"a",
                      ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=bucket, Key="incoming/a")["Body"].read() == b"a"
    assert failure(s3_bob.put_object, Bucket=bucket, Key="other/a", Body=b"a",
                   ACL="bucket-owner-full-control") == (403, "AccessDenied")


def test_existing_and_request_object_tags(server, s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="class=public")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    _allow_anonymous(s3, bucket, {"StringEquals": {"s3:ExistingObjectTag/class": "public"}})
    assert anonymous_get(server, f"/{bucket}/tagged") == 200
    assert anonymous_get(server, f"/{bucket}/plain") == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        principal={"AWS": BOB.account_id}, action="s3:PutObject",
        resource=f"arn:aws:s3:::{bucket}/*",
        Condition={"StringEquals": {"s3:RequestObjectTag/team": "bob"},
                   "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["team", "cost"]}})))
    s3_bob.put_object(Bucket=bucket, Key="bobs", Body=b"b", Tagging="team=bob")
    assert failure(s3_bob.put_object, Bucket=bucket, Key="bobs2", Body=b"b",
                   Tagging="team=carol") == (403, "AccessDenied")
    assert failure(s3_bob.put_object, Bucket=bucket, Key="bobs3", Body=b"b",
                   Tagging="team=bob&secret=1") == (403, "AccessDenied")


def test_signature_conditions(s3, s3_bob, server, bucket):
    """A Deny of SigV2 and of presigned URLs, as AWS's docs suggest."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(
        statement(principal={"AWS": BOB.account_id}, resource=f"arn:aws:s3:::{bucket}/*"),
        statement("Deny", resource=f"arn:aws:s3:::{bucket}/*",
                  Condition={"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}),
        statement("Deny", resource=f"arn:aws:s3:::{bucket}/*",
                  Condition={"StringEquals": {"s3:authType": "REST-QUERY-STRING"}})))
    assert s3_bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    url = s3_bob.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert requests.get(url).status_code == 403
    import boto3
    from botocore.config import Config
    v2 = boto3.client("s3", endpoint_url=server.endpoint, region_name="mallee",
                      aws_access_key_id=BOB.access_key_id,
                      aws_secret_access_key=BOB.secret_access_key,
                      config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}))
    assert failure(v2.get_object, Bucket=bucket, Key="k") == (403, "AccessDenied")


def test_principal_conditions(s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        resource=f"arn:aws:s3:::{bucket}/*",
        Condition={"StringEquals": {"aws:PrincipalAccount": BOB.account_id,
                                    "aws:username": BOB.user_name}})))
    assert s3_bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.put_bucket_policy(Bucket=bucket, Policy=document(statement(
        resource=f"arn:aws:s3:::{bucket}/*",
        Condition={"ForAnyValue:StringEquals": {"aws:PrincipalAccount": ["333333333333"]}})))
    assert failure(s3_bob.get_object, Bucket=bucket, Key="k") == (403, "AccessDenied")


# --- restart -----------------------------------------------------------------------

def test_policy_public_access_block_and_ownership_survive_a_restart(tmp_path):
    from mallee import pki
    pki.init_pki(tmp_path / "pki")
    first = WalrusServer(tmp_path).start()
    try:
        first.push(1)
        s3 = client_for(first, ALICE)
        s3.create_bucket(Bucket="kept", ObjectOwnership="BucketOwnerEnforced")
        s3.put_object(Bucket="kept", Key="public/k", Body=b"v")
        text = document(statement(resource="arn:aws:s3:::kept/public/*"))
        s3.put_bucket_policy(Bucket="kept", Policy=text)
        s3.put_public_access_block(Bucket="kept", PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False})
        port = first.port
    finally:
        first.stop()
    second = WalrusServer(tmp_path)
    second.port = port
    second.settings = second.settings.replace(walrus={"port": port})
    second.start()
    try:
        second.push(2)
        s3 = client_for(second, ALICE)
        assert s3.get_bucket_policy(Bucket="kept")["Policy"] == text
        block = s3.get_public_access_block(Bucket="kept")["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                         "BlockPublicPolicy": True, "RestrictPublicBuckets": False}
        rules = s3.get_bucket_ownership_controls(Bucket="kept")["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert anonymous_get(second, "/kept/public/k") == 200  # still enforced
        assert failure(s3.put_object, Bucket="kept", Key="x", Body=b"x",
                       ACL="public-read") == (400, "AccessControlListNotSupported")
        other = awscli(second, tmp_path)
        assert "BucketOwnerEnforced" in other("s3api", "get-bucket-ownership-controls",
                                              "--bucket", "kept").stdout
    finally:
        second.stop()
