"""Throughput logs (Pensieve style): ``time_s Mbit/s`` rows, replayed as a rate.

Example (whitespace or comma separated; the header line is optional)::

    time_s Mbit/s
    0.0 5.21
    1.0 4.87
    2.0 6.02

Two conventions for what a row means (``throughput_convention``):

* ``hold`` (default): row k's throughput [Mbit/s] holds from its time t_k to
  the next row's, ``[t_k, t_{k+1})``; the last row holds for the previous
  spacing, so the trace lasts ``t_{n−1} + (t_{n−1} − t_{n−2}) − t_0`` and
  loops with that period;
* ``pensieve`` (Pensieve's own simulator, ``sim/env.py``): row k's throughput
  covers the interval *ending* at its time, ``(t_{k−1}, t_k]``; row 0 only
  marks the start, and the trace loops with period ``t_{n−1} − t_0``
  (Pensieve jumps back to row 1 and time 0; its traces start at 0).

Either way it is replayed as the achievable rate ``1e6 · value`` [bit/s]
with all resource blocks. Time must strictly increase; throughput must be >= 0.
"""

from __future__ import annotations

import os

import pandas as pd

from cosim.channels.location import trace_error
from cosim.channels.series import ChannelTrace, infer_end_s
from cosim.channels.textio import read_numeric, scan_header
from cosim.channels.validate import check_finite, check_non_negative_rate, check_time

_RATE_NAMES = {"mbit/s", "mbit_s", "mbps", "mbit_per_s", "throughput_mbps"}


CONVENTIONS = ("hold", "pensieve")


def read_throughput(path: str | os.PathLike[str], convention: str = "hold") -> ChannelTrace:
    """Load a throughput log as a one-column rate trace [bit/s] (``convention``: module doc).

    Raises:
        TraceFormatError: a header other than ``time_s Mbit/s``, a row without
            exactly two fields, non-numeric/NaN/inf values, time not strictly
            increasing, or negative throughput.
    """
    path = str(path)
    head = scan_header(path, sep="auto", has_header=None)
    if head.header_line is not None:
        names = [n.lower() for n in head.names]
        if len(names) != 2 or names[0] != "time_s" or names[1] not in _RATE_NAMES:
            bad = 1 if names[0] != "time_s" else 2
            raise trace_error(
                path,
                "header must be 'time_s Mbit/s' (a throughput log), got "
                f"{' '.join(head.names)!r}",
                line=head.header_line,
                column=bad,
            )
    elif head.n_fields != 2:
        raise trace_error(
            path,
            f"{head.n_fields} fields, a throughput log has two: time_s Mbit/s",
            line=head.first_data_line,
        )
    table = read_numeric(head)
    loc = head.locator()
    check_finite(table, loc)
    check_time(table[:, 0], loc, col=0)
    check_non_negative_rate(table[:, 1:], head.locator((1,)))
    time_s = table[:, 0]
    last_line = head.first_data_line + time_s.shape[0] - 1
    meta = {"last_line": str(last_line), "throughput_convention": convention}
    if convention == "pensieve":
        if time_s.shape[0] < 2:
            raise trace_error(path, "a trace needs at least two samples to define its duration",
                              line=last_line)
        # Row k covers (t_{k−1}, t_k]: as a held series, row k's value starts at t_{k−1}.
        return ChannelTrace(time_s[:-1], table[1:, 1:] * 1e6, "rate_bps", float(time_s[-1]),
                            ("0",), path, meta=meta)
    return ChannelTrace(
        time_s,
        table[:, 1:] * 1e6,
        "rate_bps",
        infer_end_s(time_s, path, last_line),
        ("0",),
        path,
        meta=meta,
    )


def write_throughput(trace: ChannelTrace, path: str | os.PathLike[str], column: int = 0) -> None:
    """Write one rate column of ``trace`` as a throughput log (``time_s Mbit/s``, ``hold``).

    Raises:
        ValueError: ``trace`` holds SNR, not rate.
    """
    if trace.quantity != "rate_bps":
        raise ValueError("a throughput log holds rates; convert SNR traces to native formats")
    table = pd.DataFrame({"time_s": trace.time_s, "Mbit/s": trace.values[:, column] / 1e6})
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        table.to_csv(out, sep=" ", index=False, lineterminator="\n")
