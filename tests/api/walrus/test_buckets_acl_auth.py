"""Buckets, ACLs across accounts and anonymous users, and authentication failures."""
import time
import urllib.request
from urllib.error import HTTPError

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.walrus.helpers import ALICE, BOB, client_for, code, status

NOT_CONFIGURED = {
    "get_bucket_policy": "NoSuchBucketPolicy",
    "get_bucket_tagging": "NoSuchTagSet",
    "get_bucket_encryption": "ServerSideEncryptionConfigurationNotFoundError",
    "get_public_access_block": "NoSuchPublicAccessBlockConfiguration",
    "get_bucket_ownership_controls": "OwnershipControlsNotFoundError",
    "get_object_lock_configuration": "ObjectLockConfigurationNotFoundError",
    "get_bucket_cors": "NoSuchCORSConfiguration",
    "get_bucket_lifecycle_configuration": "NoSuchLifecycleConfiguration",
    "get_bucket_website": "NoSuchWebsiteConfiguration",
}


def test_bucket_lifecycle(s3, s3_bob):
    s3.create_bucket(Bucket="life-cycle-b1",
                     CreateBucketConfiguration={"LocationConstraint": "mallee"})
    assert "life-cycle-b1" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "life-cycle-b1" not in [b["Name"] for b in s3_bob.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket="life-cycle-b1")["LocationConstraint"] == "mallee"
    s3.head_bucket(Bucket="life-cycle-b1")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="life-cycle-b1")
    assert code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3_bob.create_bucket(Bucket="life-cycle-b1")
    assert code(e) == "BucketAlreadyExists"
    s3.put_object(Bucket="life-cycle-b1", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="life-cycle-b1")
    assert code(e) == "BucketNotEmpty"
    with pytest.raises(ClientError) as e:
        s3_bob.delete_bucket(Bucket="life-cycle-b1")
    assert code(e) == "AccessDenied"
    s3.delete_object(Bucket="life-cycle-b1", Key="k")
    s3.delete_bucket(Bucket="life-cycle-b1")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="life-cycle-b1")
    assert status(e) == 404


# boto3 itself refuses what the extended rules refuse but an IP address;
# tests/unit/test_walrus_pure.py covers the rest.
@pytest.mark.parametrize("name", ["192.168.1.1"])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert code(e) == "InvalidBucketName"


def test_short_and_mixed_case_names_work_path_style_as_in_eucalyptus(s3):
    # Eucalyptus's default "extended" naming: `aws s3 mb s3://b1` works.
    for name in ("b1", "Data_Set"):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="k", Body=b"v")
        assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
        s3.delete_object(Bucket=name, Key="k")
        s3.delete_bucket(Bucket=name)


def test_not_configured_settings(s3, bucket):
    for call, expected in NOT_CONFIGURED.items():
        with pytest.raises(ClientError) as e:
            getattr(s3, call)(Bucket=bucket)
        assert code(e) == expected, call
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None


def test_private_object_is_private(s3, s3_bob, bucket, server):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"mine")
    with pytest.raises(ClientError) as e:
        s3_bob.get_object(Bucket=bucket, Key="secret")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3_bob.list_objects_v2(Bucket=bucket)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3_bob.put_object(Bucket=bucket, Key="intruder", Body=b"x")
    assert code(e) == "AccessDenied"
    with pytest.raises(HTTPError) as e:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}/secret")
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()


def test_admin_reads_any_bucket(s3, s3_admin, bucket):
    s3.put_object(Bucket=bucket, Key="bundle.part.0", Body=b"image bytes")
    assert s3_admin.get_object(Bucket=bucket, Key="bundle.part.0")["Body"].read() == b"image bytes"


def test_canned_acls(s3, s3_bob, bucket, server):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read")
    with urllib.request.urlopen(f"{server.endpoint}/{bucket}/pub") as resp:
        assert resp.read() == b"public"
    assert s3_bob.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"public"
    s3.put_object(Bucket=bucket, Key="auth", Body=b"members", ACL="authenticated-read")
    assert s3_bob.get_object(Bucket=bucket, Key="auth")["Body"].read() == b"members"
    with pytest.raises(HTTPError) as e:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}/auth")
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()
    acl = s3.get_object_acl(Bucket=bucket, Key="pub")
    assert acl["Owner"]["ID"] == ALICE.account_id
    perms = {(g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"])
             for g in acl["Grants"]}
    assert ("http://acs.amazonaws.com/groups/global/AllUsers", "READ") in perms
    assert (ALICE.account_id, "FULL_CONTROL") in perms
    # Public bucket listing for anonymous users.
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    with urllib.request.urlopen(f"{server.endpoint}/{bucket}") as resp:
        assert b"<Key>pub</Key>" in resp.read()
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    with pytest.raises(HTTPError) as e:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}")
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()


def test_grant_based_acl(s3, s3_bob, bucket):
    s3.put_object(Bucket=bucket, Key="shared", Body=b"for bob")
    with pytest.raises(ClientError) as e:
        s3_bob.get_object(Bucket=bucket, Key="shared")
    assert (code(e), status(e)) == ("AccessDenied", 403)
    s3.put_object_acl(Bucket=bucket, Key="shared", AccessControlPolicy={
        "Owner": {"ID": ALICE.account_id},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": BOB.account_id},
                    "Permission": "READ"}]})
    assert s3_bob.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"for bob"
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{BOB.account_id}"')
    s3_bob.put_object(Bucket=bucket, Key="from-bob", Body=b"hi",
                      ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=bucket, Key="from-bob")["Body"].read() == b"hi"
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {"Grantee": {"Type": "CanonicalUser", "ID": BOB.account_id, "DisplayName": "bob"},
            "Permission": "WRITE"} in grants


def test_wrong_secret_and_unknown_key(server, bucket):
    wrong = boto3.client("s3", endpoint_url=server.endpoint, region_name="any-region-name",
                         aws_access_key_id=ALICE.access_key_id, aws_secret_access_key="wrong",
                         config=Config(s3={"addressing_style": "path"}))
    with pytest.raises(ClientError) as e:
        wrong.list_objects_v2(Bucket=bucket)
    assert code(e) == "SignatureDoesNotMatch" and status(e) == 403
    unknown = boto3.client("s3", endpoint_url=server.endpoint, region_name="mallee",
                           aws_access_key_id="AKIANOBODY0000000000", aws_secret_access_key="x",
                           config=Config(s3={"addressing_style": "path"}))
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert code(e) == "InvalidAccessKeyId"


def test_skewed_clock(server, bucket, monkeypatch):
    import botocore.auth
    real = botocore.auth.datetime.datetime

    class Skewed(real):
        @classmethod
        def utcnow(cls):
            return real.utcnow().replace(year=real.utcnow().year - 1)

        @classmethod
        def now(cls, tz=None):
            return real.now(tz).replace(year=real.now(tz).year - 1)
    monkeypatch.setattr(botocore.auth.datetime, "datetime", Skewed)
    s3 = client_for(server, ALICE)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket)
    assert code(e) == "RequestTimeTooSkewed"


def test_presigned_urls(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"},
                                    ExpiresIn=60)
    assert requests.get(url).content == b"presigned body"
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"},
                                      ExpiresIn=1)
    time.sleep(2.1)
    resp = requests.get(short)
    assert resp.status_code == 403 and b"<Code>AccessDenied</Code>" in resp.content
    assert b"expired" in resp.content
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                        ExpiresIn=60)
    assert requests.put(put_url, data=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    tampered = url.replace("shared.txt", "up")
    assert requests.get(tampered).status_code == 403


def test_virtual_host_and_prefixes(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="v/h.txt", Body=b"vhost", ACL="public-read")
    resp = requests.get(f"{server.endpoint}/v/h.txt", headers={"Host": f"{bucket}.localhost"})
    assert resp.content == b"vhost"
    for prefix in ("/services/objectstorage", "/services/Walrus"):
        assert requests.get(f"{server.endpoint}{prefix}/{bucket}/v/h.txt").content == b"vhost"
        prefixed = boto3.client("s3", endpoint_url=server.endpoint + prefix, region_name="mallee",
                                aws_access_key_id=ALICE.access_key_id,
                                aws_secret_access_key=ALICE.secret_access_key,
                                config=Config(s3={"addressing_style": "path"}))
        assert prefixed.get_object(Bucket=bucket, Key="v/h.txt")["Body"].read() == b"vhost"
    vhost = boto3.client("s3", endpoint_url=f"http://localhost:{server.port}",
                         region_name="mallee", aws_access_key_id=ALICE.access_key_id,
                         aws_secret_access_key=ALICE.secret_access_key,
                         config=Config(s3={"addressing_style": "virtual"}))
    # Resolve bucket.localhost to loopback ourselves: not every resolver does.
    def pin_host(request, **kwargs):
        request.headers["Host"] = request.url.split("/")[2]
        request.url = request.url.replace(f"{bucket}.localhost", "127.0.0.1")
    vhost.meta.events.register_first("before-sign.s3", lambda **kw: None)
    vhost.meta.events.register("before-send.s3", pin_host)
    # Host was signed as bucket.localhost:port and is sent unchanged.
    assert vhost.get_object(Bucket=bucket, Key="v/h.txt")["Body"].read() == b"vhost"


def test_healthz(server):
    resp = requests.get(f"{server.endpoint}/healthz")
    assert resp.status_code == 200 and resp.text == "ok"
