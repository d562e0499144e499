"""AWS Signature Version 2 for S3's REST API (s3cmd, euca2ools, boto 2).

StringToSign = VERB \\n Content-MD5 \\n Content-Type \\n Date \\n
               CanonicalizedAmzHeaders CanonicalizedResource

Date is the Date header, empty when x-amz-date is sent (that one is signed
among the amz headers), or the Expires value for a query-string signature.
The resource is /bucket/key as the client addressed it plus the
sub-resources listed below; the caller passes every spelling of the resource
the client might have signed (euca2ools drops the endpoint's path prefix).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import unquote

from mallee.auth.sigv4 import same_signature, wire_bytes

# Query parameters that are part of the signed resource, per the S3 docs and
# botocore's HmacV1Auth.
SUBRESOURCES = frozenset("""
acl accelerate analytics cors delete encryption intelligent-tiering inventory legal-hold
lifecycle location logging metrics notification object-lock ownershipControls partNumber
policy policyStatus publicAccessBlock replication requestPayment restore retention select
tagging torrent uploadId uploads versionId versioning versions website
response-cache-control response-content-disposition response-content-encoding
response-content-language response-content-type response-expires
""".split())

_AUTH_RE = re.compile(r"^AWS (?P<key>[^:\s]+):(?P<sig>\S+)$")


def parse_header(value: str) -> tuple[str, str] | None:
    """(access key id, signature) from 'AWS AKID:signature', or None."""
    m = _AUTH_RE.match(value.strip())
    return (m["key"], m["sig"]) if m else None


def canonical_amz_headers(headers) -> str:
    merged: dict[str, list[str]] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname.startswith("x-amz-"):
            merged.setdefault(lname, []).append(" ".join(value.split()))
    return "".join(f"{name}:{','.join(merged[name])}\n" for name in sorted(merged))


def canonical_resource(path: str, query_pairs: list[tuple[str, str]]) -> str:
    subs = sorted((k, v) for k, v in query_pairs if k in SUBRESOURCES)
    if not subs:
        return path
    return path + "?" + "&".join(k if v == "" else f"{k}={v}" for k, v in subs)


def string_to_sign(method: str, headers, resource: str, query_pairs: list[tuple[str, str]],
                   expires: str | None = None) -> str:
    if expires is not None:
        date = expires
    elif any(k.lower() == "x-amz-date" for k in headers.keys()):
        date = ""
    else:
        date = headers.get("Date", "")
    return "\n".join([method.upper(), headers.get("Content-MD5", ""),
                      headers.get("Content-Type", ""), date,
                      canonical_amz_headers(headers) + canonical_resource(resource, query_pairs)])


def signature(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), wire_bytes(text), hashlib.sha1).digest()).decode()


def matches(secret: str, method: str, headers, resources: list[str],
            query_pairs: list[tuple[str, str]], given: str, expires: str | None = None) -> str | None:
    """The string to sign that produced `given`, trying each resource spelling; else None.

    Clients differ in whether they sign the path percent-encoded or decoded,
    so both are tried.
    """
    tried = []
    for resource in resources:
        for spelling in dict.fromkeys((resource, unquote(resource))):
            text = string_to_sign(method, headers, spelling, query_pairs, expires)
            tried.append(text)
            if same_signature(signature(secret, text), given):
                return text
    return None
