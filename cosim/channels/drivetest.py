"""Drive-test CSV logs: arbitrary columns, two of them mapped to time and SNR or rate.

LTE/5G measurement tools export one row per measurement with many columns,
e.g.::

    Timestamp,RSRP,SNR,CQI,UL_bitrate
    2024-05-02 10:00:00.000,-95,12.5,11,18250
    2024-05-02 10:00:00.500,-97,10.1,10,15100

:class:`cosim.channels.config.DriveTestColumns` names the time column and its unit (seconds,
milliseconds, microseconds or date-times) and one value column with its
unit: ``dB``/``linear`` for an SNR, ``bit/s``…``Gbit/s`` for a rate. Other
columns are ignored, whatever they hold. Values become SNR [dB] or rate
[bit/s]; time becomes seconds since the first row.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from cosim.channels.config import DriveTestColumns
from cosim.channels.location import trace_error
from cosim.channels.series import ChannelTrace, infer_end_s
from cosim.channels.textio import WHITESPACE, TextHeader, is_gzip, scan_header
from cosim.channels.validate import (
    check_finite,
    check_non_negative_rate,
    check_snr_range,
    check_time,
)
from cosim.errors import TraceFormatError

_TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_RATE_SCALE = {"bit/s": 1.0, "kbit/s": 1e3, "Mbit/s": 1e6, "Gbit/s": 1e9}
_SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "whitespace": WHITESPACE}


def _is_rate(columns: DriveTestColumns) -> bool:
    return columns.value_unit in _RATE_SCALE


def _column_index(head: TextHeader, name: str, role: str) -> int:
    if name not in head.names:
        raise trace_error(
            head.path,
            f"no {role} column {name!r} in the header (columns: {', '.join(head.names)})",
            line=head.header_line,
        )
    return head.names.index(name)


def _times(cells: pd.Series, head: TextHeader, col: int, unit: str,
           time_format: str = "") -> np.ndarray:
    text = cells.astype(str).str.strip()
    if unit == "datetime":
        parsed = pd.to_datetime(text, errors="coerce", format=time_format or "ISO8601")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            row = int(bad[0])
            what = f"a date-time in format {time_format!r}" if time_format else \
                "an ISO-8601 date-time (set columns.time_format for other layouts)"
            raise head.locator((col,)).error(
                row, 0, f"not {what}: {text.iloc[row][:40]!r}"
            )
        ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        return (ns - ns[0]) / 1e9
    try:
        values = _numbers(text, head, col)
    except TraceFormatError as exc:
        if any(c in str(exc) for c in ":-/T") and "non-numeric" in str(exc):
            raise TraceFormatError(f"{exc} (date-times need columns.time_unit: datetime)") from None
        raise
    return values * _TIME_SCALE[unit]


def _numbers(text: pd.Series, head: TextHeader, col: int) -> np.ndarray:
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values))
    for row in bad:
        cell = text.iloc[int(row)]
        if cell.lower() not in ("nan", "+nan", "-nan"):
            what = "missing value" if not cell else f"non-numeric value {cell[:40]!r}"
            raise head.locator((col,)).error(int(row), 0, what)
    check_finite(values[:, None], head.locator((col,)))
    return values


def read_drive_test(
    path: str | os.PathLike[str],
    columns: DriveTestColumns,
    *,
    allow_out_of_range_snr: bool = False,
) -> ChannelTrace:
    """Load the mapped columns of a drive-test log as a one-column trace.

    Raises:
        TraceFormatError: a mapped column missing from the header, a row with
            a missing, non-numeric, NaN/inf or unparseable cell in a mapped
            column, time going backwards, duplicate times (``duplicates:
            error``), negative rates or an SNR outside the sane range.
    """
    path = str(path)
    head = scan_header(path, sep=_SEPARATORS[columns.separator], has_header=True)
    t_col = _column_index(head, columns.time, "time")
    v_col = _column_index(head, columns.value, "value")
    try:
        frame = pd.read_csv(
            path, sep=head.sep, header=None, skiprows=head.first_data_line - 1,
            # names: the header's width, not the first data row's (a short first row
            # made pandas drop a mapped column); missing fields read as ''.
            names=list(range(head.n_fields)),
            usecols=sorted({t_col, v_col}), dtype=str, keep_default_na=False,
            na_values=[], skip_blank_lines=False, encoding="utf-8", index_col=False,
            compression="gzip" if is_gzip(path) else None,
        )
    except pd.errors.EmptyDataError:
        raise trace_error(path, "empty file (no data rows)", line=head.first_data_line) from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise trace_error(path, f"unreadable CSV ({str(exc).strip()})") from None
    # Trailing blank lines are harmless; a blank line inside the data is not.
    blank = (frame[t_col].str.strip() == "") & (frame[v_col].str.strip() == "")
    while frame.shape[0] and bool(blank.iloc[-1]):
        frame, blank = frame.iloc[:-1], blank.iloc[:-1]
    if frame.shape[0] == 0:
        raise trace_error(path, "empty file (no data rows)", line=head.first_data_line)
    time_s = _times(frame[t_col], head, t_col, columns.time_unit, columns.time_format)
    values = _numbers(frame[v_col].astype(str).str.strip(), head, v_col)
    v_loc = head.locator((v_col,))
    if _is_rate(columns):
        check_non_negative_rate(values[:, None], v_loc)
        values = values * _RATE_SCALE[columns.value_unit]
    elif columns.value_unit == "linear":
        if (values <= 0).any():
            row = int(np.flatnonzero(values <= 0)[0])
            raise v_loc.error(row, 0, f"linear SNR must be > 0, got {values[row]:g}")
        values = 10.0 * np.log10(values)
    if not _is_rate(columns):
        check_snr_range(values[:, None], v_loc, allow=allow_out_of_range_snr)
    time_loc = head.locator((t_col,))
    check_time(time_s, time_loc, col=0, allow_repeats=columns.duplicates != "error")
    if columns.duplicates != "error":
        time_s, values = _merge_duplicates(time_s, values, columns.duplicates)
    last_line = head.first_data_line + frame.shape[0] - 1
    return ChannelTrace(
        time_s,
        values[:, None],
        "rate_bps" if _is_rate(columns) else "snr_db",
        infer_end_s(time_s, path, last_line),
        (columns.value,),
        path,
        meta={"last_line": str(last_line)},
    )


def _merge_duplicates(
    time_s: np.ndarray, values: np.ndarray, how: str
) -> tuple[np.ndarray, np.ndarray]:
    unique, start = np.unique(time_s, return_index=True)
    if how == "last":
        stop = np.append(start[1:], time_s.shape[0])
        return unique, values[stop - 1]
    sums = np.add.reduceat(values, start)
    counts = np.diff(np.append(start, time_s.shape[0]))
    return unique, sums / counts
