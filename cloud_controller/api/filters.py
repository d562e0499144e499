"""EC2 Filter.N semantics: values of one filter are OR-ed, filters are AND-ed,
`*` and `?` are wildcards, and tag:K / tag-key / tag-value work on any
taggable resource. An unknown filter name is InvalidParameterValue, as in EC2.
"""
from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any, Callable, Iterable

from mallee import errors
from cloud_controller.api.query import Filter

Getter = Callable[[Any], "str | Iterable[str] | None"]


@lru_cache(maxsize=1024)
def _pattern(value: str) -> re.Pattern:
    return re.compile(fnmatch.translate(value), re.DOTALL)


def _values(raw) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, (str, int, bool)):
        raw = [raw]
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in raw]


class FilterSet:
    def __init__(self, filters: list[Filter], fields: dict[str, Getter],
                 tags: Callable[[Any], dict[str, str]] | None = None):
        self.fields, self.tags = fields, tags
        self.filters = []
        for f in filters:
            taggy = f.name.startswith("tag:") or f.name in ("tag-key", "tag-value")
            if f.name not in fields and not (taggy and tags):
                raise errors.InvalidParameterValue(f"The filter '{f.name}' is invalid")
            self.filters.append((f.name, [_pattern(v) for v in f.values]))

    def _candidates(self, name: str, item) -> list[str]:
        if name in self.fields:
            return _values(self.fields[name](item))
        tags = self.tags(item)
        if name == "tag-key":
            return list(tags)
        if name == "tag-value":
            return list(tags.values())
        key = name[4:]
        return [tags[key]] if key in tags else []

    def matches(self, item) -> bool:
        for name, patterns in self.filters:
            candidates = self._candidates(name, item)
            if not any(p.match(c) for p in patterns for c in candidates):
                return False
        return True

    def apply(self, items: Iterable) -> list:
        return [i for i in items if self.matches(i)]
