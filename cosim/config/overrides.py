"""Command-line overrides: ``--set wireless.bandwidth_hz=10e6``.

The dotted path is checked against the config *schema* (not just the YAML
text), so a key that exists only as a default can still be overridden, and a
path that does not exist is an error with a "did you mean" hint. The value is
parsed as YAML (``10e6`` → float, ``[1, 2]`` → list, ``true`` → bool) and then
validated by the same mapper as the file, so errors read the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any, get_args, get_origin

from cosim.config.mapping import (
    _is_union,
    discriminator,
    field_types,
    is_list_index,
    suggest,
    union_member,
)
from cosim.config.yaml_source import Path, YamlSource, load_yaml_text
from cosim.errors import ScenarioError

# [0-9], not \d: a list index is ASCII digits ('¹' and '٣' are \d or isdigit()).
_PART = re.compile(r"([^.\[\]]+)|\[([0-9]+)\]")
_KEY = re.compile(r"(?:[^.\[\]]+|\[[0-9]+\])(?:\.[^.\[\]]+|\[[0-9]+\]|\.[0-9]+)*")


def parse_override(text: str) -> tuple[Path, str]:
    """Split ``a.b[0].c=value`` into ``(("a", "b", 0, "c"), "value")``."""
    if "=" not in text:
        raise ScenarioError(f"--set {text}: expected KEY=VALUE with a dotted key")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or not _KEY.fullmatch(key):
        raise ScenarioError(f"--set {text}: malformed key {key!r}")
    parts: list[str | int] = []
    for name, index in _PART.findall(key):
        parts.append(int(index) if index else (int(name) if is_list_index(name) else name))
    return tuple(parts), raw


def apply_overrides(root_type: type, source: YamlSource, overrides: list[str]) -> YamlSource:
    """Return a new source with each override applied and labelled ``--set KEY``."""
    out = YamlSource(
        data=copy.deepcopy(source.data),
        origin=source.origin,
        lines=dict(source.lines),
        labels=dict(source.labels),
    )
    if not isinstance(out.data, dict):
        out.data = {}
    for text in overrides:
        path, raw = parse_override(text)
        label = f"--set {text.split('=', 1)[0].strip()}"
        value = load_yaml_text(raw, label).data if raw.strip() else ""
        _check_path(root_type, out.data, path, label)
        _assign(out.data, path, value, label)
        out.labels[path] = label
    return out


def _check_path(tp: Any, data: Any, path: Path, label: str) -> None:
    for depth, part in enumerate(path):
        while _is_union(tp):
            args = tuple(a for a in get_args(tp) if a is not type(None))
            if len(args) == 1:
                tp = args[0]
                continue
            tag_member = _member_for(args, data, path[: depth + 1], label)
            tp = tag_member
        if dataclasses.is_dataclass(tp):
            hints = field_types(tp)
            if not isinstance(part, str) or part not in hints:
                raise ScenarioError(f"{label}: no such setting '{part}'{suggest(str(part), hints)}")
            tp = hints[part]
            data = data.get(part) if isinstance(data, dict) else None
        elif get_origin(tp) is tuple:
            if not isinstance(part, int):
                raise ScenarioError(f"{label}: '{part}' must be a list index")
            if not isinstance(data, list) or part >= len(data):
                size = len(data) if isinstance(data, list) else 0
                raise ScenarioError(f"{label}: index {part} out of range (list has {size} items)")
            tp = get_args(tp)[0]
            data = data[part]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
            data = data.get(part) if isinstance(data, dict) else None
        else:
            raise ScenarioError(f"{label}: '{part}' goes below a plain value")


def _member_for(args: tuple[type, ...], data: Any, path: Path, label: str) -> type:
    """Pick the union member from the data's discriminator (needed to know its fields)."""

    key = discriminator(args)
    tag = data.get(key) if isinstance(data, dict) else None
    if tag is None:
        tag = get_args(field_types(args[0])[key])[0]
    member = union_member(args, tag)
    if member is None:
        raise ScenarioError(f"{label}: cannot resolve '{key}: {tag}' above this setting")
    return member


def _assign(data: dict[str, Any], path: Path, value: Any, label: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        if isinstance(node, list):
            node = node[part]  # index validated by _check_path
            continue
        # A key below needs a mapping here (an earlier override may have set a list or
        # scalar); list indices were checked against an existing list by _check_path.
        wanted = list if isinstance(path[depth + 1], int) else dict
        if not isinstance(node.get(part), wanted):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
