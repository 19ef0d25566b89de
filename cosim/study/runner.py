"""Run a study: validate every run first, skip finished ones, execute, summarise, plot.

Resumable: a run whose trace exists with status ``completed`` is skipped, so
rerunning a killed study only does the missing work. Executors: a local
process pool (default) or a ``dask.distributed`` cluster. Each run is
independent and writes its own trace; a run that fails is reported in the
summary (status ``failed``) and does not stop the others.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from cosim.console import ConsoleState, apply_console_state, console_state
from cosim.errors import CosimError, ScenarioError, TraceFormatError
from cosim.scenario import load_scenario
from cosim.study.config import RunSpec, StudyConfig, expand_runs, study_output_dir
from cosim.trace.reader import read_trace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run."""

    run_id: str
    status: str  # completed | skipped | failed
    message: str = ""


def is_finished(trace_path: Path) -> bool:
    """True if ``trace_path`` holds a completed run."""
    if not trace_path.is_file():
        return False
    try:
        return read_trace(trace_path, tables=["rounds"]).status == "completed"
    except TraceFormatError:
        return False


def execute_run(spec: RunSpec, threads: int = 1,
                console: ConsoleState | None = None) -> RunOutcome:
    """Run one study point in this process (the executors' unit of work).

    ``console``: the study process's warning filters and logger levels, for a
    worker process that did not inherit them (dask workers).
    """
    if console is not None:
        apply_console_state(console)
    import torch

    from cosim.sim.checkpoint import checkpoint_path
    from cosim.sim.runner import run_scenario

    torch.set_num_threads(threads)
    try:
        loaded = load_scenario(spec.scenario_path, list(spec.overrides))
        spec.trace_path.parent.mkdir(parents=True, exist_ok=True)
        run_scenario(loaded, spec.trace_path, progress=False, plots=False)
        checkpoint_path(spec.trace_path).unlink(missing_ok=True)  # finished: never resumed
    except CosimError as exc:
        return RunOutcome(spec.run_id, "failed", str(exc))
    except Exception as exc:  # one failing run must not sink the study
        return RunOutcome(spec.run_id, "failed", f"{type(exc).__name__}: {exc}")
    return RunOutcome(spec.run_id, "completed")


def _run_local(specs: list[RunSpec], workers: int, threads: int,
               run: Callable[[RunSpec, int], RunOutcome] | None = None) -> list[RunOutcome]:
    """``run`` (default: :func:`execute_run`) every spec, in this process or in a pool
    of ``workers`` spawned processes.

    Spawned workers inherit the quiet environment variables but not Python's
    warning filters or logger levels; each installs this process's first.
    """
    # Looked up at call time, so a notebook or test may substitute the module's runner.
    run = execute_run if run is None else run
    if workers == 1:
        return [run(s, threads) for s in tqdm(specs, desc="runs", unit="run")]
    # spawn: torch and forked OpenMP thread pools do not mix.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=apply_console_state,
                             initargs=(console_state(),)) as pool:
        futures = [pool.submit(run, s, threads) for s in specs]
        return [f.result() for f in tqdm(futures, desc="runs", unit="run")]


def _run_dask(specs: list[RunSpec], config: StudyConfig) -> list[RunOutcome]:
    from distributed import Client, LocalCluster

    ex = config.executor
    if ex.address:
        client = Client(ex.address)
        cluster = None
    else:
        # silence_logs: the scheduler's and workers' INFO chatter stays off the console
        # unless --verbose (the root logger then lets INFO through).
        quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
        cluster = LocalCluster(
            n_workers=ex.workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR if quiet else logging.INFO,
        )
        client = Client(cluster)
    try:
        futures = client.map(execute_run, specs, threads=ex.threads_per_worker,
                             console=console_state(), pure=False)
        return [f.result() for f in tqdm(futures, desc="runs", unit="run")]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def validate_runs(specs: list[RunSpec]) -> None:
    """Load every run's scenario up front so a bad grid fails before any work."""
    for spec in specs:
        try:
            load_scenario(spec.scenario_path, list(spec.overrides))
        except CosimError as exc:
            raise type(exc)(f"study run {spec.run_id}: {exc}") from None


def run_study(
    config: StudyConfig,
    study_dir: Path,
    *,
    executor_fn: Callable[[list[RunSpec]], list[RunOutcome]] | None = None,
) -> tuple[pd.DataFrame, list[RunOutcome]]:
    """Run (or resume) a study; write ``summary.csv`` and plots; return both."""
    specs = expand_runs(config, study_dir)
    validate_runs(specs)
    if config.executor.kind == "dask" and executor_fn is None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise ScenarioError("executor kind 'dask' needs dask.distributed: "
                                "pip install 'cosim[dask]' (the local executor needs nothing)")
    todo = [s for s in specs if not is_finished(s.trace_path)]
    outcomes = [RunOutcome(s.run_id, "skipped") for s in specs if s not in todo]
    log.info("study %s: %d runs, %d finished, %d to run", config.name, len(specs),
             len(specs) - len(todo), len(todo))
    if todo:
        if executor_fn is not None:
            outcomes += executor_fn(todo)
        elif config.executor.kind == "dask":
            outcomes += _run_dask(todo, config)
        else:
            workers = min(config.executor.workers, len(todo), os.cpu_count() or 1)
            outcomes += _run_local(todo, workers, config.executor.threads_per_worker)
    summary = write_outputs(config, specs)
    return summary, outcomes


def write_outputs(config: StudyConfig, specs: list[RunSpec]) -> pd.DataFrame:
    """Summary CSV and study plots from every finished run's trace."""
    from cosim.analysis.aggregate import config_label
    from cosim.analysis.plots import plot_study
    from cosim.analysis.summary import run_summary

    out_dir = study_output_dir(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, traces = [], []
    for spec in specs:
        # The trace's 'method' column replaces the grid's distillation.method (no duplicate).
        params = {("method" if k == "distillation.method" else k): v
                  for k, v in spec.params.items()}
        if not spec.trace_path.is_file():
            rows.append({"run_id": spec.run_id, **params, "status": "missing"})
            continue
        try:
            trace = read_trace(spec.trace_path)
        except TraceFormatError as exc:
            rows.append({"run_id": spec.run_id, **params, "status": f"unreadable: {exc}"})
            continue
        traces.append(trace)
        rows.append({"run_id": spec.run_id, "config": config_label(trace), **params,
                     **run_summary(trace, config.time_budget_s)})
    summary = pd.DataFrame(rows)
    summary.to_csv(out_dir / "summary.csv", index=False)
    finished = [t for t in traces if t.status == "completed"]
    if finished:
        done = summary[summary["status"] == "completed"]
        plot_study(finished, done, out_dir / "plots")
        comparison = compare_configs(done)
        if len(comparison):
            comparison.to_csv(out_dir / "comparison.csv", index=False)
    return summary


COMPARED = ("final_mean_accuracy", "final_worst_accuracy", "latency_p50_s", "uplink_bytes")


def compare_configs(done: pd.DataFrame) -> pd.DataFrame:
    """Paired per-seed differences of every configuration against the first one.

    The reference is the first configuration in method order (fd_full,
    fd_topk, adaptive, fedavg_lora, local_only, then others); seeds share the
    channel and data, so paired t intervals apply (:mod:`cosim.analysis.stats`).
    """
    from cosim.analysis.aggregate import paired_comparison
    from cosim.analysis.style import method_rank

    if done.empty or done["config"].nunique() < 2:
        return pd.DataFrame()
    configs = done.drop_duplicates("config")
    reference = min(zip(configs["method"], configs["config"], strict=True),
                    key=lambda mc: (method_rank(str(mc[0])), str(mc[1])))[1]
    metrics = [m for m in COMPARED if m in done.columns]
    return paired_comparison(done, metrics, reference)
