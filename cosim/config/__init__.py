"""Scenario configuration: YAML with line numbers mapped onto frozen dataclasses."""

from cosim.config.checks import (
    check_choice,
    check_int_range,
    check_non_negative,
    check_positive,
    check_probability,
    check_range,
)

__all__ = [
    "check_choice",
    "check_int_range",
    "check_non_negative",
    "check_positive",
    "check_probability",
    "check_range",
]
