"""A run's key figures and per-round table for other tools (``cosim inspect --json/--csv``).

The per-round table joins the trace's ``rounds`` table with the accuracy
curve (:func:`cosim.analysis.summary.accuracy_curve`): one row per round with
its times, uploads, bytes and the clients' mean/worst accuracy and
perplexity after it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from cosim.analysis.summary import accuracy_curve, run_summary
from cosim.trace.reader import RunTrace


def round_table(trace: RunTrace) -> pd.DataFrame:
    """One row per round: the ``rounds`` columns, latency_s, cumulative uplink and accuracy."""
    rounds = trace["rounds"].copy()
    rounds["latency_s"] = rounds["end_s"] - rounds["start_s"]
    rounds["cum_uplink_bytes"] = rounds["uplink_bytes"].cumsum()
    curve = accuracy_curve(trace).drop(columns=["time_s", "cum_uplink_bytes"])
    if len(rounds) == 0:
        return rounds
    return rounds.merge(curve, on="round", how="left")


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_record(trace: RunTrace) -> dict[str, Any]:
    """Summary figures, provenance and the per-round table as plain JSON-ready data."""
    attrs = trace.attrs
    info = {k: _plain(attrs.get(k)) for k in ("schema_version", "cosim_version", "command",
                                             "scenario_path", "seed", "status",
                                             "start_wall_time", "end_wall_time")}
    has_rounds = len(trace["rounds"]) > 0
    summary = {k: _plain(v) for k, v in run_summary(trace).items()} if has_rounds else {}
    rows = round_table(trace).to_dict(orient="records")
    return {"trace": str(trace.path), **info, "summary": summary,
            "rounds": [{k: _plain(v) for k, v in row.items()} for row in rows]}
