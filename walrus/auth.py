"""Who sent an S3 request: SigV4 (header, presigned, streaming), SigV2 (header,
query) or nobody. Returns the principal and how the payload must be verified;
the payload itself is checked as it streams (walrus.body)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from aiohttp import web

from mallee import errors as mallee_errors
from mallee.auth import s3_sigv2, sigv4
from mallee.auth.credentials import Credential, CredentialLookup
from walrus import errors, numbers
from walrus.acl import ANONYMOUS, Principal
from walrus.chunked import ChunkSigner
from walrus.routing import Target

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
SIGNED_STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
UNSIGNED = ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    payload_sha256: str | None = None     # hex digest the body must have
    signer: ChunkSigner | None = None     # for signed aws-chunked bodies


def principal_of(c: Credential) -> Principal:
    return Principal(c.account_id, c.account_name, c.user_name, c.access_key_id, c.is_admin)


async def authenticate(request: web.Request, target: Target, lookup: CredentialLookup,
                       max_skew: int) -> Authenticated:
    query = request.query
    pairs = list(query.items())
    now = datetime.now(timezone.utc)
    try:
        parsed = sigv4.parse(request.headers, dict(query))
    except mallee_errors.IncompleteSignature as exc:
        raise _malformed(request, exc.message)
    if parsed is not None:
        return await _sigv4(request, target, parsed, pairs, lookup, now, max_skew)
    auth = request.headers.get("Authorization")
    if auth is not None:
        found = s3_sigv2.parse_header(auth)
        if found is None:
            raise errors.AccessDenied("Unsupported Authorization header.")
        _check_v2_date(request.headers, now, max_skew)
        return Authenticated(await _sigv2(request, target, lookup, pairs, *found))
    if "Signature" in query and "AWSAccessKeyId" in query:
        expires = query.get("Expires", "")
        when = numbers.decimal(expires)  # isdigit() took '²', which int() refuses: a 500
        if when is None:
            raise errors.AccessDenied("Query-string authentication requires Expires.")
        if when < time.time():
            raise errors.AccessDenied("Request has expired", Expires=expires)
        return Authenticated(await _sigv2(request, target, lookup, pairs, query["AWSAccessKeyId"],
                                          query["Signature"], expires))
    return Authenticated(ANONYMOUS)


def _malformed(request: web.Request, message: str) -> errors.ApiError:
    if "X-Amz-Credential" in request.query:
        return errors.AuthorizationQueryParametersError(message)
    return errors.AuthorizationHeaderMalformed(message)


async def _sigv4(request, target, parsed, pairs, lookup, now, max_skew) -> Authenticated:
    content_sha = request.headers.get("x-amz-content-sha256")
    if content_sha is None:
        if not parsed.presigned:
            raise errors.InvalidRequest(
                "Missing required header for this request: x-amz-content-sha256")
        content_sha = "UNSIGNED-PAYLOAD"
    if not (_HEX64.match(content_sha) or content_sha in SIGNED_STREAMING + UNSIGNED):
        raise errors.InvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                                     "a STREAMING-* value or a SHA-256 hex digest.")
    expired = errors.AccessDenied if parsed.presigned else errors.RequestTimeTooSkewed
    try:
        verified = await sigv4.verify(
            parsed=parsed, method=request.method, raw_path=target.raw_path, query_pairs=pairs,
            headers=request.headers, payload_hash=content_sha, lookup=lookup, now=now,
            max_skew=max_skew, services=("s3",), s3=True, expired_error=expired,
            unknown_key_error=errors.InvalidAccessKeyId,
            mismatch_error=errors.SignatureDoesNotMatch)
    except mallee_errors.IncompleteSignature as exc:
        raise _malformed(request, exc.message)
    principal = principal_of(verified.credential)
    if content_sha in SIGNED_STREAMING:
        signer = ChunkSigner(verified.signing_key, parsed.amz_date, parsed.scope.text,
                             parsed.signature)
        return Authenticated(principal, signer=signer)
    return Authenticated(principal, payload_sha256=content_sha if _HEX64.match(content_sha)
                         else None)


def _check_v2_date(headers, now: datetime, max_skew: int) -> None:
    text = headers.get("x-amz-date") or headers.get("Date")
    if not text:
        raise errors.AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    try:
        when = parsedate_to_datetime(text)  # also takes euca2ools' "-0000"
    except (TypeError, ValueError, OverflowError):  # OverflowError: a huge year or offset
        raise errors.AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if abs((now - when).total_seconds()) > max_skew:
        raise errors.RequestTimeTooSkewed(RequestTime=text,
                                          ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"))


async def _sigv2(request, target: Target, lookup, pairs, access_key: str, given: str,
                 expires: str | None = None) -> Principal:
    credential = await lookup(access_key)
    if credential is None or not credential.active:
        raise errors.InvalidAccessKeyId(AWSAccessKeyId=access_key)
    signed = s3_sigv2.matches(credential.secret_access_key, request.method, request.headers,
                              list(target.v2_resources), pairs, given, expires)
    if signed is None:
        expected = s3_sigv2.string_to_sign(request.method, request.headers,
                                           target.v2_resources[0], pairs, expires)
        raise errors.SignatureDoesNotMatch(AWSAccessKeyId=access_key, StringToSign=expected)
    return principal_of(credential)


# --- browser uploads: the form's fields sign its policy ----------------------

def missing_field(name: str) -> errors.ApiError:
    return errors.InvalidArgument(f"Bucket POST must contain a field named '{name}'.  If it "
                                  "is specified, please check the order of the fields.",
                                  ArgumentName=name, ArgumentValue="")


# The form fields a signature needs, as S3 spells them in its errors.
_SPELLED = {"awsaccesskeyid": "AWSAccessKeyId", "signature": "Signature", "policy": "Policy",
            "x-amz-algorithm": "X-Amz-Algorithm", "x-amz-credential": "X-Amz-Credential",
            "x-amz-date": "X-Amz-Date", "x-amz-signature": "X-Amz-Signature"}


def _required(fields: dict[str, str], *names: str) -> list[str]:
    for name in names:
        if name not in fields:
            raise missing_field(_SPELLED[name])
    return [fields[name] for name in names]


def _form_argument(name: str, value: str, message: str) -> errors.ApiError:
    return errors.InvalidArgument(message, ArgumentName=name, ArgumentValue=value)


async def form_principal(fields: dict[str, str], lookup: CredentialLookup) -> Principal | None:
    """Who signed a browser upload's policy (form field names in lower case): SigV4
    (x-amz-algorithm, x-amz-credential, x-amz-date, x-amz-signature: the hex HMAC of the
    base64 policy with the SigV4 signing key) or SigV2 (AWSAccessKeyId, signature: the
    base64 HMAC-SHA1 of the policy). None for a form that carries no signature."""
    if any(k in fields for k in ("x-amz-algorithm", "x-amz-credential", "x-amz-signature")):
        return await _form_sigv4(fields, lookup)
    if "awsaccesskeyid" in fields or "signature" in fields:
        return await _form_sigv2(fields, lookup)
    if "policy" in fields:
        raise missing_field("AWSAccessKeyId")
    return None


async def _form_sigv4(fields, lookup) -> Principal:
    algorithm, credential_text, amz_date, given, policy = _required(
        fields, "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature",
        "policy")
    if algorithm != sigv4.ALGORITHM:
        raise _form_argument("X-Amz-Algorithm", algorithm,
                             f"Only {sigv4.ALGORITHM} is supported for POST.")
    try:
        scope = sigv4.parse_scope(credential_text)
    except mallee_errors.IncompleteSignature as exc:
        raise _form_argument("X-Amz-Credential", credential_text, exc.message)
    try:
        sigv4.parse_amz_date(amz_date)
    except mallee_errors.IncompleteSignature as exc:
        raise _form_argument("X-Amz-Date", amz_date, exc.message)
    if scope.service != "s3":
        raise _form_argument("X-Amz-Credential", credential_text,
                             "Credential should be scoped to a valid service: s3.")
    credential = await lookup(scope.access_key_id)
    if credential is None or not credential.active:
        raise errors.InvalidAccessKeyId(AWSAccessKeyId=scope.access_key_id)
    key = sigv4.signing_key(credential.secret_access_key, scope)
    if not sigv4.same_signature(sigv4.sign(key, policy), given.lower()):
        raise errors.SignatureDoesNotMatch(AWSAccessKeyId=scope.access_key_id,
                                           StringToSign=policy)
    return principal_of(credential)


async def _form_sigv2(fields, lookup) -> Principal:
    access_key, given, policy = _required(fields, "awsaccesskeyid", "signature", "policy")
    credential = await lookup(access_key)
    if credential is None or not credential.active:
        raise errors.InvalidAccessKeyId(AWSAccessKeyId=access_key)
    if not sigv4.same_signature(s3_sigv2.signature(credential.secret_access_key, policy),
                                given):
        raise errors.SignatureDoesNotMatch(AWSAccessKeyId=access_key, StringToSign=policy)
    return principal_of(credential)
