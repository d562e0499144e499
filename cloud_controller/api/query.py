"""Typed parsing of flattened Query-protocol parameters.

EC2 sends lists as Name.N and structures as Name.Member (Filter.1.Name,
Filter.1.Value.1, TagSpecification.1.Tag.1.Key). A request is a dataclass
whose fields carry their wire name: `param("KeyName")`. `parse(cls, params)`
fills it, raising MissingParameter / InvalidParameterValue for bad input.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field

from mallee import errors

_INDEX = re.compile(r"^(\d+)(?:\.|$)")


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
        try:
            return int(raw)
        except ValueError:
            raise errors.InvalidParameterValue(
                f"Value ({raw}) for parameter {wire} is invalid. Expected an integer.")
    return raw


def _unwrap_optional(hint):
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType")):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def parse(cls, params: Params | dict, prefix: str = ""):
    if isinstance(params, dict):
        params = Params(params)
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
