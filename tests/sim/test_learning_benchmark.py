"""The decision logic of benchmarks/learning.py on synthetic per-seed numbers (no training)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from cosim.analysis.stats import Interval

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "learning.py"
NAMES = ["strong", "mid", "weak"]
SEEDS = (1, 2, 3)
# Per-seed wiggle shared by every variant (what pairing by seed cancels).
SEED_SHIFT = {1: 0.00, 2: 0.30, 3: -0.20}
NOISE = {1: 0.010, 2: -0.015, 3: 0.005}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("learning_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _run(bench, label: str, seed: int, union: list[float], n_bytes: int):
    shift = SEED_SHIFT[seed]
    scale = 1 + len(label) % 3  # variants differ a little beyond the shared seed shift
    union = [u + shift + NOISE[seed] * (i + 1) * scale for i, u in enumerate(union)]
    return bench.RunResult(
        variant=label, seed=seed, clients=NAMES, presets=["a", "b", "c"],
        own_ce=[u - 0.5 for u in union], union_ce=union,
        own_acc=[0.3] * 3, union_acc=[0.2] * 3, uplink_bytes=n_bytes + seed,
        downlink_bytes=0, k_mean=8.0, wall_s=1.0,
        initial_own_ce=[u + 2.0 for u in union] if label == "local_only" else [],
        initial_union_ce=[u + 2.0 for u in union] if label == "local_only" else [],
    )


def _results(bench, overrides: dict[str, tuple[list[float], int]] | None = None):
    """Distillation helps the weak clients; adaptive sits on the curve with 40% of fd_topk."""
    table = {
        "local_only": ([3.0, 6.0, 7.0], 0),
        "fd_full": ([3.0, 5.0, 6.0], 40_000_000),
        "fd_topk": ([3.0, 5.6, 6.6], 100_000),
        "adaptive": ([3.0, 5.4, 6.4], 40_000),
        "no_residual": ([3.0, 5.7, 6.7], 40_000),
        "no_hidden": ([3.0, 5.6, 6.6], 30_000),
        "fixed_k4": ([3.0, 5.8, 6.8], 20_000),
        "fixed_k16": ([3.0, 5.5, 6.5], 60_000),
        "fixed_k64": ([3.0, 5.3, 6.3], 200_000),
    }
    table.update(overrides or {})
    return {label: {s: _run(bench, label, s, list(u), b) for s in SEEDS}
            for label, (u, b) in table.items()}


def _by_name(checks) -> dict[str, bool]:
    return {c.name.split(":")[0] + ":" + c.name.split(":")[1][:12]: c.passed for c in checks}


def test_all_pass_when_the_method_works(bench) -> None:
    checks = bench.all_checks(_results(bench), (4, 16, 64), 16)
    failed = [c.line() for c in checks if not c.passed]
    assert not failed, failed
    # setup, a ×3, b ×2, c1, c2, d ×3
    assert len(checks) == 1 + 3 + 2 + 2 + 3


def test_strongest_is_found_from_local_only(bench) -> None:
    results = _results(bench, {"local_only": ([6.0, 3.0, 7.0], 0)})
    assert bench.strongest_client(results) == 1


def test_a_fails_when_distillation_hurts_the_strong_client(bench) -> None:
    results = _results(bench, {"adaptive": ([3.4, 5.4, 6.4], 40_000)})
    lines = {c.name: c for c in bench.check_a(results, NAMES, 0)}
    assert not lines["a: adaptive vs local_only, strongest client strong"].passed
    assert lines["a: fd_topk vs local_only, strongest client strong"].passed
    assert "+0.400" in lines["a: adaptive vs local_only, strongest client strong"].detail


def test_b_needs_every_weak_client_to_improve(bench) -> None:
    # adaptive helps "mid" but leaves "weak" where local_only has it.
    results = _results(bench, {"adaptive": ([3.0, 5.4, 7.0], 40_000)})
    b = {c.name.split(" ")[1]: c for c in bench.check_b(results, NAMES, [1, 2])}
    assert b["fd_full"].passed
    assert not b["adaptive"].passed


def test_c_fails_above_the_curve_or_over_half_the_bytes(bench) -> None:
    above = _results(bench, {"adaptive": ([3.0, 5.9, 6.9], 40_000)})
    c1, c2 = bench.check_c(above, [1, 2], (4, 16, 64))
    assert not c1.passed and not c2.passed
    costly = _results(bench, {"adaptive": ([3.0, 5.3, 6.3], 60_000)})
    c1, c2 = bench.check_c(costly, [1, 2], (4, 16, 64))
    assert c1.passed and not c2.passed
    assert "60.0%" in c2.detail


def test_interpolation_is_linear_in_log_bytes(bench) -> None:
    curve = [(400.0, 1.0), (100.0, 2.0)]
    assert bench.interpolate_log_bytes(curve, 200.0) == (pytest.approx(1.5), "")
    value, note = bench.interpolate_log_bytes(curve, 50.0)
    assert value == 2.0 and "below" in note
    value, note = bench.interpolate_log_bytes(curve, 1000.0)
    assert value == 1.0 and "beyond" in note


def test_ablation_verdict_rule(bench) -> None:
    worse = Interval(0.2, 0.1, 3)  # off is significantly worse
    same = Interval(0.01, 0.1, 3)
    better = Interval(-0.2, 0.1, 3)  # off is significantly better
    assert bench.ablation_verdict(100.0, 50.0, worse)  # cheaper but worse: part earns it
    assert not bench.ablation_verdict(100.0, 50.0, same)  # cheaper and as good: it does not
    assert bench.ablation_verdict(100.0, 200.0, same)  # dearer, no better: part saves bytes
    assert not bench.ablation_verdict(100.0, 200.0, better)
    assert not bench.ablation_verdict(100.0, 100.5, same)  # within the 1% byte margin


def test_checks_need_two_seeds_to_pass(bench) -> None:
    results = {label: {1: runs[1]} for label, runs in _results(bench).items()}
    checks = bench.all_checks(results, (4, 16, 64), 16)
    # One seed: no interval, so nothing is significant; "not raised" checks pass
    # vacuously, "lowered" checks fail. Either way no NaN leaks into the verdict.
    assert not next(c for c in checks if c.name.startswith("b: adaptive")).passed
    assert all(isinstance(c.passed, bool) for c in checks)
    assert all("n/a" in c.detail for c in checks if c.name.startswith("a:"))
    assert not math.isnan(bench.weak_ce(results["adaptive"][1], [1, 2]))


def test_variants_cover_methods_curve_and_ablations(bench) -> None:
    labels = [v.label for v in bench.variants((4, 8))]
    assert labels[:5] == ["local_only", "fedavg_lora", "fd_full", "fd_topk", "adaptive"]
    assert {"no_residual", "no_hidden", "fixed_k4", "fixed_k8"} <= set(labels)
    k8 = next(v for v in bench.variants((4, 8)) if v.label == "fixed_k8")
    assert "distillation.adaptive_k=false" in k8.overrides and "distillation.k=8" in k8.overrides


def test_tables_print_every_client(bench) -> None:
    results = _results(bench)
    text = bench.method_table(results, "adaptive")
    assert all(name in text for name in NAMES)
    assert "Δunion vs local" in text
    assert "initial own/union CE" in bench.initial_table(results)
    summary = bench.summary_table(results, ["local_only", "adaptive", "missing"])
    assert "strongest = strong" in summary and "missing" not in summary
    adaptive_row = next(line for line in summary.splitlines() if line.startswith("adaptive"))
    assert "0.040" in adaptive_row  # MB


def test_missing_runs_give_not_run_lines(bench) -> None:
    results = _results(bench)
    for label in ("fd_full", "fixed_k4", "fixed_k64", "no_hidden"):
        del results[label]
    checks = bench.all_checks(results, (4, 16, 64), 16)
    skipped = {c.name.split(" (")[0][:30] for c in checks if c.skipped}
    assert len(checks) == 1 + 3 + 2 + 2 + 3  # every check still has its line
    assert any(c.startswith("a: fd_full") for c in skipped)
    assert any(c.startswith("b: fd_full") for c in skipped)
    assert any(c.startswith("c1:") for c in skipped)
    assert any(c.startswith("d: hidden") for c in skipped)
    line = next(c for c in checks if c.name.startswith("c1:")).line()
    assert line.startswith("NOT RUN") and "fixed_k4" in line and "fixed_k64" in line
    # A curve point missing a seed that adaptive has is not used (whole curves per seed).
    partial = _results(bench)
    del partial["fixed_k64"][3]
    c1 = bench.check_c(partial, [1, 2], (4, 16, 64))[0]
    assert not c1.skipped and "k=64" not in c1.detail
