"""Does federated distillation help? Every method side by side, per client, over seeds.

Runs the engine alone (no network: every payload arrives whole; the adaptive
k policy sees ``distillation.default_budget_bytes`` as its budget) on
``scenarios/learning.yaml``: the full SmolLM2-135M-Instruct (GGUF Q4_1,
dequantized), a healed 4-layer SmolLM2 and trainable tiny presets, each on
its own domain. Every variant runs on the same seeds; a seed fixes the data
split, the initial weights and the public batches, so variants are compared
*paired* by seed (:func:`cosim.analysis.stats.paired_ci`, Student t, 95%).

Variants: ``local_only``, ``fedavg_lora``, ``fd_full``, ``fd_topk`` (fixed
``k``, probability zero-padding), ``adaptive`` (coverage-and-budget k,
residual aggregation, hidden projection), the fixed-k curve of adaptive's own
aggregation (adaptive with ``adaptive_k`` off, k ∈ {4, 8, 16, 32, 64}) and
adaptive with residual aggregation or the hidden projection switched off.
Switching ``adaptive_k`` off is the curve point at the scenario's ``k``.

Metrics (after the last round): per client, next-token cross-entropy [nats]
on held-out tokens of its own domain and of the union of all domains; total
uplink bytes of the run. The *strongest* client is the one with the lowest
mean union CE under ``local_only``; every other client is *weak*. "Weak CE"
is the mean over weak clients of their union CE (the accuracy axis of (c)).

Checks (a decision rule is fixed here, before any result is seen):

- (setup) local training moves every client: final ``local_only`` own CE is
  significantly below its initial own CE (paired CI entirely below 0).
- (a) for each distillation method (fd_full, fd_topk, adaptive), the
  strongest client's own and union CE minus local_only's: FAIL if the paired
  CI lies entirely above 0 (raised by more than its CI).
- (b) fd_full and adaptive: every weak client's union CE minus local_only's
  has a paired CI entirely below 0.
- (c1) adaptive vs the fixed-k curve: the curve's weak CE at adaptive's
  bytes (per seed; piecewise linear in log bytes; outside the curve's byte
  range the nearest end point) minus nothing: adaptive's weak CE minus that
  value must not have a CI entirely above 0 ("on or below").
- (c2) adaptive's weak CE minus fd_topk's has no CI entirely above 0, and
  adaptive's mean uplink bytes are at most 50% of fd_topk's.
- (d) each of adaptive's parts switched off: it earns its place if switching
  it off raises weak CE significantly (CI above 0), or costs > 1% more bytes
  without a significantly lower weak CE. Bytes and CE effects are printed.

Results of each run are kept as JSON under ``--out`` (default
``runs/learning_bench``) with fingerprints of the engine source and of the
settings; a rerun skips finished runs made with the same code and settings
(``--fresh`` redoes them) and never mixes in the others, so a killed
benchmark resumes.

Cost: the full SmolLM2-135M dominates (training, and evaluating 2 × 2,048
held-out tokens after the last round); the CPU seconds of every run are
printed at the end. On a busy shared machine use one torch thread per run.

    .venv/bin/python benchmarks/learning.py                 # 36 runs: 12 variants x 3 seeds
    .venv/bin/python benchmarks/learning.py --workers 5 \
        --set distillation.local_steps=1 --set data.eval_tokens=1024   # the README's run
    .venv/bin/python benchmarks/learning.py --quick         # smoke run of the code path
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cosim.analysis.stats import Interval, mean_ci, paired_ci

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "learning.yaml"
CURVE_KS = (4, 8, 16, 32, 64)
DISTILLATION_METHODS = ("fd_full", "fd_topk", "adaptive")
BYTES_MARGIN = 0.01  # (d): "costs more bytes" means more than 1% more


# ---- the variants --------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One configuration: a label and the ``--set`` overrides that make it."""

    label: str
    overrides: tuple[str, ...]


def curve_label(k: int) -> str:
    return f"fixed_k{k}"


def variants(curve_ks: Sequence[int] = CURVE_KS) -> list[Variant]:
    """Every configuration the benchmark runs (see the module docstring)."""
    out = [
        Variant("local_only", ("distillation.method=local_only",)),
        Variant("fedavg_lora", ("distillation.method=fedavg_lora",)),
        Variant("fd_full", ("distillation.method=fd_full",)),
        Variant("fd_topk", ("distillation.method=fd_topk",)),
        Variant("adaptive", ("distillation.method=adaptive",)),
        Variant("no_residual", ("distillation.method=adaptive",
                                "distillation.residual_aggregation=false")),
        Variant("no_hidden", ("distillation.method=adaptive",
                              "distillation.hidden_projection=false")),
    ]
    out += [
        Variant(curve_label(k), ("distillation.method=adaptive", "distillation.adaptive_k=false",
                                 f"distillation.k={k}"))
        for k in curve_ks
    ]
    return out


# ---- one run -------------------------------------------------------------------


@dataclass
class RunResult:
    """Final metrics of one (variant, seed) run."""

    variant: str
    seed: int
    clients: list[str]
    presets: list[str]
    own_ce: list[float]
    union_ce: list[float]
    own_acc: list[float]
    union_acc: list[float]
    uplink_bytes: int
    downlink_bytes: int
    k_mean: float
    wall_s: float
    # Before the first round (recorded by the local_only run only).
    initial_own_ce: list[float] = field(default_factory=list)
    initial_union_ce: list[float] = field(default_factory=list)
    eval_tokens: list[int] = field(default_factory=list)
    cpu_s: float = math.nan
    engine: str = ""
    config: str = ""


def _ce(rows: list, split: str) -> tuple[float, float, int]:
    row = next(r for r in rows if r.split == split)
    return float(row.loss), float(row.accuracy), int(row.tokens)


def run_one(
    variant: Variant, seed: int, extra: Sequence[str], threads: int, initial: bool
) -> RunResult:
    """Build the engine for ``variant`` at ``seed`` and run its rounds; evaluate at the end.

    Evaluation (the costly part with the 135M model) runs once after the last
    round, plus once before the first when ``initial``.
    """
    import torch
    from transformers.utils import logging as hf_logging

    from cosim.engine.backend import DistillationBackend
    from cosim.scenario import load_scenario

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()  # per-load progress bars from every worker
    hf_logging.set_verbosity_error()
    start = time.perf_counter()
    loaded = load_scenario(SCENARIO, [*extra, *variant.overrides, f"seed={seed}"])
    scenario = loaded.config
    clients = scenario.engine_clients()
    cfg = scenario.distillation
    backend = DistillationBackend(clients, scenario.data, cfg, scenario.seed)
    names = [c.name for c in clients]
    indices = range(len(clients))  # the backend names clients by index
    before = {i: backend.evaluate(i) for i in indices} if initial else {}
    uplink = downlink_total = 0
    ks: list[float] = []
    for rnd in range(cfg.rounds):
        for i in indices:
            backend.local_update(i, rnd)
        received: dict[int, bytes] = {}
        for i in indices:
            upload = backend.encode_upload(i)
            received[i] = upload.data
            uplink += upload.n_bytes
            if upload.n_tokens:
                ks.append(upload.k_mean)
        downlink, _report = backend.aggregate(received, rnd)
        downlink_total += len(downlink)  # one broadcast
        for i in indices:
            backend.apply_downlink(i, downlink)
    final = {i: backend.evaluate(i) for i in indices}
    own = [_ce(final[i], "own") for i in indices]
    union = [_ce(final[i], "union") for i in indices]
    return RunResult(
        variant=variant.label, seed=seed, clients=names,
        presets=[c.model.preset for c in clients],
        own_ce=[o[0] for o in own], union_ce=[u[0] for u in union],
        own_acc=[o[1] for o in own], union_acc=[u[1] for u in union],
        uplink_bytes=uplink, downlink_bytes=downlink_total,
        k_mean=float(np.mean(ks)) if ks else math.nan,
        wall_s=time.perf_counter() - start,
        initial_own_ce=[_ce(before[n], "own")[0] for n in before],
        initial_union_ce=[_ce(before[n], "union")[0] for n in before],
        eval_tokens=[o[2] for o in own] + [u[2] for u in union],
    )


def engine_fingerprint() -> str:
    """sha256 (12 hex) of the engine's source files as imported by this process.

    Stored with every result, so runs made with different engine code are
    never silently mixed in one table (the resumable result folder).
    """
    import cosim.engine

    folder = Path(cosim.engine.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def config_fingerprint(extra: Sequence[str]) -> str:
    """sha256 (12 hex) of the scenario file and the extra overrides (not the variant's)."""
    digest = hashlib.sha256(SCENARIO.read_bytes())
    for item in extra:
        digest.update(b"\0" + item.encode())
    return digest.hexdigest()[:12]


def _run_job(args: tuple[Variant, int, tuple[str, ...], int, bool, str]) -> dict:
    variant, seed, extra, threads, initial, path = args
    cpu0 = time.process_time()
    result = run_one(variant, seed, extra, threads, initial)
    data = asdict(result)
    data["cpu_s"] = time.process_time() - cpu0
    data["engine"] = engine_fingerprint()
    data["config"] = config_fingerprint(extra)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return data


# ---- statistics over seeds -----------------------------------------------------


Results = dict[str, dict[int, RunResult]]  # variant -> seed -> result


def seeds_of(results: Results, *labels: str) -> list[int]:
    """Seeds present for every one of ``labels`` (sorted), so pairs line up."""
    sets = [set(results.get(label, {})) for label in labels]
    return sorted(set.intersection(*sets)) if sets else []


def client_values(results: Results, label: str, seeds: Sequence[int], metric: str,
                  client: int) -> np.ndarray:
    """``metric`` (a RunResult list field) of client index ``client``, one per seed."""
    return np.array([getattr(results[label][s], metric)[client] for s in seeds])


def weak_ce(result: RunResult, weak: Sequence[int]) -> float:
    """Mean union CE over the weak clients of one run."""
    return float(np.mean([result.union_ce[i] for i in weak]))


def strongest_client(results: Results) -> int:
    """Index of the client with the lowest mean union CE under ``local_only``."""
    runs = list(results["local_only"].values())
    means = np.mean([r.union_ce for r in runs], axis=0)
    return int(np.argmin(means))


def interpolate_log_bytes(curve: Sequence[tuple[float, float]], x_bytes: float
                          ) -> tuple[float, str]:
    """CE of the fixed-k curve at ``x_bytes``: linear in log(bytes) between points.

    ``curve``: (bytes, CE) points. Outside the curve's byte range the nearest
    end point's CE is used; the returned note says so ('' inside the range).
    """
    pts = sorted((b, c) for b, c in curve if b > 0)
    if not pts:
        raise ValueError("fixed-k curve has no point with bytes > 0")
    xs = np.log([b for b, _ in pts])
    ys = np.array([c for _, c in pts])
    x = math.log(x_bytes)
    if x < xs[0]:
        return float(ys[0]), "below the curve's byte range: compared with its smallest k"
    if x > xs[-1]:
        return float(ys[-1]), "beyond the curve's byte range: compared with its largest k"
    return float(np.interp(x, xs, ys)), ""


@dataclass
class Check:
    """One PASS/FAIL line and the numbers behind it."""

    name: str
    passed: bool
    detail: str
    skipped: bool = False  # the runs it needs are missing: neither PASS nor FAIL

    def line(self) -> str:
        verdict = "NOT RUN" if self.skipped else ("PASS" if self.passed else "FAIL")
        return f"{verdict} ({self.name}) {self.detail}"


def not_run(name: str, missing: Sequence[str]) -> Check:
    """A check whose runs are missing (e.g. a benchmark cut short)."""
    return Check(name, False, f"missing runs: {', '.join(missing)}", skipped=True)


def _fmt(ci: Interval) -> str:
    """A difference's CI, signed."""
    return ci.format(3, signed=True)


def check_setup(results: Results, names: Sequence[str]) -> Check:
    """Local training moves every client: final local_only own CE below the initial."""
    runs = results["local_only"]
    seeds = sorted(s for s, r in runs.items() if r.initial_own_ce)
    parts, ok = [], bool(seeds)
    for i, name in enumerate(names):
        before = np.array([runs[s].initial_own_ce[i] for s in seeds])
        after = np.array([runs[s].own_ce[i] for s in seeds])
        ci = paired_ci(after, before)
        ok &= ci.below_zero
        parts.append(f"{name} {before.mean():.2f}->{after.mean():.2f} ({_fmt(ci)})")
    return Check("setup: local training moves every client (own CE, final - initial)", ok,
                 "; ".join(parts))


def check_a(results: Results, names: Sequence[str], strong: int) -> list[Check]:
    """(a) distillation never raises the strongest client's CE above local_only beyond its CI."""
    out = []
    for method in DISTILLATION_METHODS:
        if method not in results:
            out.append(not_run(f"a: {method} vs local_only, strongest client {names[strong]}",
                               [method]))
            continue
        seeds = seeds_of(results, method, "local_only")
        parts, ok = [], True
        for metric in ("own_ce", "union_ce"):
            ci = paired_ci(client_values(results, method, seeds, metric, strong),
                           client_values(results, "local_only", seeds, metric, strong))
            ok &= not ci.above_zero
            parts.append(f"{metric.replace('_ce', '')} CE {_fmt(ci)}")
        out.append(Check(f"a: {method} vs local_only, strongest client {names[strong]}", ok,
                         ", ".join(parts) + " (method - local_only, nats)"))
    return out


def check_b(results: Results, names: Sequence[str], weak: Sequence[int]) -> list[Check]:
    """(b) fd_full and adaptive lower every weak client's union CE below local_only."""
    out = []
    for method in ("fd_full", "adaptive"):
        if method not in results:
            out.append(not_run(f"b: {method} lowers weak clients' union CE vs local_only",
                               [method]))
            continue
        seeds = seeds_of(results, method, "local_only")
        parts, ok = [], True
        for i in weak:
            ci = paired_ci(client_values(results, method, seeds, "union_ce", i),
                           client_values(results, "local_only", seeds, "union_ce", i))
            ok &= ci.below_zero
            parts.append(f"{names[i]} {_fmt(ci)}")
        out.append(Check(f"b: {method} lowers weak clients' union CE vs local_only", ok,
                         "; ".join(parts) + " (method - local_only, nats)"))
    return out


def check_c(results: Results, weak: Sequence[int], curve_ks: Sequence[int]) -> list[Check]:
    """(c1) adaptive on or below the fixed-k curve; (c2) fd_topk's CE at <= 50% of its bytes."""
    out = []
    a_seeds = set(results.get("adaptive", {}))
    # Only points run on every seed adaptive ran on, so each seed has a whole curve.
    curve = [curve_label(k) for k in curve_ks
             if curve_label(k) in results and a_seeds <= set(results[curve_label(k)])]
    c1_name = "c1: adaptive on or below the fixed-k curve (same aggregation)"
    c2_name = "c2: adaptive reaches fd_topk's weak union CE with <= 50% of its bytes"
    if not a_seeds or len(curve) < 2:
        missing = ([] if a_seeds else ["adaptive"]) + [
            curve_label(k) for k in curve_ks if curve_label(k) not in curve]
        out.append(not_run(c1_name + " (needs >= 2 fixed-k points)", missing))
    else:
        seeds = seeds_of(results, "adaptive", *curve)
        diffs, notes = [], set()
        for s in seeds:
            points = [(results[c][s].uplink_bytes, weak_ce(results[c][s], weak)) for c in curve]
            at, note = interpolate_log_bytes(points, results["adaptive"][s].uplink_bytes)
            if note:
                notes.add(note)
            diffs.append(weak_ce(results["adaptive"][s], weak) - at)
        ci = mean_ci(diffs)
        pts = ", ".join(
            f"k={c.removeprefix('fixed_k')}: "
            f"{np.mean([results[c][s].uplink_bytes for s in seeds]):,.0f} B"
            f" / {np.mean([weak_ce(results[c][s], weak) for s in seeds]):.3f}"
            for c in curve
        )
        a_bytes = np.mean([results["adaptive"][s].uplink_bytes for s in seeds])
        a_ce = np.mean([weak_ce(results["adaptive"][s], weak) for s in seeds])
        detail = (f"adaptive {a_bytes:,.0f} B / weak CE {a_ce:.3f}; adaptive - curve at its "
                  f"bytes {_fmt(ci)} nats; curve {pts}")
        if notes:
            detail += f" [{'; '.join(sorted(notes))}]"
        out.append(Check(c1_name, not ci.above_zero, detail))
    if "adaptive" not in results or "fd_topk" not in results:
        out.append(not_run(c2_name, [m for m in ("adaptive", "fd_topk") if m not in results]))
    else:
        seeds = seeds_of(results, "adaptive", "fd_topk")
        ci = paired_ci([weak_ce(results["adaptive"][s], weak) for s in seeds],
                       [weak_ce(results["fd_topk"][s], weak) for s in seeds])
        a_bytes = float(np.mean([results["adaptive"][s].uplink_bytes for s in seeds]))
        t_bytes = float(np.mean([results["fd_topk"][s].uplink_bytes for s in seeds]))
        ratio = a_bytes / t_bytes if t_bytes > 0 else math.inf
        out.append(Check(
            c2_name, (not ci.above_zero) and ratio <= 0.5,
            f"weak CE adaptive - fd_topk {_fmt(ci)} nats; bytes {a_bytes:,.0f} vs "
            f"{t_bytes:,.0f} = {100 * ratio:.1f}%",
        ))
    return out


def ablation_verdict(bytes_on: float, bytes_off: float, ce_diff: Interval) -> bool:
    """A part earns its place (see (d) in the module docstring).

    ``ce_diff``: paired CI of weak CE (part off − part on).
    """
    if ce_diff.above_zero:
        return True
    return bytes_off > (1.0 + BYTES_MARGIN) * bytes_on and not ce_diff.below_zero


def check_d(results: Results, weak: Sequence[int], fixed_k: int) -> list[Check]:
    """(d) each of adaptive's parts switched off in turn: byte and CE effect."""
    parts = [
        (f"adaptive k (off: fixed k={fixed_k})", curve_label(fixed_k)),
        ("residual aggregation (off: masked_mean)", "no_residual"),
        ("hidden projection (off: no z)", "no_hidden"),
    ]
    out = []
    for title, label in parts:
        if "adaptive" not in results or label not in results:
            out.append(not_run(f"d: {title}",
                               [m for m in ("adaptive", label) if m not in results]))
            continue
        seeds = seeds_of(results, "adaptive", label)
        on = [results["adaptive"][s] for s in seeds]
        off = [results[label][s] for s in seeds]
        ci = paired_ci([weak_ce(r, weak) for r in off], [weak_ce(r, weak) for r in on])
        b_on = float(np.mean([r.uplink_bytes for r in on]))
        b_off = float(np.mean([r.uplink_bytes for r in off]))
        out.append(Check(
            f"d: {title}", ablation_verdict(b_on, b_off, ci),
            f"switched off: bytes {b_off:,.0f} vs {b_on:,.0f} ({100 * (b_off / b_on - 1):+.1f}%),"
            f" weak CE {_fmt(ci)} nats (off - on)",
        ))
    return out


def all_checks(results: Results, curve_ks: Sequence[int], fixed_k: int) -> list[Check]:
    """Every check, from the per-run results alone."""
    any_run = next(iter(results["local_only"].values()))
    names = any_run.clients
    strong = strongest_client(results)
    weak = [i for i in range(len(names)) if i != strong]
    checks = [check_setup(results, names)]
    checks += check_a(results, names, strong)
    checks += check_b(results, names, weak)
    checks += check_c(results, weak, curve_ks)
    checks += check_d(results, weak, fixed_k)
    return checks


# ---- tables --------------------------------------------------------------------


def method_table(results: Results, label: str) -> str:
    """Per-client own/union CE with CIs (and paired Δ vs local_only), and uplink bytes."""
    runs = results[label]
    seeds = sorted(runs)
    first = runs[seeds[0]]
    n_bytes = mean_ci([runs[s].uplink_bytes / 1e6 for s in seeds])
    k = [runs[s].k_mean for s in seeds if not math.isnan(runs[s].k_mean)]
    k_text = f", mean k {np.mean(k):.1f}" if k else ""
    lines = [f"== {label}: uplink {n_bytes.format(3)} MB per run{k_text}, "
             f"{len(seeds)} seeds {seeds} =="]
    paired = label != "local_only" and "local_only" in results
    header = f"{'client':<16} {'preset':<13} {'own CE':>15} {'union CE':>15}"
    if paired:
        header += f" {'Δown vs local':>16} {'Δunion vs local':>16}"
    lines.append(header)
    ref_seeds = seeds_of(results, label, "local_only") if paired else []
    for i, name in enumerate(first.clients):
        own = mean_ci(client_values(results, label, seeds, "own_ce", i))
        union = mean_ci(client_values(results, label, seeds, "union_ce", i))
        row = f"{name:<16} {first.presets[i]:<13} {own.format(3):>15} {union.format(3):>15}"
        if paired:
            d_own = paired_ci(client_values(results, label, ref_seeds, "own_ce", i),
                              client_values(results, "local_only", ref_seeds, "own_ce", i))
            d_union = paired_ci(client_values(results, label, ref_seeds, "union_ce", i),
                                client_values(results, "local_only", ref_seeds, "union_ce", i))
            row += f" {_fmt(d_own):>16} {_fmt(d_union):>16}"
        lines.append(row)
    return "\n".join(lines)


def summary_table(results: Results, labels: Sequence[str]) -> str:
    """One row per variant: bytes, k, the strongest client's and the weak clients' union CE.

    Δ columns: paired CI of (variant − local_only) over seeds [nats].
    """
    names = next(iter(results["local_only"].values())).clients
    strong = strongest_client(results)
    weak = [i for i in range(len(names)) if i != strong]
    lines = [f"summary (union CE [nats]; strongest = {names[strong]}, weak = mean of "
             f"{', '.join(names[i] for i in weak)}; Δ = paired vs local_only)",
             f"{'variant':<12} {'uplink MB':>10} {'mean k':>7} {'strongest':>15} "
             f"{'Δstrongest':>16} {'weak':>15} {'Δweak':>16}"]
    for label in labels:
        if label not in results:
            continue
        runs = results[label]
        seeds = sorted(runs)
        ks = [runs[s].k_mean for s in seeds if not math.isnan(runs[s].k_mean)]
        mb = np.mean([runs[s].uplink_bytes for s in seeds]) / 1e6
        strong_ci = mean_ci([runs[s].union_ce[strong] for s in seeds])
        weak_ci = mean_ci([weak_ce(runs[s], weak) for s in seeds])
        row = (f"{label:<12} {mb:>10.3f} {np.mean(ks) if ks else math.nan:>7.1f} "
               f"{strong_ci.format(3):>15} ")
        paired = seeds_of(results, label, "local_only")
        if label != "local_only" and paired:
            ref = results["local_only"]
            d_strong = paired_ci([runs[s].union_ce[strong] for s in paired],
                                 [ref[s].union_ce[strong] for s in paired])
            d_weak = paired_ci([weak_ce(runs[s], weak) for s in paired],
                               [weak_ce(ref[s], weak) for s in paired])
            row += f"{_fmt(d_strong):>16} {weak_ci.format(3):>15} {_fmt(d_weak):>16}"
        else:
            row += f"{'':>16} {weak_ci.format(3):>15}"
        lines.append(row.rstrip())
    return "\n".join(lines)


def initial_table(results: Results) -> str:
    """CE before any training (mean over seeds) next to log V."""
    runs = [r for r in results["local_only"].values() if r.initial_own_ce]
    if not runs:
        return ""
    names = runs[0].clients
    own = np.mean([r.initial_own_ce for r in runs], axis=0)
    union = np.mean([r.initial_union_ce for r in runs], axis=0)
    cells = ", ".join(f"{n} {o:.2f}/{u:.2f}" for n, o, u in zip(names, own, union, strict=True))
    return f"initial own/union CE (uniform = log V = {math.log(49152):.2f}): {cells}"


# ---- driver --------------------------------------------------------------------


def load_results(out_dir: Path) -> Results:
    results: Results = {}
    for path in sorted(out_dir.glob("*.json")):
        data = json.loads(path.read_text())
        result = RunResult(**data)
        results.setdefault(result.variant, {})[result.seed] = result
    return results


def run_all(
    jobs: list[tuple[Variant, int, tuple[str, ...], int, bool, str]],
    workers: int,
    progress: Callable[[dict], None],
) -> None:
    if workers == 1:
        for job in jobs:
            progress(_run_job(job))
        return
    import multiprocessing

    # spawn: torch and forked OpenMP thread pools do not mix.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for data in pool.map(_run_job, jobs):
            progress(data)


# Run order: what the checks need most first, so a run cut short still
# answers (a), (b) and (c2) on every seed.
PRIORITY = ("local_only", "adaptive", "fd_topk", "fd_full", "no_hidden", "no_residual")


def job_order(all_variants: Sequence[Variant], fixed_k: int) -> list[Variant]:
    """Variants in run order: PRIORITY, then the curve (the fixed-k point first), then the rest."""
    rank = {label: i for i, label in enumerate(PRIORITY)}
    rank[curve_label(fixed_k)] = len(PRIORITY)

    def key(v: Variant) -> tuple[int, int]:
        if v.label in rank:
            return rank[v.label], 0
        if v.label.startswith("fixed_k"):
            return len(PRIORITY) + 1, int(v.label.removeprefix("fixed_k"))
        return len(PRIORITY) + 2, 0

    return sorted(all_variants, key=key)


QUICK_SET = (
    "distillation.rounds=2", "distillation.local_steps=1", "distillation.batch_size=1",
    "distillation.public_tokens_per_round=64", "data.eval_tokens=128",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run of the code path (numbers mean nothing): 2 seeds, "
                        "2 rounds of 1 step on 1 sequence, 128 eval tokens, k in {4, k, 64}")
    parser.add_argument("--workers", type=int, default=2, help="parallel runs (processes)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (1: on a busy machine more threads "
                        "mostly wait for each other)")
    parser.add_argument("--out", type=Path, default=None,
                        help="result folder (default runs/learning_bench[_quick])")
    parser.add_argument("--fresh", action="store_true", help="rerun finished runs")
    parser.add_argument("--only", nargs="+", default=None, metavar="VARIANT",
                        help="run only these variants (others are still read from --out)")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        metavar="KEY=VALUE", help="extra scenario override for every run")
    args = parser.parse_args(argv)
    curve_ks: tuple[int, ...] = CURVE_KS
    seeds = list(args.seeds)
    extra = list(args.extra)
    if args.quick:
        seeds = seeds[:2]
        curve_ks = (4, 64)  # plus the scenario's k
        extra = [*QUICK_SET, *extra]
    out_dir = args.out or ROOT / "runs" / ("learning_bench_quick" if args.quick
                                           else "learning_bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    from cosim.scenario import load_scenario

    fixed_k = load_scenario(SCENARIO, extra).config.distillation.k
    if fixed_k not in curve_ks:
        curve_ks = tuple(sorted({*curve_ks, fixed_k}))
    engine = engine_fingerprint()
    config = config_fingerprint(extra)
    done = load_results(out_dir)
    todo = [v for v in job_order(variants(curve_ks), fixed_k)
            if args.only is None or v.label in args.only]
    jobs = []
    for v in todo:
        for seed in seeds:
            old = done.get(v.label, {}).get(seed)
            if (old is not None and old.engine == engine and old.config == config
                    and not args.fresh):
                continue
            path = out_dir / f"{v.label}-seed{seed}.json"
            jobs.append((v, seed, tuple(extra), args.threads, v.label == "local_only", str(path)))
    start = time.perf_counter()
    print(f"learning benchmark: {len(jobs)} runs to do ({len(todo)} variants x {len(seeds)} "
          f"seeds, finished ones skipped), {args.workers} workers x {args.threads} threads, "
          f"engine {engine}, config {config} ({' '.join(extra) or 'scenario as is'}), "
          f"results in {out_dir}", flush=True)

    def progress(data: dict) -> None:
        print(f"  done {data['variant']:<12} seed {data['seed']}: {data['wall_s']:6.1f} s wall, "
              f"{data['cpu_s']:6.1f} s cpu, uplink {data['uplink_bytes']:,d} B", flush=True)

    run_all(jobs, max(1, args.workers), progress)
    results: Results = {}
    stale = []
    for label, runs in load_results(out_dir).items():
        for seed, r in runs.items():
            if seed not in seeds:
                continue
            if r.engine != engine or r.config != config:
                stale.append(f"{label}-seed{seed}")
                continue
            results.setdefault(label, {})[seed] = r
    if stale:
        print(f"left out (other engine code or settings): {', '.join(sorted(stale))}")
    if "local_only" not in results:
        print("no local_only results: nothing to compare", file=sys.stderr)
        return 1
    print()
    print(initial_table(results))
    print()
    print(summary_table(results, [v.label for v in variants(curve_ks)]))
    for v in variants(curve_ks):
        if v.label in results:
            print()
            print(method_table(results, v.label))
    print()
    for check in all_checks(results, curve_ks, fixed_k):
        print(check.line())
    wall = time.perf_counter() - start
    runs_all = [r for runs in results.values() for r in runs.values()]
    print(f"\nwall time {wall:.0f} s for {len(jobs)} runs in this invocation "
          f"({args.workers} workers x {args.threads} torch threads, {os.cpu_count()} cpus); "
          f"all {len(runs_all)} runs in the tables: {sum(r.wall_s for r in runs_all):.0f} s "
          f"run wall, {sum(r.cpu_s for r in runs_all):.0f} s cpu; engine {engine}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
