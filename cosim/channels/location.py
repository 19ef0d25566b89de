"""Where in a trace file something is wrong, and the error that says so.

Every malformed-input error raised by :mod:`cosim.channels` goes through
:func:`trace_error`, so that messages share one shape::

    channels/walk.csv, line 7, column 2 ('snr_db_0'): non-numeric value 'abc'

Lines and columns are 1-based; "column" is the field number in the row (not
the character offset), followed by its header name when the file has one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cosim.errors import TraceFormatError


def trace_error(
    path: str | os.PathLike[str],
    message: str,
    *,
    line: int | None = None,
    column: int | None = None,
    name: str | None = None,
) -> TraceFormatError:
    """Build (not raise) a :class:`TraceFormatError` located at ``path:line:column``."""
    where = str(path)
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column {column}"
        if name:
            where += f" ({name!r})"
    return TraceFormatError(f"{where}: {message}")


@dataclass(frozen=True)
class RowLocator:
    """Maps a data-row index to its file line and a value column to its field.

    Text readers keep one physical line per row (no quoting, no skipped blank
    lines), so row ``i`` sits on line ``first_data_line + i``.

    Attributes:
        path: the file, as the user named it.
        first_data_line: 1-based line of data row 0.
        fields: 1-based field number of each value column, in array order.
        names: header name of each value column ('' when headerless).
    """

    path: str
    first_data_line: int
    fields: tuple[int, ...]
    names: tuple[str, ...]

    def error(self, row: int, col: int | None, message: str) -> TraceFormatError:
        """Error at data row ``row`` and value column ``col`` (``None``: whole row)."""
        if col is None:
            return trace_error(self.path, message, line=self.first_data_line + int(row))
        return trace_error(
            self.path,
            message,
            line=self.first_data_line + int(row),
            column=self.fields[col],
            name=self.names[col] or None,
        )

    def subset(self, cols: Sequence[int]) -> RowLocator:
        """The locator of a column subset (in the given order)."""
        return RowLocator(
            self.path,
            self.first_data_line,
            tuple(self.fields[c] for c in cols),
            tuple(self.names[c] for c in cols),
        )


@dataclass(frozen=True)
class ArrayLocator:
    """Locator for values stored in an HDF5 dataset: 'line' is the 1-based row."""

    path: str
    dataset: str
    names: tuple[str, ...]

    def error(self, row: int, col: int | None, message: str) -> TraceFormatError:
        """Error at row ``row`` (0-based) and column ``col`` of the dataset."""
        where = f"{self.path}, dataset {self.dataset}, row {int(row) + 1}"
        if col is not None:
            where += f", column {col + 1}"
            if self.names and self.names[col]:
                where += f" ({self.names[col]!r})"
        return TraceFormatError(f"{where}: {message}")


class Locator(Protocol):
    """Anything that turns a (row, column) of a value block into a located error."""

    def error(self, row: int, col: int | None, message: str) -> TraceFormatError:
        """The error for ``row`` (0-based data row) and ``col`` (value column, or None)."""
        ...


def first_true(mask: np.ndarray) -> tuple[int, int | None] | None:
    """``(row, col)`` of the first True in row-major order (``col`` None for 1-D), or None."""
    if mask.ndim == 1:
        hits = np.flatnonzero(mask)
        return (int(hits[0]), None) if hits.size else None
    hits = np.flatnonzero(mask.ravel())
    if not hits.size:
        return None
    row, col = divmod(int(hits[0]), mask.shape[1])
    return row, col


def require_file(path: str) -> None:
    """Raise a :class:`TraceFormatError` unless ``path`` is a readable regular file.

    Says what is there instead: nothing, a directory, or a FIFO/socket/device.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise trace_error(path, "no such file") from None
    except OSError as exc:
        raise trace_error(path, f"cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise trace_error(path, "is a directory; name a trace file")
    if not stat.S_ISREG(mode):
        raise trace_error(path, "not a regular file (a FIFO, socket or device); traces must "
                          "be files, since replay reads them more than once")
    if not os.access(path, os.R_OK):
        raise trace_error(path, "cannot read (permission denied)")
