"""AWS Signature Version 2 for Query APIs (EC2), as euca2ools and boto 2 send it.

StringToSign = METHOD \\n host \\n path \\n canonical query (without Signature).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from mallee import errors
from mallee.auth.credentials import Credential, CredentialLookup
from mallee.auth.sigv4 import canonical_query, same_signature, wire_bytes

_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
MAX_EXPIRES = timedelta(days=7)  # as SigV4's X-Amz-Expires: no signature is good forever


def is_sigv2(params: dict[str, str]) -> bool:
    return "Signature" in params and "AWSAccessKeyId" in params


def _parse_time(text: str) -> datetime:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise errors.InvalidParameterValue(f"Timestamp {text!r} is not an ISO 8601 time.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


async def verify(*, method: str, host: str, path: str, params: dict[str, str],
                 pairs: list[tuple[str, str]], lookup: CredentialLookup,
                 now: datetime, max_skew: int) -> Credential:
    if params.get("SignatureVersion") != "2":
        raise errors.InvalidParameterValue("Only SignatureVersion 2 (or SigV4) is supported.")
    digest = _DIGESTS.get(params.get("SignatureMethod", ""))
    if digest is None:
        raise errors.InvalidParameterValue("SignatureMethod must be HmacSHA256 or HmacSHA1.")
    if "Expires" in params:
        expires = _parse_time(params["Expires"])
        if expires < now:
            raise errors.RequestExpired("Request has expired.")
        if expires - now > MAX_EXPIRES:
            raise errors.InvalidParameterValue(
                f"Value ({params['Expires']}) for parameter Expires is invalid. "
                f"Expires must be at most 604800 seconds (7 days) after the server time.")
    elif "Timestamp" in params:
        if abs((now - _parse_time(params["Timestamp"])).total_seconds()) > max_skew:
            raise errors.RequestExpired(
                f"Timestamp {params['Timestamp']} is more than {max_skew} s from server time.")
    else:
        raise errors.MissingParameter("The request must contain the parameter Timestamp.")
    credential = await lookup(params["AWSAccessKeyId"])
    if credential is None or not credential.active:
        raise errors.AuthFailure()
    string_to_sign = "\n".join([method.upper(), host.lower(), path or "/",
                                canonical_query(pairs, drop="Signature")])
    expected = base64.b64encode(hmac.new(credential.secret_access_key.encode(),
                                         wire_bytes(string_to_sign), digest).digest()).decode()
    if not same_signature(expected, params["Signature"]):
        raise errors.AuthFailure()
    return credential
