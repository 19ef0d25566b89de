"""Mahimahi packet-delivery traces, as a 1 ms rate series.

A Mahimahi trace has one integer millisecond timestamp per line; each line is
one opportunity to deliver a 1500-byte packet at that time, a timestamp
repeated n times gives n opportunities, and the trace wraps: with the last
timestamp P [ms] as the period, an opportunity at t also occurs at t + P,
t + 2P, …::

    3
    3
    7
    10

Conversion to a rate (used by replay, ``info`` and ``convert``): the
opportunity at t [ms] delivers its 1500 bytes during the millisecond
``((t − 1) mod P, ((t − 1) mod P) + 1]``, so bin ``b = (t − 1) mod P`` of the
series gets ``rate_b = count_b · 1500 · 8 / 1e-3`` [bit/s] (12 Mbit/s per
opportunity per ms) over ``[b, b + 1)`` ms, duration P ms. The inverse
(:func:`write_mahimahi`) credits bytes per millisecond from any rate trace
and emits an opportunity each time another 1500 bytes have accumulated.

Lines at 0 ms fire only at q·P for q >= 1 (at 0 itself no packet can use
them: one arriving in [0, 1) ms only sees opportunities after 0 ms), exactly
where the lines at P fire, so the rate series cannot tell them apart; their
count is kept in the trace's provenance (``mahimahi_zero_lines=z``, which the
native formats preserve) and the inverse writes them back as lines at 0, so
Mahimahi → rate (native CSV/HDF5) → Mahimahi is byte-exact.
"""

from __future__ import annotations

import os
import re

import numpy as np

from cosim.channels.location import trace_error
from cosim.channels.series import ChannelTrace
from cosim.channels.textio import read_numeric, scan_header
from cosim.channels.validate import check_finite, check_time

PACKET_BYTES = 1500
BIN_S = 1e-3
#: Rate of one opportunity per 1 ms bin [bit/s].
OPPORTUNITY_BPS = PACKET_BYTES * 8 / BIN_S
#: Longest trace written as Mahimahi [ms] (the conversion works per millisecond).
MAX_BINS = 100_000_000
#: Provenance key counting a Mahimahi trace's lines at 0 ms (module docstring).
ZERO_LINES_KEY = "mahimahi_zero_lines"


def read_mahimahi_timestamps(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """The opportunity timestamps [ms] (int64, non-decreasing, last > 0) and the last line.

    Raises:
        TraceFormatError: empty file, a line with anything but one integer,
            NaN/inf, negative or decreasing timestamps, or an all-zero trace.
    """
    path = str(path)
    head = scan_header(path, sep=",", has_header=False)
    if head.n_fields != 1:
        raise trace_error(
            path, f"{head.n_fields} fields; a Mahimahi trace has one ms timestamp per line",
            line=head.first_data_line,
        )
    table = read_numeric(head, integers=True)
    loc = head.locator()
    check_finite(table, loc)
    stamps = table[:, 0]
    bad = np.flatnonzero((stamps != np.floor(stamps)) | (stamps < 0) | (stamps > 2**53))
    if bad.size:
        row = int(bad[0])
        raise loc.error(
            row, 0, f"timestamp must be a non-negative integer [ms], got {stamps[row]:g}"
        )
    check_time(stamps, loc, col=0, allow_repeats=True, unit="ms")
    if stamps[-1] <= 0:
        raise trace_error(
            path, "the last timestamp (the trace period) must be > 0 ms",
            line=head.first_data_line + stamps.shape[0] - 1,
        )
    return stamps.astype(np.int64), head.first_data_line + stamps.shape[0] - 1


def timestamps_to_trace(
    stamps_ms: np.ndarray, path: str = "", last_line: int | None = None
) -> ChannelTrace:
    """Rate series of a Mahimahi trace (see the module docstring) [bit/s].

    Only milliseconds whose rate changes get a sample (a busy bin, and the
    first idle bin after one), so a long, sparse trace stays small; under
    zero-order hold this is the same series as one sample per millisecond.
    """
    period = int(stamps_ms[-1])
    bins, counts = np.unique((stamps_ms - 1) % period, return_counts=True)
    # An idle bin starts after every busy bin not followed by another busy one.
    idle = bins + 1
    idle = idle[(idle < period) & ~np.isin(idle, bins)]
    if bins[0] != 0:
        idle = np.append(idle, 0)
    times = np.concatenate([bins, idle])
    rates = np.concatenate([counts * OPPORTUNITY_BPS, np.zeros(idle.shape[0])])
    if period >= 2 and not np.isin(period - 2, times):
        # A redundant sample at P − 2 ms (same value as held there), so that a native CSV,
        # whose last sample holds for the previous spacing, still ends at P.
        held = rates[np.flatnonzero(times < period - 2)[np.argmax(times[times < period - 2])]]
        times, rates = np.append(times, period - 2), np.append(rates, held)
    order = np.argsort(times, kind="stable")
    zeros = int(np.searchsorted(stamps_ms, 0, side="right"))
    provenance = f"Mahimahi trace {path}".rstrip() + (
        f"; {ZERO_LINES_KEY}={zeros}" if zeros else "")
    return ChannelTrace(
        times[order] * BIN_S,
        rates[order][:, None],
        "rate_bps",
        period * BIN_S,
        ("0",),
        path,
        provenance,
        meta={"last_line": str(last_line)} if last_line else {},
    )


def read_mahimahi(path: str | os.PathLike[str]) -> ChannelTrace:
    """Load a Mahimahi trace as a one-column 1 ms rate series [bit/s]."""
    stamps, last_line = read_mahimahi_timestamps(path)
    return timestamps_to_trace(stamps, str(path), last_line)


def trace_to_timestamps(trace: ChannelTrace, column: int = 0) -> np.ndarray:
    """Mahimahi timestamps [ms] that deliver the bytes of a rate column.

    Bytes accumulate per millisecond as ``∫ rate dt / 8`` (zero-order hold);
    millisecond ``b`` (ending at ``b + 1`` ms) carries one opportunity per
    completed 1500 bytes (within 1e-6 packet, for float round-off). Mahimahi's
    period is its last timestamp, so trailing milliseconds without a packet
    shorten the period.

    Raises:
        ValueError: ``trace`` holds SNR, or carries no full packet at all.
    """
    if trace.quantity != "rate_bps":
        raise ValueError("Mahimahi traces hold delivery opportunities; the trace holds SNR")
    t = trace.time_s - trace.time_s[0]
    rate = trace.values[:, column]
    n_bins = int(np.ceil(trace.duration_s / BIN_S - 1e-9))
    if n_bins > MAX_BINS:
        raise ValueError(
            f"{trace.duration_s:g} s is too long to write as a Mahimahi trace "
            f"(at most {MAX_BINS * BIN_S:g} s)"
        )
    # Cumulative bits at the sample times (exact for a zero-order hold) ...
    edges_t = np.append(t, trace.duration_s)
    cum_bits = np.concatenate(([0.0], np.cumsum(rate * np.diff(edges_t))))
    # ... interpolated linearly (ZOH integrates to piecewise-linear) to bin edges.
    bin_edges = np.minimum(np.arange(1, n_bins + 1) * BIN_S, trace.duration_s)
    packets = np.floor(np.interp(bin_edges, edges_t, cum_bits) / (8 * PACKET_BYTES) + 1e-6)
    counts = np.diff(np.concatenate(([0.0], packets))).astype(np.int64)
    found = re.search(rf"{ZERO_LINES_KEY}=(\d+)", trace.provenance)
    zeros = int(found.group(1)) if found else 0
    if zeros and counts[-1] >= zeros:  # lines at 0 ms share the last bin with those at P
        counts[-1] -= zeros
    else:
        zeros = 0
    stamps = np.repeat(np.arange(0, n_bins + 1), np.concatenate(([zeros], counts)))
    if stamps.size == 0:
        raise ValueError("the trace delivers less than one 1500-byte packet in all")
    return stamps


def write_mahimahi(trace: ChannelTrace, path: str | os.PathLike[str], column: int = 0) -> None:
    """Write one rate column of ``trace`` as a Mahimahi trace."""
    stamps = trace_to_timestamps(trace, column)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        np.savetxt(out, stamps, fmt="%d")
