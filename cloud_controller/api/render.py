"""EC2 and awsQuery responses and EC2 errors, written with the shared emitter
(mallee.xmlwrite): handlers return plain dicts, lists are EC2's `<item>`s."""
from __future__ import annotations

from mallee.errors import ApiError
from mallee.xmlwrite import document

EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"


def render(root: str, body: dict, request_id: str, namespace: str = EC2_NAMESPACE,
           request_id_tag: str = "requestId") -> bytes:
    return document(root, {"@xmlns": namespace, request_id_tag: request_id, **body})


def render_ec2_error(err: ApiError, request_id: str) -> bytes:
    return document("Response", {
        "Errors": {"Error": {"Code": err.code, "Message": err.message}},
        "RequestID": request_id})


def aws_query_renderer(namespace: str):
    """Renderer for the awsQuery protocol (STS, IAM): <X>Result + ResponseMetadata."""
    def render_query(action: str, body: dict, request_id: str) -> bytes:
        return document(f"{action}Response", {
            "@xmlns": namespace, f"{action}Result": body,
            "ResponseMetadata": {"RequestId": request_id}})
    return render_query


def render_json_error(err: ApiError, request_id: str) -> tuple[bytes, dict[str, str]]:
    """An error in the JSON protocol of a query-compatible service (CloudWatch): the
    code in `__type` and, as botocore reads it first, in x-amzn-query-error."""
    import json
    fault = "Sender" if err.status < 500 else "Receiver"
    return (json.dumps({"__type": err.code, "message": err.message}).encode(),
            {"x-amzn-query-error": f"{err.code};{fault}", "x-amzn-RequestId": request_id})
