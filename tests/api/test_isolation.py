"""One account can neither see nor touch another's resources."""
import pytest
from botocore.exceptions import ClientError


def test_accounts_do_not_see_each_others_key_pairs(ec2, alice_ec2):
    mine = ec2.create_key_pair(KeyName="shared-name")
    theirs = alice_ec2.create_key_pair(KeyName="shared-name")  # same name, other account: fine
    assert mine["KeyPairId"] != theirs["KeyPairId"]
    alice_ids = {k["KeyPairId"] for k in alice_ec2.describe_key_pairs()["KeyPairs"]}
    assert mine["KeyPairId"] not in alice_ids
    with pytest.raises(ClientError) as e:
        alice_ec2.describe_key_pairs(KeyPairIds=[mine["KeyPairId"]])
    assert e.value.response["Error"]["Code"] == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as e:
        alice_ec2.delete_key_pair(KeyPairId=mine["KeyPairId"])
    assert e.value.response["Error"]["Code"] == "InvalidKeyPair.NotFound"
    assert ec2.describe_key_pairs(KeyPairIds=[mine["KeyPairId"]])["KeyPairs"]


def test_accounts_cannot_tag_each_others_resources(ec2, alice_ec2):
    mine = ec2.create_key_pair(KeyName="iso-tag")["KeyPairId"]
    with pytest.raises(ClientError) as e:
        alice_ec2.create_tags(Resources=[mine], Tags=[{"Key": "x", "Value": "y"}])
    assert e.value.response["Error"]["Code"] == "InvalidKeyPair.NotFound"
    ec2.create_tags(Resources=[mine], Tags=[{"Key": "secret", "Value": "s"}])
    assert not [t for t in alice_ec2.describe_tags()["Tags"] if t["ResourceId"] == mine]


def test_verbose_capacity_is_for_the_admin_only(ec2, alice_ec2):
    admin_view = ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
    user_view = alice_ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
    assert any(z["ZoneName"] == "|- m1.small" for z in admin_view)
    assert not any(z["ZoneName"].startswith("|-") for z in user_view)
