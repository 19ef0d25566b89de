"""Seed aggregation: method means with 95% confidence intervals, paired comparisons.

A study repeats each configuration (a method plus any other grid values) over
seeds. Curves are aligned by round: at round r the plotted point is the mean
over seeds of (x_r, y_r), with the Student-t half-width of y_r
(:func:`cosim.analysis.stats.mean_ci`). Methods run on the same seeds see the
same channel and data, so comparisons use per-seed paired differences
(:func:`cosim.analysis.stats.paired_ci`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from cosim.analysis.stats import mean_ci, paired_ci
from cosim.analysis.style import method_rank
from cosim.trace.reader import RunTrace

_SEED_PART = re.compile(r"(^|,)seed=-?\d+")


def run_method(trace: RunTrace) -> str:
    """The run's distillation method ('' for a trace without one)."""
    return str(trace.config.get("distillation", {}).get("method", ""))


def config_label(trace: RunTrace) -> str:
    """What a run's seeds are averaged under: its method plus any other study grid values.

    Study runs are named ``method=fd_topk,bandwidth_hz=5e6,seed=1``; the
    label drops the seed and the ``method=`` prefix (``fd_topk, bandwidth_hz=5e6``).
    Runs outside a study are labelled by their method.
    """
    method = run_method(trace) or "run"
    stem = trace.path.stem
    if not _SEED_PART.search(stem):
        return method
    parts = [p for p in _SEED_PART.sub("", stem).split(",") if p and not p.startswith("method=")]
    return ", ".join([method, *parts])


def group_by_config(traces: Sequence[RunTrace]) -> dict[str, list[RunTrace]]:
    """Traces grouped by :func:`config_label`, known methods first, seeds ascending."""
    groups: dict[str, list[RunTrace]] = {}
    for trace in traces:
        groups.setdefault(config_label(trace), []).append(trace)
    ordered = sorted(groups, key=lambda lab: (method_rank(run_method(groups[lab][0])), lab))
    return {
        lab: sorted(groups[lab], key=lambda t: int(t.attrs.get("seed", 0))) for lab in ordered
    }


def _ci(values: np.ndarray) -> tuple[float, float, int]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan, 0
    interval = mean_ci(finite)
    return interval.mean, interval.half_width, interval.n


def mean_curve(curves: Sequence[pd.DataFrame], x: str, y: str) -> pd.DataFrame:
    """Per-round mean of ``x`` and ``y`` over seeds, with the 95% half-width of ``y``.

    ``curves``: one DataFrame per seed with a ``round`` column. Returns columns
    round, x, y, half_width (NaN with one seed), n (seeds with a value).
    """
    frames = [c[["round", x, y]].assign(_seed=i) for i, c in enumerate(curves) if len(c)]
    if not frames:
        return pd.DataFrame(columns=["round", x, y, "half_width", "n"])
    rows = []
    for rnd, part in pd.concat(frames).groupby("round"):
        mean_y, half, n = _ci(part[y].to_numpy(dtype=float))
        rows.append({"round": rnd, x: float(part[x].astype(float).mean()), y: mean_y,
                     "half_width": half, "n": n})
    return pd.DataFrame(rows)


def method_points(summary: pd.DataFrame, columns: Sequence[str],
                  by: str = "config") -> pd.DataFrame:
    """Mean and 95% half-width of ``columns`` per ``by`` value over its seeds.

    Returns one row per group: ``by``, method, n, then ``<col>`` and
    ``<col>_hw`` for each column.
    """
    rows = []
    for label, part in summary.groupby(by, sort=False):
        row: dict[str, object] = {by: label, "method": part["method"].iloc[0], "n": len(part)}
        for col in columns:
            row[col], row[f"{col}_hw"], _ = _ci(part[col].to_numpy(dtype=float))
        rows.append(row)
    rows.sort(key=lambda r: (method_rank(str(r["method"])), str(r[by])))
    return pd.DataFrame(rows)


def paired_comparison(summary: pd.DataFrame, metrics: Sequence[str], reference: str,
                      by: str = "config") -> pd.DataFrame:
    """Each configuration minus ``reference`` on the seeds both ran (paired t intervals).

    Returns rows: config, reference, metric, mean_diff, ci_low, ci_high,
    n_seeds, significant (the interval excludes 0).
    """
    ref = summary[summary[by] == reference].set_index("seed")
    rows = []
    for label, part in summary.groupby(by, sort=False):
        if label == reference:
            continue
        part = part.set_index("seed")
        seeds = sorted(set(part.index) & set(ref.index))
        for metric in metrics:
            a = part.loc[seeds, metric].to_numpy(dtype=float) if seeds else np.array([])
            b = ref.loc[seeds, metric].to_numpy(dtype=float) if seeds else np.array([])
            ok = np.isfinite(a) & np.isfinite(b)
            if not ok.any():
                continue
            interval = paired_ci(a[ok], b[ok])
            rows.append({"config": label, "reference": reference, "metric": metric,
                         "mean_diff": interval.mean, "ci_low": interval.low,
                         "ci_high": interval.high, "n_seeds": interval.n,
                         "significant": interval.above_zero or interval.below_zero})
    return pd.DataFrame(rows)


def client_strength(trace: RunTrace) -> dict[int, float]:
    """A client's link quality: mean uplink SNR [dB] (replayed rate [bit/s]; else −distance).

    Larger is stronger; used to keep strong and weak clients apart.
    """
    channel = trace["channel"]
    clients = trace["clients"]
    for column in ("snr_db", "rate_bps"):
        values = channel.groupby("client")[column].mean() if len(channel) else pd.Series()
        if len(values) and np.isfinite(values.to_numpy(dtype=float)).all():
            return {int(c): float(v) for c, v in values.items()}
    return {int(c): -float(d) for c, d in zip(clients["client"], clients["distance_m"],
                                             strict=True)}


def split_strong_weak(trace: RunTrace) -> tuple[list[int], list[int]]:
    """Clients at or above the median strength, and those below (weak empty with one client)."""
    strength = client_strength(trace)
    if not strength:
        return [], []
    median = float(np.median(list(strength.values())))
    strong = sorted(c for c, s in strength.items() if s >= median)
    weak = sorted(c for c, s in strength.items() if s < median)
    return strong, weak


def curves_over_seeds(traces: Sequence[RunTrace], curve: Callable[[RunTrace], pd.DataFrame],
                      x: str, y: str) -> pd.DataFrame:
    """:func:`mean_curve` of ``curve(trace)`` over ``traces`` (one per seed)."""
    return mean_curve([curve(t) for t in traces], x, y)
