"""Access key ids a stranger makes up are refused at once, whatever their size.

The 1 MiB case is in tests/unit/test_access_key_lookup.py: over HTTP a body that
large is cut short by the front door today (issue 11, defect 9)."""
import datetime
import urllib.error
import urllib.parse
import urllib.request

import pytest


@pytest.mark.parametrize("size", [15, 129, 4000])
def test_an_access_key_id_of_the_wrong_length_is_auth_failure(cloud, size):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = urllib.parse.urlencode({
        "Action": "DescribeRegions", "Version": "2016-11-15", "SignatureVersion": "2",
        "SignatureMethod": "HmacSHA256", "Timestamp": now, "AWSAccessKeyId": "A" * size,
        "Signature": "x"}).encode()
    request = urllib.request.Request(cloud.ec2_url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 401 and b"<Code>AuthFailure</Code>" in e.value.read()
