"""One summary row per run, computed from its trace alone.

Accuracy is the mean over clients of next-token top-1 accuracy on the
``union`` split (all domains' test data) unless told otherwise; "worst" is the
minimum over clients. Round latency is ``end_s − start_s`` of each round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cosim.trace.reader import RunTrace

PRIMARY_SPLIT = "union"


def accuracy_curve(trace: RunTrace, split: str = PRIMARY_SPLIT,
                   clients: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-round mean/worst accuracy and perplexity with simulated time and cumulative bytes.

    ``clients``: average over these client indices only (default: all).
    Returns columns: round, time_s, mean_accuracy, worst_accuracy,
    mean_perplexity, worst_perplexity, cum_uplink_bytes.
    """
    metrics = trace["metrics"]
    metrics = metrics[(metrics["split"] == split) & (metrics["client"] >= 0)]
    if clients is not None:
        metrics = metrics[metrics["client"].isin(list(clients))]
    if metrics.empty:
        return pd.DataFrame(
            columns=["round", "time_s", "mean_accuracy", "worst_accuracy", "mean_perplexity",
                     "worst_perplexity", "cum_uplink_bytes"]
        )
    grouped = metrics.groupby("round")
    curve = pd.DataFrame(
        {
            "time_s": grouped["time_s"].max(),
            "mean_accuracy": grouped["accuracy"].mean(),
            "worst_accuracy": grouped["accuracy"].min(),
            "mean_perplexity": grouped["perplexity"].mean(),
            "worst_perplexity": grouped["perplexity"].max(),
        }
    ).reset_index()
    rounds = trace["rounds"].set_index("round")
    cum = rounds["uplink_bytes"].cumsum() if len(rounds) else pd.Series(dtype=float)
    curve["cum_uplink_bytes"] = [float(cum.get(r, 0.0)) if r >= 0 else 0.0 for r in curve["round"]]
    return curve


def accuracy_at_time(curve: pd.DataFrame, budget_s: float) -> float:
    """Mean accuracy of the last evaluation at or before ``budget_s`` (NaN if none)."""
    within = curve[curve["time_s"] <= budget_s]
    return float(within["mean_accuracy"].iloc[-1]) if len(within) else math.nan


def run_summary(trace: RunTrace, time_budget_s: float | None = None) -> dict[str, Any]:
    """Key figures of one run (a row of the study's summary CSV)."""
    cfg = trace.config
    rounds = trace["rounds"]
    curve = accuracy_curve(trace)
    latency = (rounds["end_s"] - rounds["start_s"]).to_numpy() if len(rounds) else np.array([])
    events = trace["events"]
    encodes = events[events["kind"] == "encode"]
    tokens = encodes["tokens"].astype(float)
    uplink = float(rounds["uplink_bytes"].sum()) if len(rounds) else 0.0
    last = curve.iloc[-1] if len(curve) else None
    row: dict[str, Any] = {
        "method": cfg.get("distillation", {}).get("method", ""),
        "seed": int(trace.attrs.get("seed", -1)),
        "status": trace.status,
        "rounds": len(rounds),
        "sim_time_s": float(rounds["end_s"].max()) if len(rounds) else math.nan,
        "final_mean_accuracy": float(last["mean_accuracy"]) if last is not None else math.nan,
        "final_worst_accuracy": float(last["worst_accuracy"]) if last is not None else math.nan,
        "final_mean_perplexity": float(last["mean_perplexity"]) if last is not None else math.nan,
        "final_worst_perplexity": float(last["worst_perplexity"]) if last is not None else math.nan,
        "uplink_bytes": uplink,
        "downlink_bytes": float(rounds["downlink_bytes"].sum()) if len(rounds) else 0.0,
        "uplink_bytes_per_token": uplink / tokens.sum() if tokens.sum() > 0 else math.nan,
        "mean_k": float(encodes["k"].mean()) if len(encodes) else math.nan,
        "latency_p50_s": float(np.median(latency)) if latency.size else math.nan,
        "latency_p95_s": float(np.percentile(latency, 95)) if latency.size else math.nan,
        "deadline_misses": int(rounds["n_missed"].sum()) if len(rounds) else 0,
        "partial_uploads": int(rounds["n_partial"].sum()) if len(rounds) else 0,
    }
    if time_budget_s is not None:
        row["accuracy_at_budget"] = accuracy_at_time(curve, time_budget_s)
    return row
