"""SigV4 (shared by the CLC and Walrus) on malformed input: every case is the
protocol's ApiError, never a ValueError, TypeError or UnicodeEncodeError that
becomes a 500 (issue 11, defects 14 and 21)."""
import asyncio
import datetime

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from multidict import CIMultiDict

from mallee import errors
from mallee.auth import sigv4
from tests.unit.test_sigv4 import CRED, SECRET, lookup, now, pairs_of, sign_header, verify


def presigned(expires="60"):
    creds = botocore.credentials.Credentials(CRED.access_key_id, SECRET)
    request = botocore.awsrequest.AWSRequest("GET", "http://h/", params={"Action": "X"})
    botocore.auth.SigV4QueryAuth(creds, "ec2", "r", expires=60).add_auth(request)
    url = request.prepare().url
    return dict(pairs_of(url.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")))


@pytest.mark.parametrize("expires", ["²", "３", "9" * 5000, "-1", " 60", "6_0", ""])
def test_x_amz_expires_that_is_not_ascii_digits_is_incomplete_signature(expires):
    query = presigned()
    query["X-Amz-Expires"] = expires
    with pytest.raises(errors.IncompleteSignature):
        sigv4.parse(CIMultiDict(), query)


def test_a_reasonable_x_amz_expires_still_parses():
    assert sigv4.parse(CIMultiDict(), presigned("604800")).expires == 604800


@pytest.mark.parametrize("date", ["２０２５０１０１T000000Z", "20250101T00000²Z",
                                  "2025010" + "1" * 5000 + "T000000Z"])
def test_amz_dates_take_ascii_digits_only(date):
    with pytest.raises(errors.IncompleteSignature):
        sigv4.parse_amz_date(date)


def test_a_scope_date_of_other_digits_is_incomplete_signature():
    query = presigned()
    query["X-Amz-Credential"] = query["X-Amz-Credential"].replace(
        query["X-Amz-Date"][:8], "٢٠٢٥٠١٠١")
    with pytest.raises(errors.IncompleteSignature):
        sigv4.parse(CIMultiDict(), query)


def run_verify(parsed, headers, mismatch=errors.SignatureDoesNotMatch):
    return asyncio.run(sigv4.verify(
        parsed=parsed, method="POST", raw_path="/", query_pairs=[], headers=headers,
        payload_hash=sigv4.EMPTY_SHA256, lookup=lookup, now=now(), max_skew=900,
        services=("ec2",), s3=False, mismatch_error=mismatch))


def test_a_signed_header_holding_a_non_utf8_byte_is_a_mismatch_not_a_crash():
    """aiohttp hands such a byte over as a lone surrogate (surrogateescape)."""
    request = sign_header("POST", "http://h/", headers={"X-Amz-Meta-Note": "caf"})
    headers = CIMultiDict(request.prepare().headers)
    headers["Host"] = "h"
    headers["X-Amz-Meta-Note"] = b"caf\xe9".decode("utf-8", "surrogateescape")
    parsed = sigv4.parse(headers, {})
    assert "x-amz-meta-note" in parsed.signed_headers
    with pytest.raises(errors.SignatureDoesNotMatch):
        run_verify(parsed, headers)


def test_the_signature_covers_a_non_utf8_header_byte_as_sent():
    """A client that signed the raw byte is verified: the hash is over the bytes."""
    when = now()
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = sigv4.Scope(CRED.access_key_id, amz_date[:8], "r", "ec2")
    raw = b"caf\xe9"
    canonical = b"\n".join([b"POST", b"/", b"", b"host:h\nx-amz-date:" + amz_date.encode()
                            + b"\nx-note:" + raw + b"\n", b"host;x-amz-date;x-note",
                            sigv4.EMPTY_SHA256.encode()])
    import hashlib
    to_sign = "\n".join([sigv4.ALGORITHM, amz_date, scope.text,
                         hashlib.sha256(canonical).hexdigest()])
    signature = sigv4.sign(sigv4.signing_key(SECRET, scope), to_sign)
    headers = CIMultiDict({"Host": "h", "X-Amz-Date": amz_date,
                           "X-Note": raw.decode("utf-8", "surrogateescape"),
                           "Authorization": f"{sigv4.ALGORITHM} Credential={CRED.access_key_id}/"
                                            f"{scope.date}/r/ec2/aws4_request, SignedHeaders="
                                            f"host;x-amz-date;x-note, Signature={signature}"})
    assert run_verify(sigv4.parse(headers, {}), headers).credential == CRED


def test_a_non_ascii_query_signature_is_a_mismatch():
    query = presigned()
    query["X-Amz-Signature"] = "é" + query["X-Amz-Signature"][1:]
    parsed = sigv4.parse(CIMultiDict(), query)
    with pytest.raises(errors.SignatureDoesNotMatch):
        asyncio.run(sigv4.verify(
            parsed=parsed, method="GET", raw_path="/", query_pairs=list(query.items()),
            headers=CIMultiDict({"Host": "h"}), payload_hash=sigv4.EMPTY_SHA256,
            lookup=lookup, now=now(), max_skew=900, services=("ec2",), s3=False,
            mismatch_error=errors.SignatureDoesNotMatch))


def test_an_expired_header_signature_still_reads_as_before():
    req = sign_header("POST", "http://h/", data={"Action": "X"})
    with pytest.raises(errors.RequestExpired):
        verify(req, when=now() + datetime.timedelta(minutes=16))


def test_s3_sigv2_takes_non_ascii_signatures_and_non_utf8_header_bytes():
    from mallee.auth import s3_sigv2
    headers = CIMultiDict({"Date": "Tue, 27 Mar 2007 19:36:42 +0000",
                           "X-Amz-Meta-Note": b"caf\xe9".decode("utf-8", "surrogateescape")})
    assert s3_sigv2.matches(SECRET, "GET", headers, ["/b/k"], [], "é" * 27) is None
    text = s3_sigv2.string_to_sign("GET", headers, "/b/k", [])
    good = s3_sigv2.signature(SECRET, text)
    assert s3_sigv2.matches(SECRET, "GET", headers, ["/b/k"], [], good) == text
