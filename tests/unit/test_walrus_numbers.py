"""Numbers from the wire (issue 11, defects 1 and 14): ASCII digits only and of bounded
length, so '²', '٥', '-1', '1_0' and 5,000-digit strings are refused or ignored as S3
does, never a 500 from int() and never a parser loop that consumes nothing."""
import asyncio

import pytest
from multidict import CIMultiDict

from tests.unit.test_walrus_pure import FakeReader
from walrus import conditions, errors, numbers
from walrus.chunked import AwsChunkedDecoder


class CountingReader(FakeReader):
    """Fails at once if the decoder asks for nothing: such a read returns b"" without
    suspending, so a loop around it would hold the event loop forever."""

    async def readexactly(self, n: int) -> bytes:
        assert n > 0, "readexactly(<=0) consumes nothing"
        return await super().readexactly(n)


def _decode(data: bytes) -> bytes:
    async def main():
        return b"".join([piece async for piece in AwsChunkedDecoder(CountingReader(data))])
    return asyncio.run(main())


@pytest.mark.parametrize("text, value", [("0", 0), ("007", 7), ("12345", 12345)])
def test_decimal_accepts_ascii_digits(text, value):
    assert numbers.decimal(text) == value


@pytest.mark.parametrize("text", ["", "²", "٥", "-1", "+1", " 1", "1 ", "1_0", "1e3", "0x1",
                                  "1" * 5000, "9" * 20])
def test_decimal_refuses_everything_else(text):
    assert numbers.decimal(text) is None


def test_hex_chunk_sizes():
    assert numbers.hexadecimal("ff") == 255 and numbers.hexadecimal("0") == 0
    for text in ("-1", "+1", "1_0", "٥", "0x1", "", "f" * 17):
        assert numbers.hexadecimal(text) is None, text


@pytest.mark.parametrize("size", [b"-1", b"+5", b"1_0", "٥".encode(), b"f" * 17, b"zz"])
def test_chunk_sizes_that_are_not_bounded_hex_are_incomplete_bodies(size):
    # -1 made readexactly(-1) return b"" at once: the loop never ended and never yielded.
    body = size + b";chunk-signature=00\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(errors.IncompleteBody):
        _decode(body)


def test_trailer_lines_are_bounded():
    body = b"0\r\n" + b"x-a:b\r\n" * 1000 + b"\r\n"
    with pytest.raises(errors.IncompleteBody):
        _decode(body)


@pytest.mark.parametrize("header", ["bytes=" + "1" * 5000 + "-", "bytes=0-" + "9" * 5000,
                                    "bytes=-" + "9" * 5000, "bytes=٠-٠", "bytes=²-",
                                    "bytes=0-" + "9" * 20])
def test_ranges_with_unparsable_numbers_are_ignored(header):
    # S3 ignores a Range it cannot parse and returns the whole object (200).
    assert conditions.parse_range(header, 100) is None


def test_range_with_long_but_bounded_last_byte_is_clamped():
    assert conditions.parse_range("bytes=5-99999999999", 100) == (5, 99)
    assert conditions.parse_range("bytes=0005-0009", 100) == (5, 9)


@pytest.mark.parametrize("date", ["Mon, 01 Jan 2020 00:00:00 +9999999999999999",
                                  "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
                                  "Mon, 01 Jan 2020 00:00:00 -9999"])
def test_unparsable_condition_dates_are_ignored(date):
    # parsedate_to_datetime raises OverflowError on some of these: it was a 500.
    for name in ("If-Modified-Since", "If-Unmodified-Since"):
        conditions.check(CIMultiDict({name: date}), "e", 1e9)
