"""PublicAccessBlock and BucketOwnershipControls (issue 13 item 3), enforced: public
ACLs refused or ignored, public policies refused or restricted to the owner's
account, ACLs disabled by BucketOwnerEnforced (objects owned by the bucket owner)."""
from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, code, signed, status

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def failure(call, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return status(e), code(e)


def block(s3, bucket, **flags):
    config = {k: flags.get(k, False) for k in ("BlockPublicAcls", "IgnorePublicAcls",
                                               "BlockPublicPolicy", "RestrictPublicBuckets")}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)


def public_policy(bucket, principal="*", action="s3:GetObject") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": principal, "Action": action,
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def anonymous(server, bucket, key) -> int:
    return requests.get(f"{server.endpoint}/{bucket}/{key}").status_code


# --- PublicAccessBlock -------------------------------------------------------------

def test_public_access_block_document(s3, bucket, aws):
    assert failure(s3.get_public_access_block, Bucket=bucket) == \
        (404, "NoSuchPublicAccessBlockConfiguration")
    block(s3, bucket, BlockPublicAcls=True, RestrictPublicBuckets=True)
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": True, "IgnorePublicAcls": False,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    shown = json.loads(aws("s3api", "get-public-access-block", "--bucket", bucket).stdout)
    assert shown["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    aws("s3api", "put-public-access-block", "--bucket", bucket,
        "--public-access-block-configuration", "IgnorePublicAcls=true")
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got["IgnorePublicAcls"] is True and got["BlockPublicAcls"] is False
    deleted = s3.delete_public_access_block(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert failure(s3.get_public_access_block, Bucket=bucket) == \
        (404, "NoSuchPublicAccessBlockConfiguration")


@pytest.mark.parametrize("body", [
    b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls>"
    b"</PublicAccessBlockConfiguration>",
    b"<PublicAccessBlockConfiguration><Frob>true</Frob></PublicAccessBlockConfiguration>",
    b"<Other/>", b"<<",
])
def test_malformed_public_access_block(server, s3, bucket, body):
    import base64
    import hashlib
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = signed(server, ALICE, "PUT", f"/{bucket}?publicAccessBlock", body,
               {"Content-MD5": md5})
    assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, r.text


def test_block_public_acls_refuses_public_acls(s3, bucket):
    block(s3, bucket, BlockPublicAcls=True)
    for acl in ("public-read", "public-read-write", "authenticated-read"):
        assert failure(s3.put_object, Bucket=bucket, Key="k", Body=b"x", ACL=acl) == \
            (403, "AccessDenied")
        assert failure(s3.put_bucket_acl, Bucket=bucket, ACL=acl) == (403, "AccessDenied")
        assert failure(s3.create_multipart_upload, Bucket=bucket, Key="m", ACL=acl) == \
            (403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    assert failure(s3.put_object_acl, Bucket=bucket, Key="k",
                   GrantRead=f'uri="{AUTHENTICATED}"') == (403, "AccessDenied")
    assert failure(s3.copy_object, Bucket=bucket, Key="c", ACL="public-read",
                   CopySource={"Bucket": bucket, "Key": "k"}) == (403, "AccessDenied")
    s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{BOB.account_id}"')
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1  # nothing public was written


def test_ignore_public_acls_ignores_them(server, s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"p", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="auth", Body=b"a", ACL="authenticated-read")
    s3.put_object(Bucket=bucket, Key="bob", Body=b"b", GrantRead=f'id="{BOB.account_id}"')
    assert anonymous(server, bucket, "pub") == 200
    block(s3, bucket, IgnorePublicAcls=True)
    assert anonymous(server, bucket, "pub") == 403
    assert failure(s3_bob.get_object, Bucket=bucket, Key="auth") == (403, "AccessDenied")
    assert s3_bob.get_object(Bucket=bucket, Key="bob")["Body"].read() == b"b"  # not public
    # Ignored, not refused: a public ACL can still be written.
    s3.put_object(Bucket=bucket, Key="pub2", Body=b"p", ACL="public-read")
    assert anonymous(server, bucket, "pub2") == 403
    s3.delete_public_access_block(Bucket=bucket)
    assert anonymous(server, bucket, "pub") == 200


def test_block_public_policy_refuses_public_policies(s3, bucket):
    block(s3, bucket, BlockPublicPolicy=True)
    assert failure(s3.put_bucket_policy, Bucket=bucket, Policy=public_policy(bucket)) == \
        (403, "AccessDenied")
    assert failure(s3.put_bucket_policy, Bucket=bucket,
                   Policy=public_policy(bucket, {"AWS": "*"})) == (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket, {"AWS": BOB.account_id}))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False


def test_restrict_public_buckets(server, s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))
    assert anonymous(server, bucket, "k") == 200
    assert s3_bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    block(s3, bucket, RestrictPublicBuckets=True)
    assert anonymous(server, bucket, "k") == 403
    assert failure(s3_bob.get_object, Bucket=bucket, Key="k") == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    # A policy that is not public still grants across accounts.
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket, {"AWS": BOB.account_id}))
    assert s3_bob.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_only_the_owner_changes_the_public_access_block(s3, s3_bob, bucket):
    assert failure(s3_bob.put_public_access_block, Bucket=bucket,
                   PublicAccessBlockConfiguration={"BlockPublicAcls": False}) == \
        (403, "AccessDenied")
    assert failure(s3_bob.get_public_access_block, Bucket=bucket) == (403, "AccessDenied")
    assert failure(s3_bob.delete_public_access_block, Bucket=bucket) == (403, "AccessDenied")


# --- BucketOwnershipControls -------------------------------------------------------

def ownership(s3, bucket, value):
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": value}]})


def test_ownership_controls_document(server, s3, bucket):
    assert failure(s3.get_bucket_ownership_controls, Bucket=bucket) == \
        (404, "OwnershipControlsNotFoundError")
    for value in ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"):
        ownership(s3, bucket, value)
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": value}]
    for body in (b"<OwnershipControls><Rule><ObjectOwnership>Nobody</ObjectOwnership></Rule>"
                 b"</OwnershipControls>", b"<OwnershipControls/>"):
        import base64
        import hashlib
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        r = signed(server, ALICE, "PUT", f"/{bucket}?ownershipControls", body,
                   {"Content-MD5": md5})
        assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, r.text
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert failure(s3.get_bucket_ownership_controls, Bucket=bucket) == \
        (404, "OwnershipControlsNotFoundError")


def test_bucket_owner_enforced_disables_acls(server, s3, s3_bob, bucket):
    ownership(s3, bucket, "BucketOwnerEnforced")
    assert failure(s3.put_object, Bucket=bucket, Key="k", Body=b"x", ACL="public-read") == \
        (400, "AccessControlListNotSupported")
    assert failure(s3.put_object, Bucket=bucket, Key="k", Body=b"x",
                   GrantRead=f'id="{BOB.account_id}"') == (400, "AccessControlListNotSupported")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert failure(s3.put_bucket_acl, Bucket=bucket, ACL="public-read") == \
        (400, "AccessControlListNotSupported")
    assert failure(s3.put_object_acl, Bucket=bucket, Key="k", ACL="public-read") == \
        (400, "AccessControlListNotSupported")
    assert s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == ALICE.account_id  # reads work
    assert anonymous(server, bucket, "k") == 403


def test_bucket_owner_enforced_objects_belong_to_the_bucket_owner(s3, s3_bob, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(
        bucket, {"AWS": BOB.account_id}, action="s3:PutObject"))
    s3_bob.put_object(Bucket=bucket, Key="before", Body=b"b")  # ObjectWriter: bob's
    assert failure(s3.get_object, Bucket=bucket, Key="before") == (403, "AccessDenied")
    ownership(s3, bucket, "BucketOwnerEnforced")
    # ACLs no longer count: the bucket owner reads what bob wrote before, too.
    assert s3.get_object(Bucket=bucket, Key="before")["Body"].read() == b"b"
    s3_bob.put_object(Bucket=bucket, Key="after", Body=b"a")
    assert s3.get_object_acl(Bucket=bucket, Key="after")["Owner"]["ID"] == ALICE.account_id
    listed = s3.list_objects(Bucket=bucket)["Contents"]
    assert {o["Key"]: o["Owner"]["ID"] for o in listed}["after"] == ALICE.account_id
    assert failure(s3_bob.get_object, Bucket=bucket, Key="after") == (403, "AccessDenied")


def test_bucket_owner_preferred(s3, s3_bob, bucket):
    ownership(s3, bucket, "BucketOwnerPreferred")
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{BOB.account_id}"')
    s3_bob.put_object(Bucket=bucket, Key="given", Body=b"g", ACL="bucket-owner-full-control")
    s3_bob.put_object(Bucket=bucket, Key="kept", Body=b"k")
    assert s3.get_object_acl(Bucket=bucket, Key="given")["Owner"]["ID"] == ALICE.account_id
    assert s3_bob.get_object_acl(Bucket=bucket, Key="kept")["Owner"]["ID"] == BOB.account_id


def test_enforced_refused_while_the_bucket_acl_grants_others(s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert failure(ownership, s3, bucket, "BucketOwnerEnforced") == \
        (400, "InvalidBucketAclWithObjectOwnership")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    ownership(s3, bucket, "BucketOwnerEnforced")


def test_create_bucket_with_object_ownership(server, s3):
    name = "own-enforced-at-create"
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced")
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert failure(s3.put_object, Bucket=name, Key="k", Body=b"x", ACL="public-read") == \
            (400, "AccessControlListNotSupported")
    finally:
        s3.delete_bucket(Bucket=name)
    assert failure(s3.create_bucket, Bucket="own-bad-acl", ACL="public-read",
                   ObjectOwnership="BucketOwnerEnforced") == \
        (400, "InvalidBucketAclWithObjectOwnership")
    r = signed(server, ALICE, "PUT", "/own-bad-value", headers={
        "x-amz-object-ownership": "Nobody"})
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    assert failure(s3.head_bucket, Bucket="own-bad-acl")[0] == 404
    assert failure(s3.head_bucket, Bucket="own-bad-value")[0] == 404
