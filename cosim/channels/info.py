"""Summaries of a trace: duration, series, mean and percentiles, a unicode sparkline.

Works on streamed HDF5 traces of any size: means and the sparkline are exact
and computed in row blocks; percentiles come from every k-th row when the
trace has more than :data:`PERCENTILE_SAMPLES` values (the summary says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.channels.series import UNITS, SampleStore

SPARK = "▁▂▃▄▅▆▇█"
PERCENTILE_SAMPLES = 2_000_000
BLOCK_ROWS = 65536


@dataclass(frozen=True)
class TraceSummary:
    """What ``cosim trace info`` prints.

    Attributes:
        duration_s: ``end_s − t_0`` [s]; ``start_s``: ``t_0`` [s].
        spacing_s: median sample spacing [s].
        mean, p5, p50, p95: over all series, in ``unit`` (rates in bit/s).
        column_mean: (C,) mean of each series.
        sparkline: mean over the series in equal time bins, scaled min…max.
        subsample: k when percentiles come from every k-th row (1: exact).
    """

    path: str
    quantity: str
    unit: str
    n_samples: int
    columns: tuple[str, ...]
    start_s: float
    duration_s: float
    spacing_s: float
    mean: float
    p5: float
    p50: float
    p95: float
    column_mean: tuple[float, ...]
    sparkline: str
    spark_range: tuple[float, float]
    subsample: int
    provenance: str


def sparkline(values: np.ndarray) -> tuple[str, float, float]:
    """Unicode bars for ``values`` scaled to their min…max (flat series: mid bars)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return " " * values.size, float("nan"), float("nan")
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return SPARK[3] * values.size, lo, hi
    levels = np.clip(((values - lo) / (hi - lo) * (len(SPARK) - 1)).round(), 0, len(SPARK) - 1)
    return "".join(SPARK[int(v)] if np.isfinite(v) else " " for v in levels), lo, hi


def summarize(store: SampleStore, *, width: int = 60) -> TraceSummary:
    """Summarise ``store`` (one pass over its values, in blocks)."""
    time_s = store.time_s
    n = int(time_s.shape[0])
    n_cols = len(store.columns)
    width = max(1, min(width, n))
    bins = np.minimum(((time_s - time_s[0]) / (store.end_s - time_s[0]) * width).astype(int),
                      width - 1)
    bin_sum = np.zeros(width)
    bin_count = np.zeros(width)
    col_sum = np.zeros(n_cols)
    stride = max(1, int(np.ceil(n * n_cols / PERCENTILE_SAMPLES)))
    picked = []
    for start in range(0, n, BLOCK_ROWS):
        block = store.read_rows(start, min(n, start + BLOCK_ROWS))
        col_sum += block.sum(axis=0)
        np.add.at(bin_sum, bins[start : start + block.shape[0]], block.mean(axis=1))
        np.add.at(bin_count, bins[start : start + block.shape[0]], 1)
        first = (-start) % stride
        picked.append(block[first::stride].ravel())
    sample = np.concatenate(picked)
    with np.errstate(invalid="ignore"):
        spark, lo, hi = sparkline(bin_sum / bin_count)
    p5, p50, p95 = np.percentile(sample, [5, 50, 95])
    spacing = float(np.median(np.diff(time_s))) if n > 1 else float(store.end_s - time_s[0])
    return TraceSummary(
        path=store.path,
        quantity=store.quantity,
        unit=UNITS[store.quantity],
        n_samples=n,
        columns=tuple(store.columns),
        start_s=float(time_s[0]),
        duration_s=float(store.end_s - time_s[0]),
        spacing_s=spacing,
        mean=float(col_sum.sum() / (n * n_cols)),
        p5=float(p5),
        p50=float(p50),
        p95=float(p95),
        column_mean=tuple(float(v) for v in col_sum / n),
        sparkline=spark,
        spark_range=(lo, hi),
        subsample=stride,
        provenance=str(getattr(store, "provenance", "")),
    )


def _fmt(value: float, unit: str) -> str:
    if unit == "bit/s":
        return f"{value / 1e6:.3f} Mbit/s"
    return f"{value:.2f} {unit}"


def format_summary(s: TraceSummary) -> str:
    """Human-readable lines for ``cosim trace info``."""
    what = "SNR" if s.quantity == "snr_db" else "rate"
    cols = ", ".join(s.columns[:8]) + (", …" if len(s.columns) > 8 else "")
    note = "" if s.subsample == 1 else f" (percentiles from every {s.subsample}th row)"
    lines = [
        f"{s.path}",
        f"  {what} [{s.unit}], {len(s.columns)} series: {cols}",
        f"  duration {s.duration_s:g} s from t = {s.start_s:g} s, {s.n_samples} samples "
        f"every {s.spacing_s:g} s (median)",
        f"  mean {_fmt(s.mean, s.unit)}, p5 {_fmt(s.p5, s.unit)}, median {_fmt(s.p50, s.unit)}, "
        f"p95 {_fmt(s.p95, s.unit)}{note}",
        f"  {s.sparkline}  [{_fmt(s.spark_range[0], s.unit)} … {_fmt(s.spark_range[1], s.unit)}, "
        "mean over series]",
    ]
    if len(s.columns) > 1:
        means = ", ".join(_fmt(v, s.unit) for v in s.column_mean[:8])
        lines.append(f"  per-series mean: {means}" + (", …" if len(s.columns) > 8 else ""))
    if s.provenance:
        lines.append(f"  provenance: {s.provenance}")
    return "\n".join(lines)
