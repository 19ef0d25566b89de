"""Field checks for config dataclasses' ``__post_init__``.

Each check raises :class:`cosim.errors.ConfigFieldError` naming the field, the
offending value and what is allowed, e.g. ``bandwidth_hz: must be > 0, got -5``.
The scenario loader prefixes the YAML file, line and full dotted path.

Allowed values of a ``Literal[...]``-typed field are listed once, in the
annotation: :func:`check_literals` reads them from there.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Collection
from functools import cache
from typing import Literal, get_args, get_origin

from cosim.errors import ConfigFieldError


def _finite(field: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigFieldError(field, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigFieldError(field, f"must be finite, got {value!r}")


def check_positive(field: str, value: float) -> None:
    """Require ``value > 0`` (and finite)."""
    _finite(field, value)
    if value <= 0:
        raise ConfigFieldError(field, f"must be > 0, got {value!r}")


def check_non_negative(field: str, value: float) -> None:
    """Require ``value >= 0`` (and finite)."""
    _finite(field, value)
    if value < 0:
        raise ConfigFieldError(field, f"must be >= 0, got {value!r}")


def check_range(
    field: str,
    value: float,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Require ``low <= value <= high`` (brackets configurable)."""
    _finite(field, value)
    ok_low = value >= low if low_inclusive else value > low
    ok_high = value <= high if high_inclusive else value < high
    if not (ok_low and ok_high):
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        raise ConfigFieldError(field, f"must be in {lb}{low}, {high}{hb}, got {value!r}")


def check_probability(field: str, value: float) -> None:
    """Require ``0 <= value <= 1``."""
    check_range(field, value, 0.0, 1.0)


def check_int_range(field: str, value: int, low: int, high: int | None = None) -> None:
    """Require an integer with ``low <= value`` (and ``<= high`` when given)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigFieldError(field, f"must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigFieldError(field, f"must be {allowed}, got {value!r}")


def check_choice(field: str, value: object, allowed: Collection[object]) -> None:
    """Require ``value`` to be one of ``allowed``."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ConfigFieldError(field, f"must be one of {options}, got {value!r}")


@cache
def literal_fields(cls: type) -> tuple[tuple[str, tuple[object, ...]], ...]:
    """``(name, allowed values)`` of each ``Literal[...]``-typed init field of dataclass ``cls``.

    Read from the resolved annotations (``typing.get_type_hints``), so the
    ``Literal`` is the only list of the values.
    """
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, get_args(hints[f.name]))
        for f in dataclasses.fields(cls)
        if f.init and get_origin(hints[f.name]) is Literal
    )


def check_literals(config: object) -> None:
    """Require every ``Literal[...]``-typed field of dataclass ``config`` to hold one of its values.

    Call from ``__post_init__``; the error names the first bad field, e.g.
    ``scheduler: must be one of 'round_robin', 'max_rate', got 'fifo'``.
    """
    for name, allowed in literal_fields(type(config)):
        check_choice(name, getattr(config, name), allowed)
