"""Typed parsing of flattened Query-protocol parameters.

EC2 sends lists as Name.N and structures as Name.Member (Filter.1.Name,
Filter.1.Value.1, TagSpecification.1.Tag.1.Key). A request is a dataclass
whose fields carry their wire name: `param("KeyName")`. `parse(cls, params)`
fills it, raising MissingParameter / InvalidParameterValue for bad input,
and UnknownParameter, as EC2 does, for a parameter the action does not take.

An empty scalar (`Placement.AvailabilityZone=`, which Terraform always sends)
is a parameter not given, checked here once for every action; a required one
sent empty is MissingParameter.

A parameter EC2 takes that this cloud does not act on (RunInstances'
Monitoring, say) is listed in the request type's `IGNORED` (a ClassVar
tuple of wire names), so real clients' optional parameters are accepted;
tests/unit/test_request_shapes.py checks every action against botocore's
model, so a legal parameter is never UnknownParameter.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import typing
from dataclasses import dataclass, field

from cloud_controller.api.text import check_xml_text
from mallee import errors

# EC2's Integer is 32-bit: ASCII digits only (int() takes ' 5', '+5', '1_0' and
# '٣', and no more than 4,300 digits), then the range, so no handler or sqlite
# ever sees a number it cannot hold.
_INTEGER = re.compile(r"-?[0-9]{1,10}")
INT_MIN, INT_MAX = -2**31, 2**31 - 1

# Parameters of every request, not of its action: the protocol's and SigV2's and
# SigV4's query authentication (X-Amz-Algorithm, X-Amz-Credential, ...).
COMMON = frozenset({"Action", "Version", "AWSAccessKeyId", "SignatureVersion",
                    "SignatureMethod", "Signature", "Timestamp", "Expires", "SecurityToken"})
COMMON_PREFIXES = ("X-Amz-",)


def param(name: str, *, required: bool = False, default=dataclasses.MISSING,
          empty_is_value: bool = False):
    """A request field named `name` on the wire. An empty value (`Name=`) means the
    parameter was not given, as EC2 treats it (the SDKs send optional members they
    hold as ""); `empty_is_value` marks the few where "" is a value (DeleteTags'
    Tag.N.Value="" deletes only a tag whose value is empty)."""
    meta = {"wire": name, "required": required, "empty_is_value": empty_is_value}
    if default is not dataclasses.MISSING:
        return field(default=default, metadata=meta)
    return field(default=None, metadata=meta)


def listparam(name: str, *, required: bool = False):
    return field(default_factory=list, metadata={"wire": name, "required": required})


@dataclass
class Filter:
    name: str = param("Name", required=True)
    values: list[str] = listparam("Value")


@dataclass
class Tag:
    key: str = param("Key", required=True)
    value: str = param("Value", default="")


@dataclass
class TagSpecification:
    resource_type: str = param("ResourceType")
    tags: list[Tag] = listparam("Tag")


@dataclass
class AttributeValue:
    """EC2's AttributeValue: `X.Value=...` of a Modify*Attribute."""
    value: str = param("Value")


@dataclass
class BooleanValue:
    """EC2's AttributeBooleanValue: `X.Value=true`."""
    value: bool = param("Value")


class Params:
    """The request's flat parameters, indexed once by prefix: scanning every key
    for each list and structure made parsing quadratic (8,000 filters took 3 s
    on the event loop)."""

    def __init__(self, flat: dict[str, str]):
        self.flat = flat
        self._prefixes: set[str] = set()  # every "A", "A.1", "A.1.B" before a dot
        self._indices: dict[str, set[int]] = {}  # "A.1.B" -> {N for each A.1.B.N...}
        for key in flat:
            self._index(key)

    def _index(self, key: str) -> None:
        first, *rest = key.split(".")
        prefix = first
        for segment in rest:
            self._prefixes.add(prefix)
            # a list position: ASCII digits, bounded (isdigit() alone takes '²')
            if segment.isdigit() and segment.isascii() and len(segment) <= 9:
                self._indices.setdefault(prefix, set()).add(int(segment))
            prefix = f"{prefix}.{segment}"

    def get(self, key: str) -> str | None:
        return self.flat.get(key)

    def indices(self, prefix: str) -> list[int]:
        return sorted(self._indices.get(prefix, ()))

    def has_prefix(self, prefix: str) -> bool:
        return prefix in self._prefixes


def _scalar(hint, raw: str, wire: str):
    if hint is bool:
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise errors.InvalidParameterValue(
                f"Value ({raw}) for parameter {wire} is invalid. Expected: 'true' or 'false'.")
        return lowered == "true"
    if hint is int:
        if not _INTEGER.fullmatch(raw) or not INT_MIN <= int(raw) <= INT_MAX:
            raise errors.InvalidParameterValue(
                f"Value ({raw[:64]}) for parameter {wire} is invalid. Expected an integer "
                f"from {INT_MIN} to {INT_MAX}.")
        return int(raw)
    check_xml_text(raw, wire)
    return raw


def _unwrap_optional(hint):
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType")):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def wire_names(cls) -> set[str]:
    """The top-level wire names a request type takes: its fields' and IGNORED's."""
    return ({f.metadata["wire"] for f in dataclasses.fields(cls) if "wire" in f.metadata}
            | set(getattr(cls, "IGNORED", ())))


def check_known(cls, params: Params) -> None:
    """UnknownParameter for the first parameter that neither `cls` nor every request takes
    (a list or structure parameter is known by its name before the first dot)."""
    known = wire_names(cls)
    for key in sorted(params.flat):
        if not key or key in COMMON or key.startswith(COMMON_PREFIXES):
            continue
        if key not in known and key.split(".", 1)[0] not in known:
            raise errors.UnknownParameter(f"The parameter {key.split('.', 1)[0]} is not "
                                          f"recognized")


@functools.lru_cache(maxsize=None)
def _wire_fields(cls) -> tuple[tuple[dataclasses.Field, str, object], ...]:
    """(field, wire name, type) of a request type: get_type_hints is costly, and
    a 5,000-filter request would call it once per filter."""
    hints = typing.get_type_hints(cls)
    return tuple((f, f.metadata["wire"], _unwrap_optional(hints[f.name]))
                 for f in dataclasses.fields(cls) if "wire" in f.metadata)


def parse(cls, params: Params | dict, prefix: str = ""):
    if isinstance(params, dict):
        params = Params(params)
    if not prefix:
        check_known(cls, params)
    values = {}
    for f, name, hint in _wire_fields(cls):
        wire = prefix + name
        if typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint)
            indices = params.indices(wire)
            if dataclasses.is_dataclass(item):
                value = [parse(item, params, f"{wire}.{i}.") for i in indices]
            else:
                value = [_scalar(item, params.get(f"{wire}.{i}") or "", f"{wire}.{i}")
                         for i in indices if params.get(f"{wire}.{i}") is not None]
            if f.metadata["required"] and not value:
                raise errors.MissingParameter(f"The request must contain the parameter {wire}")
            values[f.name] = value
        elif dataclasses.is_dataclass(hint):
            if params.has_prefix(wire):
                values[f.name] = parse(hint, params, wire + ".")
            elif f.metadata["required"]:
                raise errors.MissingParameter(f"The request must contain the parameter {wire}")
        else:
            raw = params.get(wire)
            if raw == "" and not f.metadata.get("empty_is_value"):
                raw = None  # EC2: an empty optional parameter is one not given
            if raw is None:
                if f.metadata["required"]:
                    raise errors.MissingParameter(
                        f"The request must contain the parameter {wire}")
                continue
            values[f.name] = _scalar(hint, raw, wire)
    return cls(**values)
