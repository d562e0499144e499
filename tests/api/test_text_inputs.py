"""Text inputs are checked on the way in, as EC2 checks them (issue 11, defects 11
and 22): a NUL in a group description or U+000B in a tag value used to be stored,
after which that account's Describe calls no longer parsed in any SDK."""
import pytest
from botocore.exceptions import ClientError

from tests.api.test_images import private_image

SG_CHARSET = "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"


def refused(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e.value.response["Error"]


def test_a_group_description_with_a_nul_is_refused(alice_ec2):
    error = refused(alice_ec2.create_security_group, GroupName="nul-desc",
                    Description="web\x00servers")
    assert error["Code"] == "InvalidParameterValue"
    groups = alice_ec2.describe_security_groups()["SecurityGroups"]
    assert "nul-desc" not in {g["GroupName"] for g in groups}


@pytest.mark.parametrize("description", ["it's mine", "tab\there", "line\nbreak", "a<b", "~"])
def test_group_descriptions_take_ec2s_character_set(alice_ec2, description):
    error = refused(alice_ec2.create_security_group, GroupName="odd-desc",
                    Description=description)
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == ("Invalid security group description. Valid descriptions are "
                                f"strings less than 256 characters from the following set:  "
                                f"{SG_CHARSET}")


def test_a_non_ascii_group_description_is_refused_as_ec2_words_it(alice_ec2):
    error = refused(alice_ec2.create_security_group, GroupName="jp",
                    Description="セキュリティグループ")
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == ("Value (セキュリティグループ) for parameter GroupDescription "
                                "is invalid. Character sets beyond ASCII are not supported.")


def test_group_names_take_ec2s_character_set(alice_ec2):
    error = refused(alice_ec2.create_security_group, GroupName="bob's", Description="d")
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"].startswith("Invalid security group name.")


def test_every_allowed_character_is_taken(alice_ec2):
    text = "Az09. _-:/()#,@[]+=&;{}!$*"
    made = alice_ec2.create_security_group(GroupName="all-chars " + text, Description=text)
    groups = alice_ec2.describe_security_groups(GroupIds=[made["GroupId"]])["SecurityGroups"]
    assert groups[0]["Description"] == text
    alice_ec2.delete_security_group(GroupId=made["GroupId"])


def test_a_rule_description_takes_ec2s_character_set(alice_ec2):
    group = alice_ec2.create_security_group(GroupName="rule-desc", Description="d")["GroupId"]
    for description in ("ssh\x00", "bob's ssh"):
        error = refused(alice_ec2.authorize_security_group_ingress, GroupId=group,
                        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                        "IpRanges": [{"CidrIp": "10.0.0.0/8",
                                                      "Description": description}]}])
        assert error["Code"] == "InvalidParameterValue"
    assert error["Message"].startswith("Invalid rule description.")
    alice_ec2.describe_security_groups(GroupIds=[group])
    alice_ec2.delete_security_group(GroupId=group)


@pytest.mark.parametrize("value", ["a\x0bb", "a\uffffb", "a\ufffeb", "\x1b[31m"])
def test_tag_values_that_xml_cannot_carry_are_refused(alice_ec2, value):
    group = alice_ec2.create_security_group(GroupName="tagged", Description="d")["GroupId"]
    try:
        error = refused(alice_ec2.create_tags, Resources=[group],
                        Tags=[{"Key": "k", "Value": value}])
        assert error["Code"] == "InvalidParameterValue"
        error = refused(alice_ec2.create_tags, Resources=[group],
                        Tags=[{"Key": f"k{value}", "Value": "v"}])
        assert error["Code"] == "InvalidParameterValue"
        assert alice_ec2.describe_tags(Filters=[{"Name": "resource-id",
                                                 "Values": [group]}])["Tags"] == []
        alice_ec2.describe_security_groups()
    finally:
        alice_ec2.delete_security_group(GroupId=group)


def test_unicode_tags_are_still_taken(alice_ec2):
    """EC2 allows any character a tag can hold: letters of any script, symbols, tabs."""
    group = alice_ec2.create_security_group(GroupName="unicode-tags", Description="d")["GroupId"]
    tags = [{"Key": "Name", "Value": "web #1 (ops) — 日本語 😀"}, {"Key": "note", "Value": "a\tb"}]
    alice_ec2.create_tags(Resources=[group], Tags=tags)
    got = alice_ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [group]}])["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in got) == sorted((t["Key"], t["Value"])
                                                                  for t in tags)
    alice_ec2.delete_security_group(GroupId=group)


def test_image_descriptions_with_control_characters_are_refused(cloud, ec2, tmp_path):
    image_id = private_image(cloud, ec2, cloud.client("s3"), tmp_path, "desc-ctl")
    try:
        error = refused(ec2.register_image, Name="desc-ctl-2", Description="boot\x07able",
                        ImageLocation="private-bundles/desc-ctl.manifest.xml")
        assert error["Code"] == "InvalidParameterValue"
        error = refused(ec2.modify_image_attribute, ImageId=image_id,
                        Description={"Value": "now\x00broken"})
        assert error["Code"] == "InvalidParameterValue"
        error = refused(ec2.modify_image_attribute, ImageId=image_id, Attribute="description",
                        Value="x" * 256)
        assert error["Code"] == "InvalidParameterValue"
        ec2.modify_image_attribute(ImageId=image_id, Description={"Value": "fine: ok (v2)"})
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
        assert images[0]["Description"] == "fine: ok (v2)"
        assert ec2.describe_images()["Images"]
    finally:
        ec2.deregister_image(ImageId=image_id)


def test_key_names_are_printable_ascii(alice_ec2):
    for name in ("key\n", "key\x00", "kéy"):
        error = refused(alice_ec2.create_key_pair, KeyName=name)
        assert error["Code"] == "InvalidParameterValue", name
    alice_ec2.describe_key_pairs()
