"""Fuzzing the EC2 front door: every action in the ACTIONS table with values
drawn from botocore's model of its input (hostile contents, wrong types,
unknown and duplicate parameters), signed as a tenant. No answer may be a
5xx or carry a traceback, every answer is XML a client can read, the CLC
keeps answering, and its event loop is never held for long.

Bounded and repeatable: a fixed number of examples per action, derandomized.
"""
from __future__ import annotations

import json
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session
import pytest
import xmltodict
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings, strategies as st

from cloud_controller.api.actions import ACTIONS
from tests.api.test_frontdoor import raw_call
from tests.fuzzing import LoopWatchdog, hostile_pairs, values_for
from tests.reporting import write_summary

_session = botocore.session.get_session()
MODELS = {name: _session.get_service_model(name)
          for name in ("ec2", "sts", "iam", "cloudwatch")}
EXAMPLES = 6
SENT: dict[str, int] = {}  # action -> requests sent, for the summary test


def _model_of(action: str):
    return next(m for m in MODELS.values() if action in m.operation_names)


@pytest.fixture(scope="module")
def fuzzed_cloud(tmp_path_factory):
    from tests.harness import Cloud
    cloud = Cloud(tmp_path_factory.mktemp("fuzz"),
                  env={"MALLEE_CLC_RATE_LIMIT_PER_SECOND": "100000"}).start()
    watchdog = LoopWatchdog(cloud.loop).start()
    cloud.tenant = cloud.new_account("fuzzer")
    cloud.watchdog = watchdog
    yield cloud
    watchdog.stop()
    cloud.stop()


def send(cloud, pairs: list[tuple[str, str]], service: str) -> tuple[int, bytes]:
    credential = cloud.tenant
    creds = botocore.credentials.Credentials(credential.access_key_id,
                                             credential.secret_access_key)
    body = urllib.parse.urlencode(pairs)
    request = botocore.awsrequest.AWSRequest(
        "POST", cloud.ec2_url, data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, service, "mallee").add_auth(request)
    prepared = request.prepare()
    return raw_call(prepared.url, body=prepared.body, headers=dict(prepared.headers))


def send_json(cloud, body: bytes, headers: dict, service: str) -> tuple[int, bytes]:
    """A JSON-protocol request (CloudWatch), signed as the tenant."""
    credential = cloud.tenant
    creds = botocore.credentials.Credentials(credential.access_key_id,
                                             credential.secret_access_key)
    request = botocore.awsrequest.AWSRequest("POST", cloud.ec2_url, data=body,
                                             headers=headers)
    botocore.auth.SigV4Auth(creds, service, "mallee").add_auth(request)
    prepared = request.prepare()
    return raw_call(prepared.url, body=prepared.body, headers=dict(prepared.headers))


# What no SDK sends as a JSON body: broken JSON, the wrong top-level type, members of
# the wrong type.
HOSTILE_JSON = [b"{", b"[]", b"null", b'"x"', b'{"Namespace": 5, "MetricData": {}}',
                b'{"MetricDataQueries": [1, "x", null], "StartTime": "yesterday"}',
                b'{"Dimensions": [{"Name": ["x"]}], "Period": 1e400}', b"\xff\xfe"]


def check_json_answer(status: int, body: bytes, what: str) -> None:
    assert status < 500, f"{what}: HTTP {status}: {body[:300]!r}"
    assert b"Traceback" not in body, f"{what}: a traceback reached the client"
    if body:
        json.loads(body)  # raises if a client could not read it


def check_answer(status: int, body: bytes, what: str) -> None:
    assert status < 500, f"{what}: HTTP {status}: {body[:300]!r}"
    assert b"Traceback" not in body, f"{what}: a traceback reached the client"
    if body:
        xmltodict.parse(body)  # raises if a client could not read it


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_survives_hostile_values(fuzzed_cloud, action):
    SENT[action] = SENT.get(action, 0) + fuzz_action(fuzzed_cloud, action)


def fuzz_action(fuzzed_cloud, action: str) -> int:
    """Up to EXAMPLES hostile requests of `action` as `fuzzed_cloud.tenant`: no 5xx, and
    the CLC answers after them; how many were sent (also used on a vpc-mode cloud,
    test_fuzz_vpc.py)."""
    sent = []
    model = _model_of(action)
    operation = model.operation_model(action)
    as_json = ACTIONS[action].json
    # A JSON-protocol action (CloudWatch) is sent as current botocore sends it.
    serializer = create_serializer("json" if as_json else model.metadata["protocol"],
                                   include_validation=False)
    service = model.metadata.get("signingName", model.metadata["endpointPrefix"])
    query_serializer = create_serializer("query", include_validation=False)
    strategy = values_for(operation.input_shape) if operation.input_shape else st.just({})

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(params=strategy, data=st.data())
    def one(params, data):
        try:
            request = serializer.serialize_to_request(params, operation)
        except (TypeError, ValueError):  # a value botocore itself cannot write
            return
        if as_json:
            body = data.draw(st.sampled_from([request["body"], *HOSTILE_JSON]))
            status, answer = send_json(fuzzed_cloud, body, request["headers"], service)
            sent.append(1)
            check_json_answer(status, answer, f"{action} {body[:300]!r}")
            assert b"Signature" not in answer and b"Credential" not in answer, answer
            # and the same values in CloudWatch's Query protocol (older SDKs), below
            try:
                request = query_serializer.serialize_to_request(params, operation)
            except (TypeError, ValueError):
                return
        wire = request["body"]
        pairs = [(k, str(v)) for k, v in wire.items()]
        pairs = data.draw(hostile_pairs(pairs))
        status, body = send(fuzzed_cloud, pairs, service)
        sent.append(1)
        check_answer(status, body, f"{action} {pairs[:12]}")

    one()
    status, body = send(fuzzed_cloud, [("Action", "DescribeRegions"),
                                       ("Version", "2016-11-15")], "ec2")
    assert status == 200, f"the CLC stopped answering after {action}: {body[:200]!r}"
    return len(sent)


def test_the_event_loop_was_never_held(fuzzed_cloud):
    """Runs after the actions above (file order): no request held the loop."""
    assert set(SENT) == set(ACTIONS), f"never sent: {sorted(set(ACTIONS) - set(SENT))}"
    write_summary(f"fuzz EC2: {sum(SENT.values())} requests over {len(SENT)} actions, "
                  f"0 5xx; loop held at most {fuzzed_cloud.watchdog.worst_busy * 1000:.0f} ms")
    fuzzed_cloud.watchdog.check("the CLC")
