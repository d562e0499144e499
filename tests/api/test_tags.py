import pytest
from botocore.exceptions import ClientError


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_delete_tags(ec2):
    kp = ec2.create_key_pair(KeyName="tagged")["KeyPairId"]
    ec2.create_tags(Resources=[kp], Tags=[{"Key": "env", "Value": "dev"},
                                          {"Key": "owner", "Value": "ann"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kp]}])["Tags"]
    assert {(t["Key"], t["Value"], t["ResourceType"]) for t in tags} == {
        ("env", "dev", "key-pair"), ("owner", "ann", "key-pair")}
    ec2.create_tags(Resources=[kp], Tags=[{"Key": "env", "Value": "prod"}])  # overwrite
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kp]},
                                      {"Name": "key", "Values": ["env"]}])["Tags"][0]["Value"] == "prod"
    ec2.delete_tags(Resources=[kp], Tags=[{"Key": "env", "Value": "dev"}])  # wrong value: kept
    assert len(ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kp]}])["Tags"]) == 2
    ec2.delete_tags(Resources=[kp], Tags=[{"Key": "env"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kp]}])["Tags"]
    assert [t["Key"] for t in tags] == ["owner"]


def test_tag_unknown_and_malformed_ids(ec2):
    with pytest.raises(ClientError) as e:
        ec2.create_tags(Resources=["key-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(e) == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.create_tags(Resources=["banana"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(e) == "InvalidID"


def test_reserved_and_oversized_tags(ec2):
    kp = ec2.create_key_pair(KeyName="tag-limits")["KeyPairId"]
    for tag in ({"Key": "aws:x", "Value": "v"}, {"Key": "k" * 129, "Value": "v"},
                {"Key": "k", "Value": "v" * 257}):
        with pytest.raises(ClientError) as e:
            ec2.create_tags(Resources=[kp], Tags=[tag])
        assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.create_tags(Resources=[kp], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert code(e) == "ResourceLimitExceeded"
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kp]}])["Tags"] == []


def test_describe_tags_pages(ec2):
    kp = ec2.create_key_pair(KeyName="tag-pages")["KeyPairId"]
    ec2.create_tags(Resources=[kp], Tags=[{"Key": f"p{i:02d}", "Value": "v"} for i in range(12)])
    seen, token = [], None
    flt = [{"Name": "resource-id", "Values": [kp]}]
    for _ in range(10):
        kwargs = {"Filters": flt, "MaxResults": 5}
        if token:
            kwargs["NextToken"] = token
        page = ec2.describe_tags(**kwargs)
        seen += [t["Key"] for t in page["Tags"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [f"p{i:02d}" for i in range(12)]


def test_deleting_a_key_pair_drops_its_tags(ec2):
    kp = ec2.create_key_pair(KeyName="tag-gone")["KeyPairId"]
    ec2.create_tags(Resources=[kp], Tags=[{"Key": "a", "Value": "b"}])
    ec2.delete_key_pair(KeyPairId=kp)
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kp]}])["Tags"] == []
