"""The awscli command line, as a user runs it after `source eucarc`."""
import subprocess
import sys


def test_eucarc_is_all_awscli_needs(cloud):
    zones = cloud.aws("ec2", "describe-availability-zones")
    assert zones["AvailabilityZones"][0]["ZoneName"] == "mallee-1a"
    made = cloud.aws("ec2", "create-key-pair", "--key-name", "cli-k1")
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    listed = cloud.aws("ec2", "describe-key-pairs")["KeyPairs"]
    assert "cli-k1" in [k["KeyName"] for k in listed]
    cloud.aws("ec2", "create-tags", "--resources", made["KeyPairId"],
              "--tags", "Key=env,Value=dev")
    tags = cloud.aws("ec2", "describe-tags", "--filters",
                     f"Name=resource-id,Values={made['KeyPairId']}")["Tags"]
    assert tags == [{"Key": "env", "ResourceId": made["KeyPairId"],
                     "ResourceType": "key-pair", "Value": "dev"}]


def test_wrong_secret_on_the_command_line(cloud):
    from mallee.auth import Credential
    good = cloud.admin
    bad = Credential(good.access_key_id, "w" * 40, good.account_id, good.account_name,
                     good.user_id, good.user_name)
    proc = subprocess.run([sys.executable, "-m", "awscli", "ec2", "describe-regions"],
                          env=cloud.cli_env(bad), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "AuthFailure" in proc.stderr
