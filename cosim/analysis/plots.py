"""Latency–accuracy plots (PNG) from run traces.

Per run: accuracy vs simulated time, accuracy vs cumulative uplink bytes,
round-latency CDF, and k vs SNR over time for one client. Per study (many
runs), the same curves with one line per run, plus the latency–accuracy
Pareto front: each run is a point (median round latency, final mean
accuracy); a point is on the front if no other run has both lower latency
and higher accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cosim.analysis.summary import accuracy_curve
from cosim.trace.reader import RunTrace


def _label(trace: RunTrace) -> str:
    method = trace.config.get("distillation", {}).get("method", "?")
    return f"{method} (seed {trace.attrs.get('seed')})"


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy(traces: Sequence[RunTrace], out_dir: Path, x: str) -> Path:
    """Mean accuracy vs ``x`` ∈ {"time_s", "cum_uplink_bytes"} (one line per run)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for trace in traces:
        curve = accuracy_curve(trace)
        if len(curve):
            ax.plot(curve[x], curve["mean_accuracy"], marker="o", ms=3, label=_label(trace))
    if x == "time_s":
        ax.set_xlabel("simulated time [s]")
        name = "accuracy_vs_time.png"
    else:
        ax.set_xlabel("cumulative uplink bytes [B]")
        ax.set_xscale("symlog")
        name = "accuracy_vs_uplink_bytes.png"
    ax.set_ylabel("mean next-token accuracy (union split)")
    ax.grid(alpha=0.3)
    if traces:
        ax.legend(fontsize=7)
    return _save(fig, out_dir / name)


def round_latencies(trace: RunTrace) -> np.ndarray:
    """Round latencies ``end_s − start_s`` [s]."""
    rounds = trace["rounds"]
    return (rounds["end_s"] - rounds["start_s"]).to_numpy()


def plot_latency_cdf(traces: Sequence[RunTrace], out_dir: Path) -> Path:
    """Empirical CDF of round latency, one step curve per run."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for trace in traces:
        lat = np.sort(round_latencies(trace))
        if lat.size:
            ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=_label(trace))
    ax.set_xlabel("round latency [s]")
    ax.set_ylabel("CDF")
    ax.grid(alpha=0.3)
    if traces:
        ax.legend(fontsize=7)
    return _save(fig, out_dir / "round_latency_cdf.png")


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


def plot_pareto(summary: pd.DataFrame, out_dir: Path) -> Path:
    """Median round latency vs final mean accuracy per run, with the Pareto front."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, rows in summary.groupby("method"):
        ax.scatter(rows["latency_p50_s"], rows["final_mean_accuracy"], label=str(method), s=25)
    front = pareto_front(summary, "latency_p50_s", "final_mean_accuracy")
    if len(front):
        ax.plot(front["latency_p50_s"], front["final_mean_accuracy"], "k--", lw=1, marker="o",
                ms=10, mfc="none", label="Pareto front")
    ax.set_xlabel("median round latency [s]")
    ax.set_ylabel("final mean accuracy (union split)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out_dir / "pareto_latency_accuracy.png")


def plot_k_vs_snr(trace: RunTrace, out_dir: Path, client: int | None = None) -> Path:
    """Chosen k (mean per token) and the SNR at encode time over simulated time, one client.

    ``client`` None picks the client whose SNR varied most (the most telling one).
    """
    events = trace["events"]
    encodes = events[(events["kind"] == "encode") & np.isfinite(events["k"])]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if len(encodes):
        if client is None:
            client = int(encodes.groupby("client")["snr_db"].std().fillna(0).idxmax())
        rows = encodes[encodes["client"] == client]
        ax.plot(rows["time_s"], rows["k"], "o-", color="tab:blue", ms=3)
        ax2 = ax.twinx()
        ax2.plot(rows["time_s"], rows["snr_db"], "s--", color="tab:red", ms=3)
        ax2.set_ylabel("uplink SNR at encode [dB]", color="tab:red")
        ax.set_title(f"client {client}")
    ax.set_xlabel("simulated time [s]")
    ax.set_ylabel("Top-k entries per token", color="tab:blue")
    ax.grid(alpha=0.3)
    return _save(fig, out_dir / "k_vs_snr.png")


def plot_run(trace: RunTrace, out_dir: Path) -> list[Path]:
    """Every per-run plot, written into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_accuracy([trace], out_dir, "time_s"),
        plot_accuracy([trace], out_dir, "cum_uplink_bytes"),
        plot_latency_cdf([trace], out_dir),
        plot_k_vs_snr(trace, out_dir),
    ]


def plot_study(traces: Sequence[RunTrace], summary: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Study plots: every run's curves, the Pareto front, k vs SNR of the first adaptive run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_accuracy(traces, out_dir, "time_s"),
        plot_accuracy(traces, out_dir, "cum_uplink_bytes"),
        plot_latency_cdf(traces, out_dir),
        plot_pareto(summary, out_dir),
    ]
    adaptive = [t for t in traces if t.config.get("distillation", {}).get("method") == "adaptive"]
    if adaptive or traces:
        paths.append(plot_k_vs_snr((adaptive or list(traces))[0], out_dir))
    return paths
