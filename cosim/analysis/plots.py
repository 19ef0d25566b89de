"""Latency–accuracy figures (PNG and PDF) from run traces.

Each figure shows one line per configuration (a method plus any other study
grid values): the mean over seeds with a shaded 95% Student-t band
(:mod:`cosim.analysis.aggregate`); a single run is a configuration with one
seed and no band. Figures:

- ``accuracy_vs_time`` and ``accuracy_vs_uplink_bytes`` (log byte axis);
- ``accuracy_by_client_strength``: strong clients (mean uplink SNR at or above
  the median) and weak ones in separate panels;
- ``round_latency_cdf``: pooled empirical CDF of round latency from 0 s, with
  the round deadline marked;
- ``pareto_latency_accuracy`` (studies): per configuration the mean median
  round latency and mean final accuracy with 95% error bars; a mean is on the
  front if no other mean has both lower latency and higher accuracy;
- ``k_vs_snr``: one panel per client of one named run, chosen Top-k and the
  uplink SNR at encode time over simulated time.

A figure with nothing to show is not written; a note says why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.axes import Axes

from cosim.analysis.aggregate import (
    group_by_config,
    mean_curve,
    method_points,
    run_method,
    split_strong_weak,
)
from cosim.analysis.style import (
    fraction_axis,
    log_bytes_axis,
    method_style,
    quiet_matplotlib,
    save_figure,
)
from cosim.analysis.summary import accuracy_curve
from cosim.trace.reader import RunTrace

log = logging.getLogger(__name__)

ACC_LABEL = "mean next-token accuracy (union split)"
_LINESTYLES = ("-", "--", ":", "-.")


def _styles(groups: dict[str, list[RunTrace]]) -> dict[str, dict[str, object]]:
    """Colour and marker from the method; line style tells apart configs of one method."""
    seen: dict[str, int] = {}
    out = {}
    for label, traces in groups.items():
        method = run_method(traces[0])
        style = method_style(method)
        n = seen.get(method, 0)
        seen[method] = n + 1
        out[label] = {"color": style.color, "marker": style.marker,
                      "linestyle": _LINESTYLES[n % len(_LINESTYLES)]}
    return out


def _legend_label(label: str, n: int) -> str:
    return f"{label} (n={n} seeds)" if n > 1 else label


def _band(ax: Axes, curve: pd.DataFrame, x: str, y: str, style: dict[str, object],
          label: str) -> None:
    ax.plot(curve[x], curve[y], ms=4, label=label, **style)
    band = curve[np.isfinite(curve["half_width"].astype(float))]
    if len(band):
        ax.fill_between(band[x].astype(float), (band[y] - band["half_width"]).astype(float),
                        (band[y] + band["half_width"]).astype(float), color=style["color"],
                        alpha=0.2, lw=0)


def _skip(name: str, why: str) -> list[Path]:
    log.info("plot %s skipped: %s", name, why)
    return []


def _accuracy_lines(ax: Axes, groups: dict[str, list[RunTrace]], x: str,
                    clients: dict[Path, list[int]] | None = None) -> tuple[float, float]:
    """Draw every config's mean curve on ``ax``; returns the y range drawn."""
    styles = _styles(groups)
    lo, hi = np.inf, -np.inf
    for label, traces in groups.items():
        curves = [accuracy_curve(t, clients=None if clients is None else clients[t.path])
                  for t in traces]
        if x == "cum_uplink_bytes":  # a log axis has no 0: start at the first upload
            curves = [c[c[x] > 0] for c in curves]
        curve = mean_curve(curves, x, "mean_accuracy")
        curve = curve[np.isfinite(curve["mean_accuracy"].astype(float))]
        if not len(curve):
            continue
        _band(ax, curve, x, "mean_accuracy", styles[label], _legend_label(label, len(traces)))
        hw = curve["half_width"].fillna(0.0).astype(float)
        lo = min(lo, float((curve["mean_accuracy"] - hw).min()))
        hi = max(hi, float((curve["mean_accuracy"] + hw).max()))
    return lo, hi


def plot_accuracy(traces: Sequence[RunTrace], out_dir: Path, x: str) -> list[Path]:
    """Mean accuracy vs ``x`` ∈ {"time_s", "cum_uplink_bytes"}, one band per configuration."""
    name = "accuracy_vs_time" if x == "time_s" else "accuracy_vs_uplink_bytes"
    with quiet_matplotlib():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        lo, hi = _accuracy_lines(ax, group_by_config(traces), x)
        if not np.isfinite(lo):
            plt.close(fig)
            return _skip(name, "no accuracy evaluations" +
                         (" after an upload" if x != "time_s" else "") + " in the traces")
        if x == "time_s":
            ax.set_xlabel("simulated time [s]")
            ax.set_xlim(left=0.0)
        else:
            ax.set_xlabel("cumulative uplink payload [bytes]")
            log_bytes_axis(ax, "x")
        fraction_axis(ax, lo, hi)
        ax.set_ylabel(ACC_LABEL)
        ax.grid(alpha=0.3, which="major")
        ax.legend(fontsize=7)
        return save_figure(fig, out_dir / name)


def plot_accuracy_by_strength(traces: Sequence[RunTrace], out_dir: Path) -> list[Path]:
    """Accuracy vs simulated time for strong and weak clients in two panels."""
    name = "accuracy_by_client_strength"
    split = {t.path: split_strong_weak(t) for t in traces}
    if not any(weak for _, weak in split.values()):
        return _skip(name, "fewer than two clients of different link quality")
    groups = group_by_config(traces)
    with quiet_matplotlib():
        fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.2), sharey=True)
        lo, hi = np.inf, -np.inf
        for i, (ax, title) in enumerate(zip(axes, ("strong clients (mean SNR ≥ median)",
                                                   "weak clients (mean SNR < median)"),
                                            strict=True)):
            members = {p: s[i] for p, s in split.items()}
            a, b = _accuracy_lines(ax, groups, "time_s", members)
            lo, hi = min(lo, a), max(hi, b)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("simulated time [s]")
            ax.set_xlim(left=0.0)
            ax.grid(alpha=0.3)
        if not np.isfinite(lo):
            plt.close(fig)
            return _skip(name, "no per-client accuracy evaluations")
        fraction_axis(axes[0], lo, hi)
        axes[0].set_ylabel(ACC_LABEL)
        axes[0].legend(fontsize=7)
        return save_figure(fig, out_dir / name)


def round_latencies(trace: RunTrace) -> np.ndarray:
    """Round latencies ``end_s − start_s`` [s]."""
    rounds = trace["rounds"]
    return (rounds["end_s"] - rounds["start_s"]).to_numpy()


def _deadline_s(trace: RunTrace) -> float | None:
    value = trace.config.get("server", {}).get("round_deadline_s")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def plot_latency_cdf(traces: Sequence[RunTrace], out_dir: Path) -> list[Path]:
    """Empirical CDF of round latency (all seeds' rounds pooled) from 0 s, deadline marked."""
    name = "round_latency_cdf"
    groups = group_by_config(traces)
    styles = _styles(groups)
    with quiet_matplotlib():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        drawn = 0
        for label, group in groups.items():
            lat = np.sort(np.concatenate([round_latencies(t) for t in group]))
            lat = lat[np.isfinite(lat)]
            if not lat.size:
                continue
            x = np.concatenate([[0.0], lat])
            y = np.concatenate([[0.0], np.arange(1, lat.size + 1) / lat.size])
            style = styles[label]
            ax.step(x, y, where="post", color=style["color"], linestyle=style["linestyle"],
                    label=f"{label} ({lat.size} rounds)")
            drawn += 1
        if not drawn:
            plt.close(fig)
            return _skip(name, "no completed rounds in the traces")
        deadlines = sorted({d for t in traces if (d := _deadline_s(t)) is not None})
        for d in deadlines:
            ax.axvline(d, color="0.3", lw=1, ls=":", label=f"uplink deadline {d:g} s")
        ax.set_xlim(left=0.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("round latency [s]")
        ax.set_ylabel("fraction of rounds ≤ latency")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        return save_figure(fig, out_dir / name)


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows no other row dominates (``x`` ≤ and ``y`` ≥, at least one strictly)."""
    values = points[[x, y]].to_numpy(dtype=float)
    keep = []
    for xi, yi in values:
        no_worse = (values[:, 0] <= xi) & (values[:, 1] >= yi)
        better = (values[:, 0] < xi) | (values[:, 1] > yi)
        dominated = np.any(no_worse & better)
        keep.append(not dominated and np.isfinite(xi) and np.isfinite(yi))
    return points[np.array(keep, dtype=bool)].sort_values(x)


def plot_pareto(summary: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per configuration: mean median round latency vs mean final accuracy, ±95% bars, front."""
    name = "pareto_latency_accuracy"
    x, y = "latency_p50_s", "final_mean_accuracy"
    if "config" not in summary.columns:
        summary = summary.assign(config=summary["method"])
    points = method_points(summary, [x, y])
    points = points[np.isfinite(points[x].astype(float)) & np.isfinite(points[y].astype(float))]
    if not len(points):
        return _skip(name, "no run with both a round latency and a final accuracy")
    with quiet_matplotlib():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for row in points.itertuples():
            style = method_style(str(row.method))
            ax.errorbar(getattr(row, x), getattr(row, y), xerr=np.nan_to_num(row.latency_p50_s_hw),
                        yerr=np.nan_to_num(row.final_mean_accuracy_hw), color=style.color,
                        marker=style.marker, ms=7, capsize=3, ls="none",
                        label=_legend_label(str(row.config), int(row.n)))
        front = pareto_front(points, x, y)
        # Hollow rings mark the front's members (a one-point front has no line to see).
        ax.plot(front[x], front[y], "k--", lw=1, marker="o", ms=15, mfc="none", mew=1.0,
                label="Pareto front (of the means)", zorder=0)
        lo = float((points[y] - points[f"{y}_hw"].fillna(0)).min())
        hi = float((points[y] + points[f"{y}_hw"].fillna(0)).max())
        fraction_axis(ax, lo, hi)
        ax.set_xlim(left=0.0, right=float((points[x] + points[f"{x}_hw"].fillna(0)).max()) * 1.15)
        ax.set_xlabel("median round latency [s] (mean over seeds, 95% CI)")
        ax.set_ylabel("final mean accuracy (union split)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        return save_figure(fig, out_dir / name)


def plot_k_vs_snr(trace: RunTrace, out_dir: Path) -> list[Path]:
    """Chosen k (mean per token) and the uplink SNR at encode time, one panel per client."""
    name = "k_vs_snr"
    events = trace["events"]
    encodes = events[(events["kind"] == "encode") & np.isfinite(events["k"].astype(float))]
    if not len(encodes):
        return _skip(name, f"run {trace.path.stem} has no Top-k encodes")
    clients = trace["clients"]
    names = dict(zip(clients["client"], clients["name"], strict=True)) if len(clients) else {}
    ids = sorted(int(c) for c in encodes["client"].unique())
    k_max = trace.config.get("distillation", {}).get("k_max")
    top = float(k_max) if isinstance(k_max, int | float) else float(encodes["k"].max())
    ncols = min(3, len(ids))
    nrows = -(-len(ids) // ncols)
    snr = encodes["snr_db"].astype(float)
    with quiet_matplotlib():
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows + 0.5),
                                 squeeze=False, sharex=True)
        for ax, client in zip(axes.flat, ids, strict=False):
            rows = encodes[encodes["client"] == client]
            ax.plot(rows["time_s"], rows["k"], "o-", color="#0072B2", ms=3)
            ax.set_ylim(0.0, top * 1.08)
            ax.set_ylabel("Top-k per token", color="#0072B2", fontsize=8)
            ax.set_title(f"client {client} ({names.get(client, '?')})", fontsize=9)
            ax.grid(alpha=0.3)
            if np.isfinite(rows["snr_db"].astype(float)).any():
                ax2 = ax.twinx()
                ax2.plot(rows["time_s"], rows["snr_db"], "s--", color="#D55E00", ms=3)
                if np.isfinite(snr).any():
                    ax2.set_ylim(float(np.nanmin(snr)) - 2.0, float(np.nanmax(snr)) + 2.0)
                ax2.set_ylabel("uplink SNR [dB]", color="#D55E00", fontsize=8)
        for ax in axes.flat[len(ids):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("simulated time [s]")
        fig.suptitle(f"k vs SNR: run {trace.path.stem} ({run_method(trace)})", fontsize=10)
        return save_figure(fig, out_dir / name)


def plot_run(trace: RunTrace, out_dir: Path) -> list[Path]:
    """Every per-run figure, written into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        *plot_accuracy([trace], out_dir, "time_s"),
        *plot_accuracy([trace], out_dir, "cum_uplink_bytes"),
        *plot_accuracy_by_strength([trace], out_dir),
        *plot_latency_cdf([trace], out_dir),
        *plot_k_vs_snr(trace, out_dir),
    ]


def plot_study(traces: Sequence[RunTrace], summary: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Study figures: seed means per configuration, the Pareto front of the means, and
    k vs SNR of the first adaptive run (lowest seed).

    ``summary``: one :func:`cosim.analysis.summary.run_summary` row per run,
    with a ``config`` column (:func:`config_label`; the method when absent).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        *plot_accuracy(traces, out_dir, "time_s"),
        *plot_accuracy(traces, out_dir, "cum_uplink_bytes"),
        *plot_accuracy_by_strength(traces, out_dir),
        *plot_latency_cdf(traces, out_dir),
        *plot_pareto(summary, out_dir),
    ]
    adaptive = [t for t in traces if run_method(t) == "adaptive"]
    if adaptive:
        first = min(adaptive, key=lambda t: (int(t.attrs.get("seed", 0)), str(t.path)))
        paths += plot_k_vs_snr(first, out_dir)
    else:
        _skip("k_vs_snr", "no adaptive run in the study")
    return paths
