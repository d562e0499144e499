"""Every parameter that boto3 and awscli may send for an action in the ACTIONS
table is one its request type takes (a field, or IGNORED: taken, not acted
on), so UnknownParameter is only ever the answer to a misspelt parameter."""
from __future__ import annotations

import botocore.session
import pytest

from cloud_controller.api.actions import ACTIONS
from cloud_controller.api.query import wire_names

_session = botocore.session.get_session()
MODELS = [_session.get_service_model(name) for name in ("ec2", "sts", "iam", "cloudwatch")]


def _model_of(action: str):
    return next(m for m in MODELS if action in m.operation_names)


def _serialized_name(name: str, shape, protocol: str) -> str:
    """The top-level name botocore's serializer puts on the wire for a member."""
    if protocol == "ec2":
        serialization = shape.serialization
        if "queryName" in serialization:
            return serialization["queryName"]
        if "name" in serialization:
            return serialization["name"][0].upper() + serialization["name"][1:]
    return name


def sent_names(action: str) -> set[str]:
    model = _model_of(action)
    op = model.operation_model(action)
    members = op.input_shape.members.items() if op.input_shape else ()
    return {_serialized_name(n, shape, model.metadata["protocol"]) for n, shape in members}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_request_type_takes_every_parameter_botocore_sends(action):
    request = ACTIONS[action].request
    # A JSON-protocol request type (CloudWatch) names the members its from_json reads.
    taken = request.MEMBERS if ACTIONS[action].json else wire_names(request)
    missing = sent_names(action) - taken
    assert not missing, f"{action}: add to the request type (a field or IGNORED): {missing}"


def test_the_walk_sees_real_names():
    """The walk itself is right: EC2's list members are named as on the wire."""
    assert {"InstanceId", "Filter", "MaxResults", "DryRun"} <= sent_names("DescribeInstances")
    assert {"IpPermissions", "GroupId", "CidrIp"} <= sent_names("AuthorizeSecurityGroupIngress")
    assert sent_names("GetUser") == {"UserName"}
