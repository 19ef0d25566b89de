"""Numeric text tables (CSV or whitespace separated) read fast, with exact error locations.

The fast path is pandas' C parser. It is configured so that every physical
line is exactly one row (no quoting, blank lines kept, no NA guessing), which
makes row ``i`` line ``first_data_line + i`` and lets every value check name
its line. Only when pandas rejects the file does :func:`_diagnose` re-read it
line by line in Python to say *where* (field counts, undecodable bytes); the
slow path never runs on good input.

Comment lines starting with ``#`` and blank lines are allowed before the
header (provenance notes); anywhere else they are data, and so an error
(trailing blank lines excepted). Gzip-compressed files (recognised by their
magic bytes, whatever the name) are read transparently.
"""

from __future__ import annotations

import codecs
import gzip
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pandas as pd

from cosim.channels.location import RowLocator, require_file, trace_error
from cosim.errors import TraceFormatError

_NAN_WORDS = {"nan", "+nan", "-nan", "na", "n/a", "null", "none"}
#: Separator spelling for pandas, and for the Python diagnosis.
WHITESPACE = r"\s+"


@dataclass(frozen=True)
class TextHeader:
    """The shape of a text table, found by :func:`scan_header`.

    Attributes:
        path: the file, as the user named it.
        sep: ``","`` or :data:`WHITESPACE`.
        names: header fields, stripped ('' for each field when headerless).
        header_line: 1-based line of the header (None when headerless).
        first_data_line: 1-based line of the first data row.
    """

    path: str
    sep: str
    names: tuple[str, ...]
    header_line: int | None
    first_data_line: int

    @property
    def n_fields(self) -> int:
        """Fields per row."""
        return len(self.names)

    def locator(self, cols: tuple[int, ...] | None = None) -> RowLocator:
        """Locator for value columns ``cols`` (0-based field indices; default all)."""
        cols = tuple(range(self.n_fields)) if cols is None else cols
        return RowLocator(
            self.path,
            self.first_data_line,
            tuple(c + 1 for c in cols),
            tuple(self.names[c] for c in cols),
        )


def is_gzip(path: str) -> bool:
    """Whether ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def open_binary(path: str) -> IO[bytes]:
    """``path`` opened for binary reading, decompressed when it is gzip."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def split_fields(line: str, sep: str) -> list[str]:
    """Split one line the way pandas does for ``sep`` (no quoting)."""
    if sep == WHITESPACE:
        return line.split()
    return line.split(sep)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text


def _decode_error(path: str) -> TraceFormatError:
    """Locate the first undecodable byte by streaming the file (slow path)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with open_binary(path) as raw:
        while True:
            chunk = raw.read(1 << 20)
            # Bytes of an unfinished character carried over from the last chunk.
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                pos = min(max(0, exc.start - pending), max(0, len(chunk) - 1))
                line += len(re.findall(rb"\r\n|\r|\n", chunk[:pos]))
                what = (
                    f"byte 0x{chunk[pos]:02x} at offset {offset + pos}" if chunk else "at the end"
                )
                return trace_error(path, f"not UTF-8 text ({what})", line=line)
            if not chunk:
                break
            line += len(re.findall(rb"\r\n|\r|\n", chunk))
            offset += len(chunk)
    return trace_error(path, "not UTF-8 text")


def _open_text(path: str) -> Iterator[tuple[int, str]]:
    """Stream ``(line number, line without terminator)``; undecodable bytes are errors.

    Universal newlines, like pandas' C tokenizer: \\r\\n, \\r and \\n end a line.
    """
    import io

    try:
        with io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline=None) as text:
            for line_no, line in enumerate(text, start=1):
                yield line_no, line.rstrip("\n")
    except UnicodeDecodeError:
        raise _decode_error(path) from None
    except (OSError, EOFError) as exc:  # a corrupt or truncated gzip stream
        raise trace_error(path, f"unreadable gzip data ({exc})") from None


def _head_lines(path: str, limit: int = 64 * 1024) -> list[str]:
    """The first lines of ``path`` (decoded strictly), enough to find the header."""
    try:
        with open_binary(path) as raw:
            data = raw.read(limit)
    except (OSError, EOFError) as exc:
        raise trace_error(path, f"unreadable gzip data ({exc})") from None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(data, final=len(data) < limit)
    except UnicodeDecodeError:
        # Let the full scan find the exact line.
        for _ in _open_text(path):
            pass
        raise trace_error(path, "not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    return lines if len(data) < limit else lines[:-1]


def scan_header(path: str, *, sep: str, has_header: bool | None) -> TextHeader:
    """Skip leading ``#`` comment lines and read the header line.

    Args:
        sep: ``","`` or :data:`WHITESPACE`; ``"auto"`` picks ``","`` when the
            first non-comment line contains one, else whitespace.
        has_header: True (required), False (none) or None (present when the
            first field of the first non-comment line is not a number).

    Raises:
        TraceFormatError: empty file (nothing but comments and blank lines).
    """
    require_file(path)
    lines = _head_lines(path)
    index = 0
    while index < len(lines) and (
        not lines[index].strip() or lines[index].lstrip().startswith("#")
    ):
        index += 1
    if index >= len(lines) or all(not line.strip() for line in lines[index:]):
        raise trace_error(path, "empty file (no header and no data)")
    first = lines[index]
    if sep == "auto":
        sep = "," if "," in first else WHITESPACE
    fields = [f.strip() for f in split_fields(first, sep)]
    if has_header is None:
        has_header = not (fields and _is_number(fields[0]))
    line_no = index + 1
    if has_header:
        return TextHeader(path, sep, tuple(fields), line_no, line_no + 1)
    return TextHeader(path, sep, ("",) * len(fields), None, line_no)


def _cell_problem(text: str) -> str | None:
    stripped = text.strip()
    if not stripped:
        return "missing value"
    if stripped.lower() in _NAN_WORDS:
        return "NaN value (every sample must be a finite number)"
    if not _is_number(stripped):
        return f"non-numeric value {stripped[:40]!r}"
    return None


def _last_content_line(path: str) -> int:
    """1-based number of the last line with any non-blank character (slow path)."""
    last = 0
    for line_no, line in _open_text(path):
        if line.strip():
            last = line_no
    return last


def _diagnose(head: TextHeader, exc: Exception) -> TraceFormatError:
    """Find the first bad line after pandas rejected the file (slow path)."""
    last = _last_content_line(head.path)
    for line_no, line in _open_text(head.path):
        if line_no < head.first_data_line or line_no > last:
            continue
        fields = split_fields(line, head.sep)
        if not line.strip():
            return trace_error(head.path, "blank line inside the data", line=line_no)
        if len(fields) != head.n_fields:
            return trace_error(
                head.path,
                f"{len(fields)} fields, expected {head.n_fields} like the "
                f"{'header' if head.header_line else 'first row'}",
                line=line_no,
            )
        for col, text in enumerate(fields):
            problem = _cell_problem(text)
            if problem:
                return head.locator().error(line_no - head.first_data_line, col, problem)
    return trace_error(head.path, f"unreadable table ({exc})")


_INTEGER = re.compile(r"\s*\+?\d+\s*")


def _first_non_integer(head: TextHeader, col: int) -> TraceFormatError:
    """Locate the first cell of ``col`` not written as a plain integer (slow path)."""
    for line_no, line in _open_text(head.path):
        if line_no < head.first_data_line or not line.strip():
            continue
        text = split_fields(line, head.sep)[col]
        if not _INTEGER.fullmatch(text):
            return head.locator().error(
                line_no - head.first_data_line, col,
                f"{text.strip()[:40]!r} is not a non-negative integer written as digits "
                "(Mahimahi itself rejects '1e5' and '62479.0')",
            )
    return trace_error(head.path, "a value is not written as an integer")


def _numeric_block(frame: pd.DataFrame, head: TextHeader, row0: int,
                   integers: bool = False) -> tuple[np.ndarray, bool]:
    """Convert a parsed chunk to float64, locating any non-numeric cell.

    Returns the block and whether the file's data ended inside it (only
    trailing blank lines follow, which are dropped).
    """
    if frame.shape[1] != head.n_fields:
        raise _diagnose(head, ValueError(f"{frame.shape[1]} columns"))
    if all(frame[c].dtype.kind not in "iuf" for c in frame.columns):
        blank = np.ones(frame.shape[0], dtype=bool)
        for c in frame.columns:
            blank &= frame[c].astype(str).str.strip().to_numpy(dtype=object) == ""
        if blank.any():
            row = int(np.flatnonzero(blank)[0])
            line = head.first_data_line + row0 + row
            if line <= _last_content_line(head.path):
                raise trace_error(head.path, "blank line inside the data", line=line)
            return _numeric_block(frame.iloc[:row], head, row0, integers)[0], True
    out = np.empty(frame.shape, dtype=np.float64)
    for col in range(frame.shape[1]):
        series = frame.iloc[:, col]
        if integers and series.dtype.kind == "f":
            raise _first_non_integer(head, col)
        if series.dtype.kind in "iuf":
            out[:, col] = series.to_numpy(dtype=np.float64)
            continue
        cells = series.to_numpy(dtype=object)
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        for row in np.flatnonzero(np.isnan(numbers)):
            problem = _cell_problem(str(cells[row]))
            if problem is not None:
                raise head.locator().error(row0 + int(row), col, problem)
        if integers:
            raise _first_non_integer(head, col)
        out[:, col] = numbers
    return out, False


def _quiet(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``frames`` without pandas' DtypeWarning (mixed-type chunks are diagnosed cell by cell)."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            try:
                frame = next(frames)
            except StopIteration:
                return
        yield frame


def iter_numeric_blocks(
    head: TextHeader, *, chunk_rows: int | None = None, integers: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(row0, block)``: float64 blocks of shape (rows, n_fields), in file order.

    ``integers``: every cell must be written as a plain integer (digits only).

    Raises:
        TraceFormatError: a row with the wrong number of fields, a blank line
            inside the data, a non-numeric or missing cell, or no data rows.
    """
    skip = head.first_data_line - 1
    options = {
        "sep": head.sep,
        "header": None,
        "skiprows": skip,
        "index_col": False,
        "quoting": 3,  # csv.QUOTE_NONE: one physical line per row, always
        "skip_blank_lines": False,
        "keep_default_na": False,
        "na_values": [],
        "encoding": "utf-8",
        "dtype": None,
        "compression": "gzip" if is_gzip(head.path) else None,
    }
    row0 = 0
    try:
        if chunk_rows is None:
            frames = _quiet(_read_whole(head.path, options))
        else:
            frames = _quiet(iter(pd.read_csv(head.path, chunksize=chunk_rows, **options)))
        for frame in frames:
            block, ended = _numeric_block(frame, head, row0, integers)
            if block.shape[0]:
                yield row0, block
                row0 += block.shape[0]
            if ended:
                break
    except TraceFormatError:
        raise
    except pd.errors.EmptyDataError:
        pass
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OverflowError, EOFError,
            gzip.BadGzipFile) as exc:
        raise _diagnose(head, exc) from None
    if row0 == 0:
        raise trace_error(head.path, "empty file (no data rows)", line=head.first_data_line)


def _read_whole(path: str, options: dict[str, object]) -> Iterator[pd.DataFrame]:
    """One frame of the whole file (read when first asked for, warnings filtered by the caller)."""
    yield pd.read_csv(path, **options)  # type: ignore[call-overload]


def read_numeric(head: TextHeader, *, integers: bool = False) -> np.ndarray:
    """The whole table as one float64 array (rows, n_fields) (``integers``: digits only)."""
    blocks = [block for _, block in iter_numeric_blocks(head, integers=integers)]
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
