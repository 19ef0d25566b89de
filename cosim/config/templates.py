"""Safe names and output path templates (``output.trace_path: runs/{name}-seed{seed}.h5``).

A template is *not* a Python format string: ``str.format`` would evaluate
``{name.__class__}``, honour ``{name:>999999999}`` (a gigabyte of padding) and
fail on ``{0}``. Here a template may use only the documented keys, written
exactly as ``{key}``; ``{{`` and ``}}`` stand for literal braces. Everything
is checked when the scenario is loaded.

Substituted values are names matching :data:`SAFE_NAME` or integers, so a
substitution is always one plain path component: the formatted path stays in
the folder the template points to (``name: ../../x`` cannot move it).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import PurePath

from cosim.errors import ConfigFieldError

# Letters, digits, '.', '_' and '-', starting with a letter or digit (so never '.', '..'
# or an option-like '-x'), at most 64 characters: safe in file names and one-line messages.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def check_safe_name(field: str, value: str) -> None:
    """Require ``value`` to match :data:`SAFE_NAME`.

    Raises:
        ConfigFieldError: naming the field, the value and the allowed characters.
    """
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
        raise ConfigFieldError(
            field, f"must be 1-64 letters, digits, '.', '_' or '-' starting with a letter or "
            f"digit, got {value!r}"
        )


def _parts(field: str, template: str, keys: Collection[str]) -> list[tuple[str, bool]]:
    """``template`` as (text, is_key) pieces; bad placeholders raise ConfigFieldError."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in _TOKEN.finditer(template):
        out.append((template[pos:match.start()], False))
        token = match.group(0)
        if token in ("{{", "}}"):
            out.append((token[0], False))
        elif match.group(1) is not None and match.group(1) in keys:
            out.append((match.group(1), True))
        else:
            allowed = ", ".join("{" + k + "}" for k in keys)
            raise ConfigFieldError(
                field, f"unsupported placeholder {token!r} in {template!r}; use only "
                f"{allowed} (no format specs or attributes), and '{{{{' '}}}}' for braces"
            )
        pos = match.end()
    out.append((template[pos:], False))
    return out


def check_path_template(field: str, template: str, keys: Collection[str]) -> None:
    """Check that ``template`` uses only ``{key}`` for ``key`` in ``keys``.

    Raises:
        ConfigFieldError: an empty template, a control character, or any other
            placeholder (``{0}``, ``{name:>9}``, ``{name.attr}``, a stray brace).
    """
    if not template.strip():
        raise ConfigFieldError(field, "must be a non-empty path")
    if any(not c.isprintable() for c in template):
        raise ConfigFieldError(field, f"must not contain control characters, got {template!r}")
    _parts(field, template, keys)


def expand_path_template(field: str, template: str, values: Mapping[str, str | int]) -> str:
    """``template`` with each ``{key}`` replaced by ``values[key]``.

    Raises:
        ConfigFieldError: a bad placeholder, or a value that is not a safe name
            or an integer (it could add or climb path components).
    """
    for key, value in values.items():
        if not isinstance(value, int):
            check_safe_name(key, value)
    text = "".join(str(values[piece]) if is_key else piece
                   for piece, is_key in _parts(field, template, list(values)))
    literal = "".join("x" if is_key else piece
                      for piece, is_key in _parts(field, template, list(values)))
    if len(PurePath(text).parts) != len(PurePath(literal).parts):
        raise ConfigFieldError(field, f"{text!r} does not stay where {template!r} points")
    return text
