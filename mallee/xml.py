"""EC2 Query responses and errors rendered with xmltodict.

Handlers return plain dicts: a Python list becomes <x><item>..</item></x> (EC2's
list wrapping), True/False become "true"/"false", None leaves the element out.
"""
from __future__ import annotations

from datetime import datetime, timezone

import xmltodict

from mallee.errors import ApiError

EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"


def iso8601(when: datetime | float | int) -> str:
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _prepare(value):
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return {"item": [_prepare(v) for v in value]} if value else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso8601(value)
    return value if isinstance(value, str) else str(value)


def render(root: str, body: dict, request_id: str, namespace: str = EC2_NAMESPACE,
           request_id_tag: str = "requestId") -> bytes:
    doc = {root: {"@xmlns": namespace, request_id_tag: request_id, **_prepare(body)}}
    return xmltodict.unparse(doc, encoding="UTF-8").encode()


def render_ec2_error(err: ApiError, request_id: str) -> bytes:
    doc = {"Response": {"Errors": {"Error": {"Code": err.code, "Message": err.message}},
                        "RequestID": request_id}}
    return xmltodict.unparse(doc, encoding="UTF-8").encode()


def aws_query_renderer(namespace: str):
    """Renderer for the awsQuery protocol (STS, IAM): <X>Result + ResponseMetadata."""
    def render_query(action: str, body: dict, request_id: str) -> bytes:
        doc = {f"{action}Response": {"@xmlns": namespace, f"{action}Result": _prepare(body),
                                     "ResponseMetadata": {"RequestId": request_id}}}
        return xmltodict.unparse(doc, encoding="UTF-8").encode()
    return render_query
