"""Key pairs through boto3, checked the way a user would check them."""
import base64
import hashlib

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_rsa_key_pair_gives_a_usable_pem_and_aws_fingerprint(ec2):
    made = ec2.create_key_pair(KeyName="kp-rsa")
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = serialization.load_pem_private_key(made["KeyMaterial"].encode(), None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    assert made["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())
    assert made["KeyPairId"].startswith("key-")
    listed = ec2.describe_key_pairs(KeyNames=["kp-rsa"])["KeyPairs"]
    assert listed[0]["KeyFingerprint"] == made["KeyFingerprint"]
    assert listed[0]["KeyType"] == "rsa"


def test_create_ed25519_key_pair(ec2):
    made = ec2.create_key_pair(KeyName="kp-ed", KeyType="ed25519")
    key = serialization.load_ssh_private_key(made["KeyMaterial"].encode(), None)
    blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).split()[1]
    expected = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode()
    assert made["KeyFingerprint"] == expected


def test_import_rsa_key_fingerprint_is_md5_of_der(ec2):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    openssh = public.public_bytes(serialization.Encoding.OpenSSH,
                                  serialization.PublicFormat.OpenSSH)
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    made = ec2.import_key_pair(KeyName="kp-import", PublicKeyMaterial=openssh + b" me@host")
    assert made["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())
    shown = ec2.describe_key_pairs(KeyNames=["kp-import"], IncludePublicKey=True)["KeyPairs"][0]
    assert shown["PublicKey"].split()[:2] == openssh.decode().split()[:2]


def test_import_ed25519_key(ec2):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    openssh = public.public_bytes(serialization.Encoding.OpenSSH,
                                  serialization.PublicFormat.OpenSSH)
    made = ec2.import_key_pair(KeyName="kp-import-ed", PublicKeyMaterial=openssh)
    assert ec2.describe_key_pairs(KeyNames=["kp-import-ed"])["KeyPairs"][0]["KeyType"] == "ed25519"
    assert made["KeyFingerprint"].endswith("=")


@pytest.mark.parametrize("material", [b"garbage", b"ssh-rsa AAAAnotbase64!!", b"\x00\x01\x02"])
def test_import_garbage_is_invalid_key_format(ec2, material):
    with pytest.raises(ClientError) as e:
        ec2.import_key_pair(KeyName="kp-garbage", PublicKeyMaterial=material)
    assert code(e) == "InvalidKeyPair.Format"
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name",
                                            "Values": ["kp-garbage"]}])["KeyPairs"] == []


def test_duplicate_name(ec2):
    ec2.create_key_pair(KeyName="kp-dup")
    with pytest.raises(ClientError) as e:
        ec2.create_key_pair(KeyName="kp-dup")
    assert code(e) == "InvalidKeyPair.Duplicate"


def test_describe_missing_name(ec2):
    with pytest.raises(ClientError) as e:
        ec2.describe_key_pairs(KeyNames=["kp-nope"])
    assert code(e) == "InvalidKeyPair.NotFound"


def test_filters_with_wildcards_and_tags(ec2):
    a = ec2.create_key_pair(KeyName="flt-a", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "red"}]}])
    ec2.create_key_pair(KeyName="flt-b")
    names = lambda f: sorted(k["KeyName"] for k in ec2.describe_key_pairs(Filters=f)["KeyPairs"])
    assert names([{"Name": "key-name", "Values": ["flt-*"]}]) == ["flt-a", "flt-b"]
    assert names([{"Name": "tag:team", "Values": ["red"]}]) == ["flt-a"]
    assert names([{"Name": "tag-key", "Values": ["team"]}]) == ["flt-a"]
    assert names([{"Name": "key-pair-id", "Values": [a["KeyPairId"]]}]) == ["flt-a"]
    with pytest.raises(ClientError) as e:
        ec2.describe_key_pairs(Filters=[{"Name": "colour", "Values": ["x"]}])
    assert code(e) == "InvalidParameterValue"


def test_delete_by_name_and_id(ec2):
    made = ec2.create_key_pair(KeyName="kp-del")
    ec2.delete_key_pair(KeyName="kp-del")
    assert not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["kp-del"]}])["KeyPairs"]
    ec2.delete_key_pair(KeyName="kp-del")  # deleting a missing name succeeds, as in EC2
    with pytest.raises(ClientError) as e:
        ec2.delete_key_pair(KeyPairId=made["KeyPairId"])
    assert code(e) == "InvalidKeyPair.NotFound"


def test_bad_key_type(ec2):
    with pytest.raises(ClientError) as e:
        ec2.create_key_pair(KeyName="kp-dsa", KeyType="dsa")
    assert code(e) == "InvalidParameterValue"
