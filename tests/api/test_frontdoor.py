"""Authentication and error rendering at the EC2 front door, as clients see them."""
import datetime
import urllib.request
import urllib.error

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
import xmltodict
from botocore.exceptions import ClientError


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def raw_call(url, method="POST", body=b"", headers=None):
    req = urllib.request.Request(url, data=body if method == "POST" else None, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def signed(cloud, body: str, credential=None, when=None, path="/", region="mallee",
           service="ec2"):
    credential = credential or cloud.admin
    creds = botocore.credentials.Credentials(credential.access_key_id,
                                             credential.secret_access_key)
    url = cloud.ec2_url.rstrip("/") + path
    request = botocore.awsrequest.AWSRequest(
        "POST", url, data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    signer = botocore.auth.SigV4Auth(creds, service, region)
    if when:  # sign as a client whose clock is off would
        real = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when.replace(tzinfo=None)
        try:
            signer.add_auth(request)
        finally:
            botocore.auth.get_current_datetime = real
    else:
        signer.add_auth(request)
    prepared = request.prepare()
    return raw_call(prepared.url, body=prepared.body, headers=dict(prepared.headers))


def sigv2_call(url, data: dict, creds):
    """A POSTed form signed with SigV2, as euca2ools and boto2 send it."""
    request = botocore.awsrequest.AWSRequest("POST", url, data=data)
    botocore.auth.SigV2Auth(creds).add_auth(request)
    prepared = request.prepare()
    return raw_call(prepared.url, body=prepared.body.encode()
                    if isinstance(prepared.body, str) else prepared.body,
                    headers=dict(prepared.headers))


def test_describe_regions_with_boto3(ec2, cloud):
    regions = ec2.describe_regions()["Regions"]
    assert [r["RegionName"] for r in regions] == [cloud.settings.cloud.region]


def test_wrong_secret_is_auth_failure(cloud):
    from mallee.auth import Credential
    bad = Credential(cloud.admin.access_key_id, "x" * 40, "", "", "", "")
    with pytest.raises(ClientError) as e:
        cloud.client("ec2", bad).describe_regions()
    assert error_code(e) == "AuthFailure"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401


def test_unknown_key_id_is_auth_failure(cloud):
    from mallee.auth import Credential
    stranger = Credential("AKIANOSUCHKEY0000000", "y" * 40, "", "", "", "")
    with pytest.raises(ClientError) as e:
        cloud.client("ec2", stranger).describe_key_pairs()
    assert error_code(e) == "AuthFailure"


def test_unsigned_request_is_refused(cloud):
    status, body = raw_call(cloud.ec2_url, body=b"Action=DescribeRegions&Version=2016-11-15",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    doc = xmltodict.parse(body)
    assert status == 401
    assert doc["Response"]["Errors"]["Error"]["Code"] == "MissingAuthenticationToken"
    assert doc["Response"]["RequestID"]


@pytest.mark.parametrize("minutes", [-20, 20])
def test_skewed_timestamp_is_refused(cloud, minutes):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    status, body = signed(cloud, "Action=DescribeRegions&Version=2016-11-15", when=when)
    assert status == 400
    assert b"<Code>RequestExpired</Code>" in body


def test_any_region_name_is_accepted_in_the_scope(cloud):
    # euca2ools invents 'undefined-<pid>' when only EC2_URL is set.
    status, body = signed(cloud, "Action=DescribeRegions&Version=2015-10-01",
                          region="undefined-1234", path="/services/compute")
    assert status == 200, body
    assert b"<regionName>mallee</regionName>" in body


def test_eucalyptus_paths_answer(cloud):
    for path in ("/services/compute", "/services/Eucalyptus/"):
        status, body = signed(cloud, "Action=DescribeRegions&Version=2016-11-15", path=path)
        assert status == 200, (path, body)


def test_unknown_action(cloud):
    status, body = signed(cloud, "Action=LaunchRockets&Version=2016-11-15")
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


def test_an_ec2_action_this_cloud_lacks_is_unsupported(cloud, ec2):
    """Issue 12: an action EC2 has that Mallee does not implement is EC2's
    UnsupportedOperation (400), never a 5xx; boto3 reads it as a ClientError."""
    status, body = signed(cloud, "Action=CreateNatGateway&SubnetId=subnet-1&Version=2016-11-15")
    assert status == 400 and b"<Code>UnsupportedOperation</Code>" in body
    with pytest.raises(ClientError) as e:
        ec2.describe_transit_gateways()
    assert e.value.response["Error"]["Code"] == "UnsupportedOperation"


def test_missing_action(cloud):
    status, body = signed(cloud, "Version=2016-11-15")
    assert status == 400 and b"<Code>MissingAction</Code>" in body


def test_malformed_parameter(cloud):
    status, body = signed(cloud, "Action=DescribeTags&MaxResults=lots&Version=2016-11-15")
    assert status == 400 and b"<Code>InvalidParameterValue</Code>" in body


def test_missing_parameter(cloud):
    status, body = signed(cloud, "Action=CreateKeyPair&Version=2016-11-15")
    assert status == 400 and b"<Code>MissingParameter</Code>" in body


def test_unknown_parameter_is_named(cloud):
    """A misspelt parameter is an error, as in EC2, not silently ignored."""
    status, body = signed(cloud, "Action=DescribeKeyPairs&KeyNmae.1=mine&Version=2016-11-15")
    assert status == 400, body
    error = xmltodict.parse(body)["Response"]["Errors"]["Error"]
    assert error["Code"] == "UnknownParameter"
    assert error["Message"] == "The parameter KeyNmae is not recognized"


def test_unknown_parameter_with_sigv2_and_sigv4_query_auth(cloud):
    """The signing parameters themselves are never unknown; the misspelt one is."""
    creds = botocore.credentials.Credentials(cloud.admin.access_key_id,
                                             cloud.admin.secret_access_key)
    status, body = sigv2_call(cloud.ec2_url, {"Action": "DescribeRegions",
                                              "Version": "2015-10-01",
                                              "RegionNames.1": "mallee"}, creds)
    assert status == 400 and b"<Code>UnknownParameter</Code>" in body
    assert b"The parameter RegionNames is not recognized" in body
    request = botocore.awsrequest.AWSRequest(
        "GET", cloud.ec2_url, params={"Action": "DescribeRegions", "Version": "2016-11-15",
                                      "RegionName.1": cloud.settings.cloud.region})
    botocore.auth.SigV4QueryAuth(creds, "ec2", "mallee", expires=300).add_auth(request)
    status, body = raw_call(request.prepare().url, method="GET")
    assert status == 200, body


def test_optional_parameters_real_tools_send_are_accepted(ec2):
    """Terraform and Ansible send many optional RunInstances parameters this cloud
    does not act on: they are taken (here the dry run answers), never unknown."""
    with pytest.raises(ClientError) as e:
        ec2.run_instances(
            ImageId="ami-00000000", MinCount=1, MaxCount=1, InstanceType="m1.small",
            DryRun=True, Monitoring={"Enabled": False}, EbsOptimized=False,
            DisableApiTermination=False, DisableApiStop=False,
            InstanceInitiatedShutdownBehavior="terminate",
            CreditSpecification={"CpuCredits": "standard"},
            MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled"},
            CapacityReservationSpecification={"CapacityReservationPreference": "open"},
            MaintenanceOptions={"AutoRecovery": "default"},
            PrivateDnsNameOptions={"HostnameType": "ip-name"},
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}])
    assert error_code(e) == "DryRunOperation"


def test_huge_body_is_refused_without_a_500(cloud):
    filler = "x" * (cloud.settings.cloud.max_request_bytes + 10)
    status, body = raw_call(cloud.ec2_url, body=f"Action=DescribeRegions&Junk={filler}".encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    assert b"<Code>RequestEntityTooLarge</Code>" in body


def test_tampered_body_is_refused(cloud):
    creds = botocore.credentials.Credentials(cloud.admin.access_key_id,
                                             cloud.admin.secret_access_key)
    request = botocore.awsrequest.AWSRequest(
        "POST", cloud.ec2_url, data=b"Action=DescribeRegions&Version=2016-11-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    botocore.auth.SigV4Auth(creds, "ec2", "mallee").add_auth(request)
    prepared = request.prepare()
    headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    status, body = raw_call(prepared.url, body=b"Action=DescribeKeyPairs&Version=2016-11-15",
                            headers=headers)
    assert status == 401 and b"<Code>AuthFailure</Code>" in body


def test_sigv4_in_the_query_string(cloud):
    creds = botocore.credentials.Credentials(cloud.admin.access_key_id,
                                             cloud.admin.secret_access_key)
    request = botocore.awsrequest.AWSRequest(
        "GET", cloud.ec2_url, params={"Action": "DescribeRegions", "Version": "2016-11-15"})
    botocore.auth.SigV4QueryAuth(creds, "ec2", "mallee", expires=300).add_auth(request)
    status, body = raw_call(request.prepare().url, method="GET")
    assert status == 200, body
    assert b"DescribeRegionsResponse" in body


def test_sigv2_query_as_euca2ools_and_boto2_send_it(cloud):
    creds = botocore.credentials.Credentials(cloud.admin.access_key_id,
                                             cloud.admin.secret_access_key)
    status, body = sigv2_call(cloud.ec2_url.rstrip("/") + "/services/compute",
                              {"Action": "DescribeAvailabilityZones", "Version": "2015-10-01"},
                              creds)
    assert status == 200, body
    assert b"mallee-1a" in body


def test_sigv2_with_wrong_secret(cloud):
    creds = botocore.credentials.Credentials(cloud.admin.access_key_id, "z" * 40)
    status, body = sigv2_call(cloud.ec2_url, {"Action": "DescribeRegions",
                                              "Version": "2015-10-01"}, creds)
    assert status == 401 and b"<Code>AuthFailure</Code>" in body


def test_dry_run_on_a_mutating_action(ec2):
    with pytest.raises(ClientError) as e:
        ec2.create_key_pair(KeyName="never-made", DryRun=True)
    assert error_code(e) == "DryRunOperation"
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name",
                                            "Values": ["never-made"]}])["KeyPairs"] == []


def test_caller_identity_at_the_ec2_url(cloud):
    identity = cloud.client("sts").get_caller_identity()
    assert identity["Account"] == cloud.admin.account_id
    assert identity["Arn"].endswith(":user/admin")
    assert cloud.client("iam").get_user()["User"]["UserName"] == "admin"


def test_disabled_key_is_refused(cloud):
    key = cloud.new_account("dora")
    client = cloud.client("ec2", key)
    assert client.describe_regions()["Regions"]

    cloud.run(cloud.admin_client.key_set_active(key.access_key_id, False))
    with pytest.raises(ClientError) as e:
        client.describe_regions()
    assert error_code(e) == "AuthFailure"


def test_request_limit_exceeded_past_the_rate(tmp_path):
    from tests.harness import Cloud
    limited = Cloud(tmp_path, components=("clc",),
                    env={"MALLEE_CLC_RATE_LIMIT_PER_SECOND": "1"}).start()
    try:
        ec2 = limited.client("ec2")
        codes = []
        for _ in range(10):  # a burst of 2x the rate passes, then the bucket is empty
            try:
                ec2.describe_regions()
                codes.append("ok")
            except ClientError as err:
                codes.append(err.response["Error"]["Code"])
                assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert codes[:2] == ["ok"] * 2 and "RequestLimitExceeded" in codes[2:]
    finally:
        limited.stop()
