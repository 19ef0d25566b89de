"""Field checks for config dataclasses' ``__post_init__``.

Each check raises :class:`cosim.errors.ConfigFieldError` naming the field, the
offending value and what is allowed, e.g. ``bandwidth_hz: must be > 0, got -5``.
The scenario loader prefixes the YAML file, line and full dotted path.
"""

from __future__ import annotations

import math
from collections.abc import Collection

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
