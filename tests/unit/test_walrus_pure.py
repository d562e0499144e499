"""Walrus's pure parts: SigV2 string to sign, aws-chunked parsing, names,
listing, ranges and preconditions, checksums."""
import asyncio
import base64
import hashlib

import pytest
from multidict import CIMultiDict

from mallee.auth import s3_sigv2
from walrus import checksums, conditions, errors, listing, names, routing
from walrus.chunked import AwsChunkedDecoder, ChunkSigner


def test_sigv2_string_to_sign_matches_aws_example():
    # The example from the S3 REST authentication documentation.
    headers = CIMultiDict({"Host": "awsexamplebucket1.s3.us-west-1.amazonaws.com",
                           "Date": "Tue, 27 Mar 2007 19:36:42 +0000"})
    text = s3_sigv2.string_to_sign("GET", headers, "/awsexamplebucket1/photos/puppy.jpg", [])
    assert text == "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    assert s3_sigv2.signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", text) == \
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="


def test_sigv2_amz_headers_and_subresources():
    headers = CIMultiDict({"Date": "ignored", "x-amz-date": "Tue, 27 Mar 2007 21:20:26 +0000",
                           "X-Amz-Meta-B": "2", "x-amz-meta-a": "1 ", "Content-Type": "text/plain"})
    text = s3_sigv2.string_to_sign("PUT", headers, "/b/k",
                                   [("uploadId", "u1"), ("partNumber", "2"), ("foo", "x")])
    assert text == ("PUT\n\ntext/plain\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n"
                    "x-amz-meta-a:1\nx-amz-meta-b:2\n/b/k?partNumber=2&uploadId=u1")
    # euca2ools' Date ending in -0000 is signed verbatim; query signatures sign Expires.
    text = s3_sigv2.string_to_sign("GET", CIMultiDict(), "/b/k", [("acl", "")], expires="99")
    assert text == "GET\n\n\n99\n/b/k?acl"


def test_sigv2_tries_each_resource_spelling():
    headers = CIMultiDict({"Date": "Tue, 27 Mar 2007 19:36:42 -0000"})
    sig = s3_sigv2.signature("s", s3_sigv2.string_to_sign("GET", headers, "/b/a b", []))
    assert s3_sigv2.matches("s", "GET", headers, ["/services/objectstorage/b/a%20b", "/b/a%20b"],
                            [], sig)
    assert s3_sigv2.matches("s", "GET", headers, ["/other"], [], sig) is None


class FakeReader:
    def __init__(self, data: bytes):
        self.data = data

    async def readline(self) -> bytes:
        at = self.data.find(b"\n")
        line, self.data = (self.data, b"") if at < 0 else (self.data[:at + 1], self.data[at + 1:])
        return line

    async def readexactly(self, n: int) -> bytes:
        if len(self.data) < n:
            raise asyncio.IncompleteReadError(self.data, n)
        out, self.data = self.data[:n], self.data[n:]
        return out


async def _decode(data: bytes, signer=None):
    decoder = AwsChunkedDecoder(FakeReader(data), signer)
    out = b"".join([piece async for piece in decoder])
    return out, decoder.trailers


def test_chunked_unsigned_with_trailer():
    data = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:abc=\r\n\r\n"
    assert asyncio.run(_decode(data)) == (b"hello world", {"x-amz-checksum-crc32": "abc="})


def test_chunked_truncated_and_malformed():
    with pytest.raises(errors.IncompleteBody):
        asyncio.run(_decode(b"10\r\nshort"))
    with pytest.raises(errors.IncompleteBody):  # what S3 answers for malformed framing
        asyncio.run(_decode(b"zz\r\nhello\r\n"))


def test_chunked_signatures_chain():
    signer = ChunkSigner(b"k" * 32, "20240101T000000Z", "20240101/r/s3/aws4_request", "seed")
    sig1 = signer.chunk_signature("seed", hashlib.sha256(b"abc").hexdigest())
    sig2 = signer.chunk_signature(sig1, hashlib.sha256(b"").hexdigest())
    good = f"3;chunk-signature={sig1}\r\nabc\r\n0;chunk-signature={sig2}\r\n\r\n".encode()
    assert asyncio.run(_decode(good, signer))[0] == b"abc"
    bad = good.replace(sig2.encode(), b"0" * 64)
    with pytest.raises(errors.SignatureDoesNotMatch):
        asyncio.run(_decode(bad, signer))


@pytest.mark.parametrize("name,ok", [("abc", True), ("my.bucket-1", True), ("ab", False),
                                     ("Abc", False), ("a_b", False), ("a..b", False),
                                     ("a.-b", False), ("10.0.0.1", False), ("-ab", False),
                                     ("x" * 63, True), ("x" * 64, False), ("xn--abc", False)])
def test_dns_compliant_bucket_names(name, ok):
    assert (names.bucket_name_problem(name, "dns-compliant") is None) == ok


@pytest.mark.parametrize("name,ok", [("b1", True), ("My_Bucket.2", True), ("x" * 255, True),
                                     ("x" * 256, False), ("a b", False), ("..", False),
                                     ("a/b", False), ("10.0.0.1", False), ("", False)])
def test_extended_bucket_names(name, ok):
    assert (names.bucket_name_problem(name, "extended") is None) == ok


def test_unknown_naming_rules_are_an_error_not_a_default(tmp_path):
    with pytest.raises(ValueError, match="dsn-compliant"):
        names.bucket_name_problem("abc", "dsn-compliant")
    from mallee import settings as mallee_settings
    from walrus.app import create_apps
    misspelt = mallee_settings.load(tmp_path, {"MALLEE_HOME": str(tmp_path)}).replace(
        walrus={"bucket_naming": "dsn-compliant"})
    with pytest.raises(mallee_settings.SettingsError, match="bucket_naming"):
        create_apps(misspelt)


def test_key_rules():
    names.check_key("k" * 1024)
    with pytest.raises(errors.KeyTooLongError):
        names.check_key("é" * 513)  # 1,026 bytes in UTF-8


class Row:
    def __init__(self, key):
        self.key = key


def _fetcher(keys):
    keys = sorted(keys)
    calls = []

    async def fetch(start, inclusive, limit):
        calls.append(start)
        return [Row(k) for k in keys if (k >= start if inclusive else k > start)][:limit]
    return fetch, calls


def test_listing_delimiter_skips_whole_prefixes():
    keys = [f"big/{i:05d}" for i in range(5000)] + ["a", "z"]
    fetch, calls = _fetcher(keys)
    result = asyncio.run(listing.list_keys(fetch, delimiter="/"))
    assert [r.key for r in result.contents] == ["a", "z"]
    assert result.common_prefixes == ["big/"]
    assert len(calls) <= 3  # one seek past "big/", not 5,000 rows


def _version_fetcher(versions):
    """versions: (key, seq) pairs; served in (key, newest first) order, as the store does."""
    from types import SimpleNamespace
    rows = sorted((SimpleNamespace(key=k, seq=q, version_id=f"{k}@{q}") for k, q in versions),
                  key=lambda r: (r.key, -r.seq))

    async def fetch(start, inclusive, below, limit):
        if below is not None:
            out = [r for r in rows if (r.key == start and r.seq < below) or r.key > start]
        else:
            out = [r for r in rows if (r.key >= start if inclusive else r.key > start)]
        return out[:limit]
    return fetch


def test_version_listing_pages_through_every_version_once():
    versions = [(k, q) for k in ("a", "b/1", "b/2", "c") for q in range(3)]
    fetch = _version_fetcher(versions)
    seen, marker, below = [], "", None
    while True:
        page = asyncio.run(listing.list_versions(fetch, key_marker=marker, seq_below=below,
                                                 max_keys=2))
        seen += [(r.key, r.seq) for r in page.contents]
        if not page.truncated:
            break
        marker, below = page.next_marker, int(page.next_version_id.split("@")[1])
    assert seen == sorted(versions, key=lambda v: (v[0], -v[1]))
    rolled = asyncio.run(listing.list_versions(fetch, delimiter="/"))
    assert rolled.common_prefixes == ["b/"]
    assert [r.key for r in rolled.contents] == ["a"] * 3 + ["c"] * 3
    after = asyncio.run(listing.list_versions(fetch, key_marker="a"))  # every version of a
    assert [r.key for r in after.contents][:1] == ["b/1"]
    inside = asyncio.run(listing.list_versions(fetch, prefix="b/", key_marker="b/1",
                                               seq_below=1))
    assert [(r.key, r.seq) for r in inside.contents] == [("b/1", 0)] + [("b/2", q)
                                                                     for q in (2, 1, 0)]


def test_listing_pages_and_markers():
    fetch, _ = _fetcher(["a/1", "a/2", "b", "c/1", "d"])
    first = asyncio.run(listing.list_keys(fetch, delimiter="/", max_keys=2))
    assert ([r.key for r in first.contents], first.common_prefixes) == (["b"], ["a/"])
    assert first.truncated and first.next_marker == "b"
    rest = asyncio.run(listing.list_keys(fetch, delimiter="/", start_after=first.next_marker))
    assert ([r.key for r in rest.contents], rest.common_prefixes) == (["d"], ["c/"])
    assert not rest.truncated
    prefixed = asyncio.run(listing.list_keys(fetch, prefix="a/", start_after="a/1"))
    assert [r.key for r in prefixed.contents] == ["a/2"]
    assert listing.decode_token(listing.encode_token("ü/x")) == "ü/x"
    with pytest.raises(errors.InvalidArgument):
        listing.decode_token("%%%")


def test_ranges():
    assert conditions.parse_range("bytes=0-9", 100) == (0, 9)
    assert conditions.parse_range("bytes=-10", 100) == (90, 99)
    assert conditions.parse_range("bytes=90-", 100) == (90, 99)
    assert conditions.parse_range("bytes=90-500", 100) == (90, 99)
    assert conditions.parse_range("bytes=5-1", 100) is None
    assert conditions.parse_range("items=1-2", 100) is None
    with pytest.raises(errors.InvalidRange):
        conditions.parse_range("bytes=100-", 100)


def test_preconditions_precedence():
    h = CIMultiDict({"If-Match": '"e"', "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    conditions.check(h, "e", 1e9 + 5)  # a true If-Match wins over If-Unmodified-Since
    with pytest.raises(errors.NotModified):
        conditions.check(CIMultiDict({"If-None-Match": '"e"'}), "e", 0)
    with pytest.raises(errors.PreconditionFailed):
        conditions.check(CIMultiDict({"x-amz-copy-source-If-None-Match": '"e"'}), "e", 0,
                         "x-amz-copy-source-")


def test_checksums_known_vectors():
    for algorithm, expected in (("crc32", 0xCBF43926), ("crc32c", 0xE3069283),
                                ("crc64nvme", 0xAE8B14860A799888)):
        h = checksums.new(algorithm)
        h.update(b"1234")
        h.update(b"56789")
        assert int.from_bytes(h.digest(), "big") == expected, algorithm
    h = checksums.new("sha256")
    h.update(b"x")
    assert checksums.b64(h) == base64.b64encode(hashlib.sha256(b"x").digest()).decode()


def test_routing_styles():
    t = routing.resolve("127.0.0.1:8780", "/services/objectstorage/b1/a%20b/../c", ("127.0.0.1",))
    assert (t.bucket, t.key) == ("b1", "a b/../c")
    assert "/b1/a%20b/../c" in t.v2_resources
    t = routing.resolve("b1.localhost:8780", "/k", ("127.0.0.1", "localhost"))
    assert (t.bucket, t.key, t.v2_resources) == ("b1", "k", ("/b1/k",))
    t = routing.resolve("127.0.0.1", "/", ("127.0.0.1",))
    assert t.level == "service"


def test_full_object_crc_combines_parts():
    """A FULL_OBJECT multipart checksum is the CRC of the whole object, made from the
    parts' CRCs and sizes alone."""
    parts = [b"first part " * 1000, b"", b"second", b"x" * 4097]
    for algorithm in checksums.FULL_OBJECT_ALGORITHMS:
        values = []
        for data in parts:
            h = checksums.new(algorithm)
            h.update(data)
            values.append((checksums.b64(h), len(data)))
        whole = checksums.new(algorithm)
        whole.update(b"".join(parts))
        assert checksums.full_object(algorithm, values) == checksums.b64(whole)


def test_object_lock_rules():
    from walrus import objectlock
    from walrus.objectlock import Lock
    now = 1000.0
    gov, comp = Lock("GOVERNANCE", now + 10), Lock("COMPLIANCE", now + 10)
    assert objectlock.deletion_refused(gov, now, bypass=False)
    assert not objectlock.deletion_refused(gov, now, bypass=True)
    assert objectlock.deletion_refused(comp, now, bypass=True)
    assert not objectlock.deletion_refused(comp, now + 11, bypass=False)  # expired
    assert objectlock.deletion_refused(Lock(legal_hold="ON"), now, bypass=True)
    assert not objectlock.deletion_refused(Lock(legal_hold="OFF"), now, bypass=False)
    objectlock.check_retention_change(gov, Lock("COMPLIANCE", now + 10), now, False)
    objectlock.check_retention_change(comp, Lock("COMPLIANCE", now + 20), now, False)
    for old, new, bypass in ((gov, Lock("GOVERNANCE", now + 5), False),
                             (gov, objectlock.NO_LOCK, False),
                             (comp, Lock("GOVERNANCE", now + 99), True),
                             (comp, Lock("COMPLIANCE", now + 5), True)):
        try:
            objectlock.check_retention_change(old, new, now, bypass)
        except errors.AccessDenied:
            continue
        raise AssertionError((old, new, bypass))
    objectlock.check_retention_change(gov, objectlock.NO_LOCK, now, True)
