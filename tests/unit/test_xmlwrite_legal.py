"""The shared emitter never writes a character XML 1.0 cannot carry (issue 11,
defects 11 and 22): one stored description with a NUL made DescribeImages
unparsable for every account, and error messages echo what clients send."""
import xml.etree.ElementTree as ET

import pytest

from mallee.errors import InvalidParameterValue
from mallee.xmlwrite import document
from cloud_controller.api.render import render_ec2_error

ILLEGAL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ud800", "\udfff",
           "\ufffe", "\uffff"]
LEGAL = ["\t", "\n", "é", "\u2028", "\ue000", "\ufffd", "\U0001f600", "\U0010ffff", "<&>\"'"]


@pytest.mark.parametrize("char", ILLEGAL)
def test_an_illegal_character_becomes_the_replacement_character(char):
    xml = document("R", {"@attr": f"a{char}b", "text": f"x{char}y", "list": [f"{char}"]})
    root = ET.fromstring(xml)
    assert root.get("attr") == "a\ufffdb"
    assert root.find("text").text == "x\ufffdy"
    assert root.find("list/item").text == "\ufffd"


@pytest.mark.parametrize("char", LEGAL)
def test_legal_characters_are_kept(char):
    root = ET.fromstring(document("R", {"@attr": f"a{char}b", "text": f"x{char}y"},
                                  lists="repeat"))
    assert root.find("text").text == f"x{char}y".replace("\r", "\n")
    assert root.get("attr") == f"a{char}b"


def test_an_error_that_echoes_a_nul_is_still_xml():
    err = InvalidParameterValue("Value (a\x00b\uffff) for parameter GroupDescription is invalid.")
    message = ET.fromstring(render_ec2_error(err, "req-1")).find("Errors/Error/Message").text
    assert message == "Value (a\ufffdb\ufffd) for parameter GroupDescription is invalid."
