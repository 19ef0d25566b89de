"""Study figures: seed means with t bands, fixed method styles, files, no warnings."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.analysis.aggregate import (
    config_label,
    group_by_config,
    mean_curve,
    method_points,
    paired_comparison,
    split_strong_weak,
)
from cosim.analysis.plots import pareto_front, plot_run, plot_study
from cosim.analysis.style import METHOD_STYLES, format_bytes, method_style
from cosim.analysis.summary import run_summary
from cosim.trace.reader import RunTrace
from cosim.trace.schema import TABLES

# t_{0.975, 2}: the 95% two-sided Student-t factor with 3 seeds.
T_975_2 = 4.302652729911275


def _trace(tmp: Path, method: str, seed: int, acc: list[float], snr: tuple[float, float] = (20.0,
           -5.0), k: float = 8.0) -> RunTrace:
    """A two-client run: per-round accuracies ``acc`` (client 0 = acc, client 1 = acc/2)."""
    n = len(acc)
    tables = {t: pd.DataFrame({c.name: [] for c in cols}) for t, cols in TABLES.items()}
    tables["clients"] = pd.DataFrame({
        "client": [0, 1], "name": ["near", "far"], "model": ["m", "m"], "domain": ["a", "b"],
        "distance_m": [10.0, 400.0], "speed_mps": [0.0, 0.0], "device": ["x", "x"],
        "n_params": [1, 1], "n_trainable": [1, 1]})
    tables["rounds"] = pd.DataFrame({
        "round": range(n), "start_s": np.arange(n, dtype=float),
        "deadline_s": np.arange(n) + 0.5, "end_s": np.arange(n) + 0.4 + 0.1 * seed,
        "n_selected": 2, "n_delivered": 2, "n_partial": 0, "n_missed": 0,
        "uplink_bytes": 1000 * (seed + 1), "downlink_bytes": 10})
    rows = []
    for r, a in enumerate(acc):
        for c, scale in ((0, 1.0), (1, 0.5)):
            rows.append({"time_s": r + 0.4, "round": r, "client": c, "split": "union",
                         "loss": 1.0, "perplexity": math.e, "accuracy": a * scale})
    tables["metrics"] = pd.DataFrame(rows, columns=[c.name for c in TABLES["metrics"]])
    tables["events"] = pd.DataFrame({
        "time_s": [0.1, 0.1], "client": [0, 1], "kind": ["encode", "encode"], "round": [0, 0],
        "bytes": [100, 100], "k": [k, k / 2], "tokens": [10, 10], "snr_db": list(snr),
        "detail": ["", ""]})
    tables["channel"] = pd.DataFrame({"time_s": [0.0, 0.0], "client": [0, 1],
                                      "snr_db": list(snr), "rate_bps": [np.nan, np.nan]})
    config = {"distillation": {"method": method, "k_max": 16}, "server": {"round_deadline_s": 0.5}}
    attrs = {"seed": seed, "status": "completed", "resolved_config_json": json.dumps(config)}
    return RunTrace(tmp / f"method={method},seed={seed}.h5", attrs, tables)


def test_mean_curve_is_the_seed_mean_with_the_t_half_width(tmp_path: Path) -> None:
    accs = [[0.1, 0.2], [0.2, 0.4], [0.3, 0.3]]
    traces = [_trace(tmp_path, "adaptive", s, a) for s, a in enumerate(accs)]
    curves = [pd.DataFrame({"round": [0, 1], "x": [1.0, 2.0], "y": a}) for a in accs]
    out = mean_curve(curves, "x", "y")
    # Round 1: values 0.2, 0.4, 0.3 → mean 0.3, s = 0.1, h = t·s/√3.
    assert out["y"].iloc[1] == pytest.approx(0.3)
    assert out["half_width"].iloc[1] == pytest.approx(T_975_2 * 0.1 / math.sqrt(3))
    assert list(out["n"]) == [3, 3]
    assert list(group_by_config(traces)) == ["adaptive"]


def test_config_label_drops_the_seed_and_keeps_other_grid_values(tmp_path: Path) -> None:
    trace = _trace(tmp_path, "fd_topk", 1, [0.1])
    assert config_label(trace) == "fd_topk"
    other = RunTrace(tmp_path / "method=fd_topk,bandwidth_hz=5e6,seed=2.h5", trace.attrs,
                     trace.tables)
    assert config_label(other) == "fd_topk, bandwidth_hz=5e6"


def test_pareto_uses_method_means_and_paired_differences_cancel_seed_effects(
        tmp_path: Path) -> None:
    # Seed effects dominate single runs (0.1 … 0.5) but B − A is exactly +0.02 each seed.
    base = [0.1, 0.3, 0.5]
    rows = [{"config": "A", "method": "fd_topk", "seed": s, "acc": b, "lat": 1.0}
            for s, b in enumerate(base)]
    rows += [{"config": "B", "method": "adaptive", "seed": s, "acc": b + 0.02, "lat": 2.0}
             for s, b in enumerate(base)]
    summary = pd.DataFrame(rows)
    points = method_points(summary, ["acc", "lat"])
    assert list(points["acc"]) == pytest.approx([0.3, 0.32])
    assert list(points["acc_hw"]) == pytest.approx([T_975_2 * 0.2 / math.sqrt(3)] * 2)
    assert len(pareto_front(points, "lat", "acc")) == 2  # B: more accurate, slower
    diff = paired_comparison(summary, ["acc"], "A").iloc[0]
    assert diff["mean_diff"] == pytest.approx(0.02)
    assert diff["ci_high"] - diff["ci_low"] == pytest.approx(0.0, abs=1e-12)


def test_method_styles_are_fixed_and_distinct() -> None:
    colours = {s.color for s in METHOD_STYLES.values()}
    markers = {s.marker for s in METHOD_STYLES.values()}
    assert len(colours) == len(markers) == len(METHOD_STYLES) == 5
    assert method_style("adaptive") == METHOD_STYLES["adaptive"]
    assert method_style("my_method") == method_style("my_method")


def test_byte_ticks_read_as_si_volumes() -> None:
    assert [format_bytes(v) for v in (0, 500, 2000, 5e5, 1e6, 2.5e9)] == [
        "0 B", "500 B", "2 kB", "500 kB", "1 MB", "2.5 GB"]


def test_strong_and_weak_clients_split_by_mean_snr(tmp_path: Path) -> None:
    assert split_strong_weak(_trace(tmp_path, "adaptive", 0, [0.1])) == ([0], [1])
    assert split_strong_weak(_trace(tmp_path, "adaptive", 0, [0.1], snr=(-9.0, 3.0))) == (
        [1], [0])


@pytest.mark.slow
def test_study_plots_exist_as_png_and_pdf_without_warnings(tmp_path: Path) -> None:
    traces = [_trace(tmp_path, m, s, [0.1 + 0.05 * s, 0.2 + 0.05 * s + d])
              for m, d in (("fd_topk", 0.0), ("adaptive", 0.03)) for s in range(3)]
    summary = pd.DataFrame([{"config": config_label(t), **run_summary(t)} for t in traces])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = plot_study(traces, summary, tmp_path / "plots")
    names = {p.name for p in paths}
    for stem in ("accuracy_vs_time", "accuracy_vs_uplink_bytes", "accuracy_by_client_strength",
                 "round_latency_cdf", "pareto_latency_accuracy", "k_vs_snr"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)


def test_empty_plots_are_skipped_with_a_note(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    trace = _trace(tmp_path, "fd_full", 0, [])
    trace.tables["events"] = trace.tables["events"].iloc[0:0]
    caplog.set_level("INFO", logger="cosim")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = plot_run(trace, tmp_path / "p")
    assert paths == []
    notes = " ".join(r.getMessage() for r in caplog.records)
    assert "accuracy_vs_time skipped" in notes and "k_vs_snr skipped" in notes
    assert not list((tmp_path / "p").iterdir())
