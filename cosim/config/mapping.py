"""Map plain YAML data onto frozen, typed config dataclasses — and back.

Why dataclasses and not pydantic: the configs are small, frozen and typed;
stdlib dataclasses keep the engine and wireless packages free of a schema
framework, and this ~250-line mapper gives us exactly the error format we
need (``file:line dotted.path: message`` with "did you mean").

Supported annotations: ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``,
``X | None``, ``tuple[X, ...]``, ``dict[str, X]``, nested dataclasses, and
unions of dataclasses discriminated by a ``Literal``-typed field present in
every member (e.g. ``model: Literal["uma"] = "uma"``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from cosim.config.limits import check_limit
from cosim.config.yaml_source import Path, YamlSource
from cosim.errors import ConfigFieldError, ScenarioError


def is_list_index(part: str) -> bool:
    """Whether a dotted-path part is a list index: ASCII digits only ('¹' and '٣'
    pass ``str.isdigit`` but are names here; ``int('¹')`` fails)."""
    return part.isascii() and part.isdigit()


@cache
def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's init fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def suggest(word: str, options: typing.Iterable[str]) -> str:
    """A ``; did you mean 'x'?`` suffix, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def describe(tp: Any) -> str:
    """A short human description of an annotation for error messages."""
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is tuple:
        return "a list"
    if origin is dict:
        return "a mapping"
    return str(tp)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def discriminator(members: tuple[type, ...]) -> str:
    """The Literal-typed field name shared by every member of a dataclass union."""
    common: set[str] | None = None
    for member in members:
        names = {n for n, t in field_types(member).items() if get_origin(t) is Literal}
        common = names if common is None else common & names
    if not common:
        raise TypeError(f"union {members} has no shared Literal discriminator field")
    return sorted(common)[0]


def union_member(members: tuple[type, ...], tag: object) -> type | None:
    """The member whose discriminator Literal contains ``tag``."""
    key = discriminator(members)
    for member in members:
        if tag in get_args(field_types(member)[key]):
            return member
    return None


def build(tp: Any, value: Any, source: YamlSource, path: Path = ()) -> Any:
    """Convert ``value`` (found at ``path`` in ``source``) to annotation ``tp``.

    Raises:
        ScenarioError: naming the location, the dotted path and what is allowed.
    """
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, source, path)
    if _is_union(tp):
        args = tuple(a for a in get_args(tp) if a is not type(None))
        if value is None:
            if len(args) < len(get_args(tp)):
                return None
            raise source.error(path, f"must be {describe(args[0])}, got null")
        if len(args) == 1:
            return build(args[0], value, source, path)
        if all(dataclasses.is_dataclass(a) for a in args):
            return _build_tagged(args, value, source, path)
        for arg in args:  # scalar unions such as float | str: first that fits wins
            try:
                return build(arg, value, source, path)
            except ScenarioError:
                continue
        raise source.error(path, f"must be one of {[describe(a) for a in args]}, got {value!r}")
    origin = get_origin(tp)
    if origin is Literal:
        allowed = get_args(tp)
        if value in allowed and type(value) is type(allowed[0]):
            return value
        hint = suggest(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
        raise source.error(path, f"must be {describe(tp)}, got {value!r}{hint}")
    if origin is tuple:
        if not isinstance(value, list):
            raise source.error(path, f"must be a list, got {value!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(build(args[0], v, source, (*path, i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise source.error(path, f"must be a list of {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(build(a, v, source, (*path, i)) for i, (a, v) in pairs)
    if origin is dict:
        if not isinstance(value, dict):
            raise source.error(path, f"must be a mapping, got {value!r}")
        _, value_tp = get_args(tp)
        return {k: build(value_tp, v, source, (*path, k)) for k, v in value.items()}
    return _build_scalar(tp, value, source, path)


def _build_scalar(tp: Any, value: Any, source: YamlSource, path: Path) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float):  # counts are integers: 1e308 must not become one
            raise source.error(path, f"must be an integer (no decimal point or exponent), "
                                     f"got {value!r}")
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported config annotation {tp!r} at {path}")
    raise source.error(path, f"must be {describe(tp)}, got {value!r} ({type(value).__name__})")


def _build_tagged(members: tuple[type, ...], value: Any, source: YamlSource, path: Path) -> Any:
    key = discriminator(members)
    if not isinstance(value, dict):
        raise source.error(path, f"must be a mapping with a '{key}' key, got {value!r}")
    tags = [t for m in members for t in get_args(field_types(m)[key])]
    if key not in value:
        raise source.error(path, f"missing key '{key}' (one of {', '.join(map(repr, tags))})")
    member = union_member(members, value[key])
    if member is None:
        hint = suggest(value[key], map(str, tags)) if isinstance(value[key], str) else ""
        raise source.error(
            (*path, key),
            f"must be one of {', '.join(map(repr, tags))}, got {value[key]!r}{hint}",
        )
    return _build_dataclass(member, value, source, path)


def _build_dataclass(cls: type, value: Any, source: YamlSource, path: Path) -> Any:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise source.error(path, f"must be a mapping, got {value!r}")
    hints = field_types(cls)
    for key in value:
        if key not in hints:
            raise source.error((*path, key), f"unknown key{suggest(str(key), hints)}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in value:
            kwargs[f.name] = build(hints[f.name], value[f.name], source, (*path, f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            what = "section" if dataclasses.is_dataclass(hints[f.name]) else "key"
            raise source.error((*path, f.name), f"missing required {what}")
    try:
        obj = cls(**kwargs)
        # Plausible ranges (cosim.config.limits) after the config's own checks, whose
        # messages are more specific ("must be > 0"); no computation has used the values yet.
        for name, built in kwargs.items():
            check_limit(cls.__name__, name, built)
    except ConfigFieldError as exc:
        parts = (int(p) if is_list_index(p) else p for p in exc.field.split("."))
        raise source.error((*path, *parts), exc.message) from None
    except (ValueError, TypeError) as exc:
        raise source.error(path, str(exc)) from None
    return obj


def to_plain(obj: Any) -> Any:
    """Serialise a config object to plain YAML/JSON data (lossless for :func:`build`)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (tuple, list)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj
