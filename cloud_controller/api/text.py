"""Text parameters checked as EC2 checks them, before anything is stored.

Every parameter refuses what XML 1.0 cannot carry (query.parse calls
`check_xml_text`): stored, such a character made every later Describe of it
unparsable. Security group names, descriptions and rule descriptions take
EC2's VPC character set, with EC2's own messages.
"""
from __future__ import annotations

import re

from mallee import errors

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SG_CHARSET = "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"
_SG_TEXT = re.compile(r"[A-Za-z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}")
MAX_IMAGE_DESCRIPTION = 255


def check_xml_text(raw: str, wire: str) -> None:
    found = _NOT_XML.search(raw)
    if found:
        raise errors.InvalidParameterValue(
            f"Value ({raw[:64]}) for parameter {wire} is invalid. Character "
            f"U+{ord(found.group()):04X} is not allowed.")


def _sg_text(text: str | None, invalid: str) -> None:
    if text is not None and not _SG_TEXT.fullmatch(text):
        raise errors.InvalidParameterValue(
            f"{invalid} less than 256 characters from the following set:  {SG_CHARSET}")


def check_group_name(name: str | None) -> None:
    _sg_text(name, "Invalid security group name. Valid names are non-empty strings")


def check_group_description(text: str) -> None:
    if not text.isascii():
        raise errors.InvalidParameterValue(
            f"Value ({text}) for parameter GroupDescription is invalid. Character sets beyond "
            "ASCII are not supported.")
    _sg_text(text, "Invalid security group description. Valid descriptions are strings")


def check_rule_description(text: str | None) -> None:
    _sg_text(text, "Invalid rule description. Valid descriptions are strings")


def check_image_description(text: str | None) -> None:
    if text is not None and len(text) > MAX_IMAGE_DESCRIPTION:
        raise errors.InvalidParameterValue(
            f"Value for parameter Description is invalid. Length exceeds maximum of "
            f"{MAX_IMAGE_DESCRIPTION}.")
