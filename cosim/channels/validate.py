"""Value checks shared by every trace reader, each naming the offending cell.

All checks take a block of rows (``row0`` is the index of the block's first
row in the whole file, so chunked readers report true line numbers) and a
:class:`~cosim.channels.location.RowLocator`/``ArrayLocator`` that turns a
(row, column) into the file/line/column of the message.
"""

from __future__ import annotations

import numpy as np

from cosim.channels.location import Locator, first_true

#: SNRs outside this range [dB] are almost certainly a unit or column mix-up
#: (linear SNR, RSRP in dBm); readers reject them unless allowed. The floor
#: leaves room for Rayleigh deep fades: an hour of 1 ms samples reaches about
#: 65 dB below the mean (P(g < x) ≈ x for x ≪ 1, so min g ≈ 1 / 3.6e6).
SANE_SNR_DB: tuple[float, float] = (-80.0, 80.0)


def check_finite(values: np.ndarray, loc: Locator, row0: int = 0) -> None:
    """Reject NaN and ±inf. ``values``: (rows,) or (rows, cols)."""
    hit = first_true(~np.isfinite(values))
    if hit is None:
        return
    row, col = hit
    value = values[row] if col is None else values[row, col]
    kind = "NaN value" if np.isnan(value) else f"infinite value {value}"
    raise loc.error(row0 + row, col, f"{kind} (every sample must be a finite number)")


def check_time(
    time_s: np.ndarray,
    loc: Locator,
    *,
    row0: int = 0,
    previous: float | None = None,
    col: int | None = 0,
    allow_repeats: bool = False,
    unit: str = "s",
) -> None:
    """Require time to increase (strictly unless ``allow_repeats``).

    Args:
        time_s: (rows,) time stamps of this block.
        previous: last time stamp of the preceding block (chunked reads).
        col: value column of the time stamps in ``loc`` (for the message).
        unit: unit shown in messages.
    """
    if time_s.size == 0:
        return
    if previous is None:
        cur, prev, shift = time_s[1:], time_s[:-1], 1
    else:
        cur, prev, shift = time_s, np.concatenate(([previous], time_s[:-1])), 0
    hit = first_true(cur < prev if allow_repeats else cur <= prev)
    if hit is None:
        return
    now, then = float(cur[hit[0]]), float(prev[hit[0]])
    row = hit[0] + shift
    if now < then:
        message = f"time goes backwards: {now:g} {unit} after {then:g} {unit} on the previous row"
    else:
        message = f"duplicate timestamp {now:g} {unit} (same as the previous row)"
    raise loc.error(row0 + row, col, message)


def check_non_negative_rate(values: np.ndarray, loc: Locator, row0: int = 0) -> None:
    """Reject negative rates. ``values``: (rows,) or (rows, cols) [bit/s]."""
    hit = first_true(values < 0)
    if hit is None:
        return
    row, col = hit
    value = values[row] if col is None else values[row, col]
    raise loc.error(row0 + row, col, f"negative rate {float(value):g} (rates must be >= 0)")


def check_snr_range(
    values: np.ndarray, loc: Locator, *, allow: bool, row0: int = 0
) -> None:
    """Reject SNRs outside :data:`SANE_SNR_DB` unless ``allow``. ``values`` [dB]."""
    if allow:
        return
    low, high = SANE_SNR_DB
    hit = first_true((values < low) | (values > high))
    if hit is None:
        return
    row, col = hit
    value = float(values[row] if col is None else values[row, col])
    raise loc.error(
        row0 + row,
        col,
        f"SNR {value:g} dB outside the sane range [{low:g}, {high:g}] dB "
        "(wrong unit or column? set allow_out_of_range_snr to accept it)",
    )
