"""The cosim exception hierarchy.

Every error a user can cause by bad input is a :class:`CosimError`; the CLI
prints its message on one line and exits with :attr:`CosimError.exit_code`.
Failures *inside* a run (outage, packet loss, a late client) are data in the
trace, never exceptions.
"""

from __future__ import annotations


class CosimError(Exception):
    """Base class of all errors cosim raises on purpose."""

    exit_code: int = 1


class ScenarioError(CosimError):
    """A scenario file, override or config value is invalid."""

    exit_code = 2


class ConfigFieldError(ValueError):
    """Raised by a config dataclass's ``__post_init__`` for one bad field.

    The scenario loader catches it and turns it into a :class:`ScenarioError`
    that names the YAML file, line and dotted path of ``field``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TraceFormatError(CosimError):
    """A recorded channel trace or HDF5 run trace is malformed."""

    exit_code = 2


class PayloadError(CosimError):
    """A payload's bytes are corrupt, truncated or of an unknown version."""

    exit_code = 2


class OutputError(CosimError):
    """An output path cannot be written (missing directory, permissions, disk full)."""

    exit_code = 2


class UsageError(CosimError):
    """The command line itself is wrong (unknown flag, missing argument)."""

    exit_code = 2
