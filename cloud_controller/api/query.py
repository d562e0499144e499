"""Typed parsing of flattened Query-protocol parameters.

EC2 sends lists as Name.N and structures as Name.Member (Filter.1.Name,
Filter.1.Value.1, TagSpecification.1.Tag.1.Key). A request is a dataclass
whose fields carry their wire name: `param("KeyName")`. `parse(cls, params)`
fills it, raising MissingParameter / InvalidParameterValue for bad input,
and UnknownParameter, as EC2 does, for a parameter the action does not take.

A parameter EC2 takes that this cloud does not act on (RunInstances'
Monitoring, say) is listed in the request type's `IGNORED` (a ClassVar
tuple of wire names), so real clients' optional parameters are accepted;
tests/unit/test_request_shapes.py checks every action against botocore's
model, so a legal parameter is never UnknownParameter.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field

from mallee import errors

_INDEX = re.compile(r"^(\d+)(?:\.|$)")
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


def param(name: str, *, required: bool = False, default=dataclasses.MISSING):
    """A request field named `name` on the wire."""
    meta = {"wire": name, "required": required}
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


class Params:
    """The request's flat parameters, indexed for prefix look-ups."""

    def __init__(self, flat: dict[str, str]):
        self.flat = flat

    def get(self, key: str) -> str | None:
        return self.flat.get(key)

    def indices(self, prefix: str) -> list[int]:
        found = set()
        start = prefix + "."
        for key in self.flat:
            if key.startswith(start):
                m = _INDEX.match(key[len(start):])
                if m:
                    found.add(int(m.group(1)))
        return sorted(found)

    def has_prefix(self, prefix: str) -> bool:
        return any(k.startswith(prefix + ".") for k in self.flat)


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


def parse(cls, params: Params | dict, prefix: str = ""):
    if isinstance(params, dict):
        params = Params(params)
    if not prefix:
        check_known(cls, params)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if "wire" not in f.metadata:
            continue
        wire = prefix + f.metadata["wire"]
        hint = _unwrap_optional(hints[f.name])
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
            if raw is None:
                if f.metadata["required"]:
                    raise errors.MissingParameter(
                        f"The request must contain the parameter {wire}")
                continue
            values[f.name] = _scalar(hint, raw, wire)
    return cls(**values)
