"""Load YAML safely while remembering the line of every key.

The scenario loader needs ``file:line`` for any error, including errors found
long after parsing (a bad range in a dataclass ``__post_init__``). We compose
the YAML node tree with :class:`yaml.SafeLoader` (never a full loader, so no
arbitrary Python objects) and convert it ourselves, recording for each dotted
path the 1-based line where its key (or list item) starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from cosim.errors import ScenarioError

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("clients", 0, "model")`` → ``clients[0].model``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


@dataclass
class YamlSource:
    """Parsed YAML data plus where each path came from.

    Attributes:
        data: plain Python data (dicts, lists, scalars).
        origin: a label for messages, usually the file name.
        lines: 1-based line of each path's key; the root is line 1.
        labels: a non-line origin for a path, e.g. ``--set wireless.bandwidth_hz``.
    """

    data: Any
    origin: str
    lines: dict[Path, int] = field(default_factory=dict)
    labels: dict[Path, str] = field(default_factory=dict)

    def where(self, path: Path) -> str:
        """The best location label for ``path``: exact, or its nearest known parent."""
        probe = tuple(path)
        while True:
            if probe in self.labels:
                return self.labels[probe]
            if probe in self.lines:
                return f"{self.origin}:{self.lines[probe]}"
            if not probe:
                return self.origin
            probe = probe[:-1]

    def error(self, path: Path, message: str) -> ScenarioError:
        """A :class:`ScenarioError` reading ``file:line path: message``."""
        return ScenarioError(f"{self.where(path)} {format_path(path)}: {message}")


def load_yaml_text(text: str, origin: str) -> YamlSource:
    """Parse ``text`` into a :class:`YamlSource`; malformed YAML → ScenarioError."""
    try:
        node = yaml.compose(text, Loader=_ScenarioLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{origin}{line}: malformed YAML: {problem}") from None
    source = YamlSource(data=None, origin=origin)
    if node is None:
        source.data = {}
        return source
    source.lines[()] = node.start_mark.line + 1
    source.data = _convert(node, (), source)
    return source


class _ScenarioLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``20e6`` as a float.

    YAML 1.1 requires a dot in exponent floats, so plain PyYAML reads ``20e6``
    as the *string* "20e6" — a trap for SI quantities like ``bandwidth_hz``.
    """


_ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_constructor = _ScenarioLoader("")


def _convert(node: yaml.Node, path: Path, source: YamlSource) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path, source)
            if key == "<<":
                raise ScenarioError(
                    f"{source.origin}:{key_node.start_mark.line + 1} {format_path(path)}: "
                    "YAML merge keys ('<<') are not supported; write the keys out"
                )
            if not isinstance(key, str):
                raise ScenarioError(
                    f"{source.origin}:{key_node.start_mark.line + 1} {format_path(path)}: "
                    f"keys must be strings, got {key!r}"
                )
            child = (*path, key)
            if key in out:
                raise ScenarioError(
                    f"{source.origin}:{key_node.start_mark.line + 1} {format_path(child)}: "
                    "duplicate key"
                )
            source.lines[child] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, child, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            source.lines[child] = item_node.start_mark.line + 1
            items.append(_convert(item_node, child, source))
        return items
    return _scalar(node, path, source)


def _scalar(node: yaml.Node, path: Path, source: YamlSource) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ScenarioError(
            f"{source.origin}:{node.start_mark.line + 1} {format_path(path)}: "
            "complex keys are not supported"
        )
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ScenarioError(
            f"{source.origin}:{node.start_mark.line + 1} {format_path(path)}: {exc}"
        ) from None
