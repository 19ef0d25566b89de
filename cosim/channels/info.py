"""Summaries of a trace: duration, series, mean and percentiles, a unicode sparkline.

Statistics are time-weighted: sample k holds over ``[t_k, t_{k+1})`` (the
last one until ``end_s``), so it weighs ``w_k = t_{k+1} − t_k`` [s]:

    mean = Σ_k w_k v_k / Σ_k w_k,   p-th percentile = smallest v with
    Σ_{v_k <= v} w_k >= p/100 · Σ_k w_k,

the values a uniformly random instant of the trace sees (a Mahimahi trace's
sparse rate series, or irregular drive-test rows, would be badly off per
sample). Works on streamed HDF5 traces of any size: means and the sparkline
are exact and computed in row blocks; percentiles come from every k-th row
(weights kept) when the trace has more than :data:`PERCENTILE_SAMPLES`
values (the summary says so).
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
        mean, p5, p50, p95: time-weighted over all series, in ``unit`` (rates in bit/s).
        column_mean: (C,) time-weighted mean of each series.
        sparkline: time-weighted mean over the series in equal time bins, scaled min…max.
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


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, q: list[float]) -> np.ndarray:
    """Smallest v with ``Σ_{v_k <= v} w_k >= q/100 · Σ w`` for each ``q`` [%]."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    idx = np.searchsorted(cum, np.asarray(q) / 100 * cum[-1] * (1 - 1e-12), side="left")
    return values[order][np.minimum(idx, values.size - 1)]


def summarize(store: SampleStore, *, width: int = 60) -> TraceSummary:
    """Summarise ``store`` (one pass over its values, in blocks; time-weighted)."""
    time_s = store.time_s
    n = int(time_s.shape[0])
    n_cols = len(store.columns)
    duration = float(store.end_s - time_s[0])
    width = max(1, min(width, n))
    weight = np.diff(time_s, append=store.end_s)
    bins = np.minimum(((time_s - time_s[0]) / duration * width).astype(int), width - 1)
    bin_sum = np.zeros(width)
    bin_weight = np.zeros(width)
    col_sum = np.zeros(n_cols)
    stride = max(1, int(np.ceil(n * n_cols / PERCENTILE_SAMPLES)))
    picked, picked_w = [], []
    for start in range(0, n, BLOCK_ROWS):
        block = store.read_rows(start, min(n, start + BLOCK_ROWS))
        w = weight[start : start + block.shape[0]]
        col_sum += w @ block
        np.add.at(bin_sum, bins[start : start + block.shape[0]], w * block.mean(axis=1))
        np.add.at(bin_weight, bins[start : start + block.shape[0]], w)
        first = (-start) % stride
        picked.append(block[first::stride].ravel())
        picked_w.append(np.repeat(w[first::stride], n_cols))
    sample = np.concatenate(picked)
    with np.errstate(invalid="ignore"):
        spark, lo, hi = sparkline(bin_sum / bin_weight)
    p5, p50, p95 = weighted_percentiles(sample, np.concatenate(picked_w), [5, 50, 95])
    spacing = float(np.median(np.diff(time_s))) if n > 1 else duration
    column_mean = col_sum / duration
    return TraceSummary(
        path=store.path,
        quantity=store.quantity,
        unit=UNITS[store.quantity],
        n_samples=n,
        columns=tuple(store.columns),
        start_s=float(time_s[0]),
        duration_s=duration,
        spacing_s=spacing,
        mean=float(column_mean.mean()),
        p5=float(p5),
        p50=float(p50),
        p95=float(p95),
        column_mean=tuple(float(v) for v in column_mean),
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
        f"  time-weighted mean {_fmt(s.mean, s.unit)}, p5 {_fmt(s.p5, s.unit)}, "
        f"median {_fmt(s.p50, s.unit)}, p95 {_fmt(s.p95, s.unit)}{note}",
        f"  {s.sparkline}  [{_fmt(s.spark_range[0], s.unit)} … {_fmt(s.spark_range[1], s.unit)}, "
        "mean over series]",
    ]
    if len(s.columns) > 1:
        means = ", ".join(_fmt(v, s.unit) for v in s.column_mean[:8])
        lines.append(f"  per-series mean: {means}" + (", …" if len(s.columns) > 8 else ""))
    if s.provenance:
        lines.append(f"  provenance: {s.provenance}")
    return "\n".join(lines)
