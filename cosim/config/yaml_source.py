"""Load YAML safely while remembering the line of every key.

The scenario loader needs ``file:line`` for any error, including errors found
long after parsing (a bad range in a dataclass ``__post_init__``). We compose
the YAML node tree with :class:`yaml.SafeLoader` (never a full loader, so no
arbitrary Python objects) and convert it ourselves, recording for each dotted
path the 1-based line where its key (or list item) starts.

A scenario is a file people share, so loading one is bounded: at most
:data:`MAX_DOCUMENT_BYTES` of text (a scenario is kilobytes; read from regular
files only, so ``/dev/zero`` or a FIFO cannot stall or exhaust the loader),
at most :data:`MAX_DEPTH` levels of nesting, and at most :data:`MAX_NODES`
values once aliases are expanded (a "billion laughs" document names a few
anchors that expand to billions of values).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

try:  # libyaml's parser; PyYAML wheels ship it
    from yaml.cyaml import CParser
except ImportError:  # pragma: no cover
    CParser = None

from cosim.errors import ScenarioError

Path = tuple[str | int, ...]

MAX_DOCUMENT_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 100_000


def read_text_capped(path: str | os.PathLike[str], what: str = "scenario") -> str:
    """The UTF-8 text of the regular file ``path``, at most :data:`MAX_DOCUMENT_BYTES`.

    Raises:
        ScenarioError: missing, not a regular file (a directory, device or
            FIFO), too large, unreadable or not UTF-8.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"{path}: not a regular file (a {what} file is a YAML text file)")
        if info.st_size > MAX_DOCUMENT_BYTES:
            raise ScenarioError(f"{path}: {info.st_size} bytes is too large for a {what} file "
                                f"(at most {MAX_DOCUMENT_BYTES} bytes)")
        # O_NONBLOCK: a FIFO swapped in after the stat cannot block the open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read {what} file ({exc.strerror or exc})") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ScenarioError(f"{path}: too large for a {what} file "
                            f"(at most {MAX_DOCUMENT_BYTES} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def format_path(path: Path) -> str:
    """``("clients", 0, "model")`` → ``clients[0].model``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part or not part.isprintable() or any(c.isspace() for c in part):
            out += f"[{part!r}]"  # keeps a hostile key (a newline, say) on one line
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
    """Parse ``text`` into a :class:`YamlSource`; malformed YAML → ScenarioError.

    Raises:
        ScenarioError: malformed YAML, or a document over the size, depth or
            expanded-size bounds (see the module docstring).
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ScenarioError(f"{origin}: document too large ({len(text)} characters; "
                            f"at most {MAX_DOCUMENT_BYTES})")
    try:
        node = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{origin}{line}: malformed YAML: {_one_line(problem)}") from None
    except _TooDeep as exc:
        raise ScenarioError(f"{origin}:{exc.line}: nesting deeper than {MAX_DEPTH} levels "
                            "is not a scenario") from None
    source = YamlSource(data=None, origin=origin)
    if node is None:
        source.data = {}
        return source
    source.lines[()] = node.start_mark.line + 1
    source.data = _convert(node, (), source, [MAX_NODES])
    return source


def _compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``: libyaml's parser when it accepts the text, else the
    pure-Python one, whose error messages are clearer (they name the character)."""
    if _CSafeScenarioLoader is not None:
        try:
            return yaml.compose(text, Loader=_CSafeScenarioLoader)
        except (yaml.YAMLError, UnicodeError, _TooDeep):
            pass  # reparsed below for the message (or in the rare case libyaml alone balks)
    return yaml.compose(text, Loader=_SafeScenarioLoader)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _TooDeep(Exception):  # noqa: N818 (internal signal, turned into a ScenarioError)
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _DepthBounded:
    """Composes with a bound on nesting, checked before Python's stack runs out."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.line + 1)  # type: ignore[attr-defined]
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _SafeScenarioLoader(_DepthBounded, yaml.SafeLoader):
    """SafeLoader that also reads ``20e6`` as a float, with bounded nesting.

    YAML 1.1 requires a dot in exponent floats, so plain PyYAML reads ``20e6``
    as the *string* "20e6" — a trap for SI quantities like ``bandwidth_hz``.
    """


_CSafeScenarioLoader: type | None = None
if CParser is not None:
    class _CSafeScenarioLoader(  # type: ignore[no-redef]
            _DepthBounded, CParser, Composer, SafeConstructor, Resolver):  # type: ignore[misc]
        """The same loader on libyaml's scanner and parser (the Python ones are slower).

        libyaml only produces the events (it keeps its own stacks and does not
        recurse); composing (with the depth bound) and resolving stay in Python.
        """

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

        # The Python composer, not libyaml's (which recurses in C with no bound).
        get_single_node = Composer.get_single_node
        check_node = Composer.check_node
        get_node = Composer.get_node


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _loader in (_SafeScenarioLoader, _CSafeScenarioLoader):
    if _loader is not None:
        _loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT,
                                      list("-+0123456789"))

_constructor = _SafeScenarioLoader("")


def _convert(node: yaml.Node, path: Path, source: YamlSource, budget: list[int]) -> Any:
    """Plain data of ``node``; ``budget[0]`` counts down the values still allowed.

    Aliases make the node graph a DAG (or a cycle: ``&a [*a]``), so the depth
    and the number of expanded values are checked here too.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise ScenarioError(
            f"{source.origin}:{node.start_mark.line + 1}: more than {MAX_NODES} values once "
            "aliases are expanded; not a scenario (an alias bomb?)"
        )
    if len(path) > MAX_DEPTH:
        raise ScenarioError(
            f"{source.origin}:{node.start_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels "
            "(a recursive alias?)"
        )
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
            out[key] = _convert(value_node, child, source, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            source.lines[child] = item_node.start_mark.line + 1
            items.append(_convert(item_node, child, source, budget))
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
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            f"{source.origin}:{node.start_mark.line + 1} {format_path(path)}: {_one_line(problem)}"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ScenarioError(
            f"{source.origin}:{node.start_mark.line + 1} {format_path(path)}: "
            f"unreadable value ({_one_line(str(exc))[:120]})"
        ) from None
