"""The awscli command line, as a user runs it after `source eucarc`."""
import json
import subprocess
import sys

import pytest


def aws(cloud, *args, credential=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"],
                          env=cloud.cli_env(credential), capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {proc.stderr}")
    return proc


def test_eucarc_is_all_awscli_needs(cloud):
    zones = json.loads(aws(cloud, "ec2", "describe-availability-zones").stdout)
    assert zones["AvailabilityZones"][0]["ZoneName"] == "mallee-1a"
    made = json.loads(aws(cloud, "ec2", "create-key-pair", "--key-name", "cli-k1").stdout)
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    listed = json.loads(aws(cloud, "ec2", "describe-key-pairs").stdout)["KeyPairs"]
    assert "cli-k1" in [k["KeyName"] for k in listed]
    aws(cloud, "ec2", "create-tags", "--resources", made["KeyPairId"],
        "--tags", "Key=env,Value=dev")
    tags = json.loads(aws(cloud, "ec2", "describe-tags", "--filters",
                          f"Name=resource-id,Values={made['KeyPairId']}").stdout)["Tags"]
    assert tags == [{"Key": "env", "ResourceId": made["KeyPairId"],
                     "ResourceType": "key-pair", "Value": "dev"}]


def test_wrong_secret_on_the_command_line(cloud):
    from mallee.auth import Credential
    good = cloud.admin
    bad = Credential(good.access_key_id, "w" * 40, good.account_id, good.account_name,
                     good.user_id, good.user_name)
    proc = aws(cloud, "ec2", "describe-regions", credential=bad, check=False)
    assert proc.returncode != 0
    assert "AuthFailure" in proc.stderr
