"""Native CSV traces: a ``time_s`` column and one SNR or rate column per client.

Layout (``#`` comment lines are allowed before the header)::

    # provenance: cosim wireless, UMi 3.5 GHz, 1.5 m/s, seed 1
    time_s,snr_db_0,snr_db_1
    0.000,12.31,4.20
    0.001,12.28,4.73

The value columns are all ``snr_db[_<label>]`` (SNR [dB]) or all
``rate_bps[_<label>]`` (achievable rate [bit/s]); the label names the client
series (``snr_db`` alone is a single series). Time [s] strictly increases; the
last sample is held for the previous spacing (:func:`infer_end_s`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cosim.channels.location import trace_error
from cosim.channels.series import ChannelTrace, Quantity, infer_end_s
from cosim.channels.textio import TextHeader, iter_numeric_blocks, open_binary, scan_header
from cosim.channels.validate import (
    check_finite,
    check_non_negative_rate,
    check_snr_range,
    check_time,
)


@dataclass(frozen=True)
class NativeCsvLayout:
    """What a native CSV header declares."""

    head: TextHeader
    quantity: Quantity
    labels: tuple[str, ...]


def _label(name: str, quantity: str) -> str:
    return "0" if name == quantity else name[len(quantity) + 1 :]


def parse_header(path: str) -> NativeCsvLayout:
    """Read and check the header of a native CSV trace.

    Raises:
        TraceFormatError: header missing, first column not ``time_s``, or value
            columns not all ``snr_db[_label]`` / ``rate_bps[_label]``.
    """
    head = scan_header(path, sep=",", has_header=None)
    expect = "expected a header like 'time_s,snr_db_0,snr_db_1' or 'time_s,rate_bps'"
    if head.header_line is None:
        raise trace_error(path, f"no header; {expect}", line=head.first_data_line)
    names = head.names
    if names[0] != "time_s":
        raise trace_error(
            path, f"first column must be 'time_s', got {names[0]!r}; {expect}",
            line=head.header_line, column=1,
        )
    if len(names) < 2:
        raise trace_error(path, f"no value columns; {expect}", line=head.header_line)
    quantity: Quantity | None = None
    for q in ("snr_db", "rate_bps"):
        if names[1] == q or names[1].startswith(q + "_"):
            quantity = q  # type: ignore[assignment]
    if quantity is None:
        raise trace_error(
            path, f"value column must be named snr_db[_<client>] or rate_bps[_<client>], "
            f"got {names[1]!r}", line=head.header_line, column=2,
        )
    labels = []
    for col, name in enumerate(names[1:], start=2):
        labelled = name.startswith(quantity + "_") and len(name) > len(quantity) + 1
        if not (name == quantity or labelled):
            raise trace_error(
                path, f"expected {quantity}_<client> like column 2, got {name!r}",
                line=head.header_line, column=col,
            )
        labels.append(_label(name, quantity))
    if len(set(labels)) != len(labels):
        dup = next(label for label in labels if labels.count(label) > 1)
        raise trace_error(
            path, f"duplicate client column {quantity}_{dup}", line=head.header_line,
            column=2 + labels.index(dup, labels.index(dup) + 1),
        )
    return NativeCsvLayout(head, quantity, tuple(labels))


def iter_native_csv(
    path: str | os.PathLike[str],
    *,
    allow_out_of_range_snr: bool = False,
    chunk_rows: int | None = None,
) -> tuple[NativeCsvLayout, Iterator[tuple[np.ndarray, np.ndarray]]]:
    """Stream a native CSV: the layout, then validated ``(time_s (r,), values (r, C))`` blocks."""
    layout = parse_header(str(path))
    head = layout.head

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        previous: float | None = None
        locator = head.locator()
        values_loc = head.locator(tuple(range(1, head.n_fields)))
        for row0, block in iter_numeric_blocks(head, chunk_rows=chunk_rows):
            check_finite(block, locator, row0)
            time_s = block[:, 0]
            check_time(time_s, locator, row0=row0, previous=previous)
            values = block[:, 1:]
            if layout.quantity == "rate_bps":
                check_non_negative_rate(values, values_loc, row0)
            else:
                check_snr_range(values, values_loc, allow=allow_out_of_range_snr, row0=row0)
            previous = float(time_s[-1])
            yield time_s, values

    return layout, blocks()


def read_native_csv(
    path: str | os.PathLike[str], *, allow_out_of_range_snr: bool = False
) -> ChannelTrace:
    """Load a native CSV trace fully (see the module docstring for the layout)."""
    layout, blocks = iter_native_csv(path, allow_out_of_range_snr=allow_out_of_range_snr)
    parts = list(blocks)
    time_s = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts])
    last_line = layout.head.first_data_line + time_s.shape[0] - 1
    return ChannelTrace(
        time_s,
        values,
        layout.quantity,
        infer_end_s(time_s, str(path), last_line),
        layout.labels,
        str(path),
        _leading_comments(str(path)),
        meta={"last_line": str(last_line)},
    )


def _leading_comments(path: str, max_lines: int = 64) -> str:
    """The ``#`` comment lines before the header, without ``# `` (the trace's provenance)."""
    out = []
    with io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="replace") as f:
        for _, line in zip(range(max_lines), f, strict=False):
            text = line.strip()
            if text and not text.startswith("#"):
                break
            if text:
                out.append(text[1:].strip())
    return "\n".join(out)


def write_native_csv(
    trace: ChannelTrace, path: str | os.PathLike[str], *, comments: tuple[str, ...] = ()
) -> None:
    """Write ``trace`` as native CSV, each float in its shortest exact form.

    pandas writes ``repr``-style floats, which parse back to the same float64,
    so replaying the CSV gives the same samples as the trace it was written from.
    """
    names = [
        trace.quantity if trace.n_columns == 1 and label == "0" else f"{trace.quantity}_{label}"
        for label in trace.columns
    ]
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for comment in comments:
            out.write(f"# {comment}\n")
        table = pd.DataFrame(np.column_stack([trace.time_s, trace.values]))
        table.columns = pd.Index(["time_s", *names])
        table.to_csv(out, index=False, lineterminator="\n")
