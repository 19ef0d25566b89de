"""``cosim study STUDY.yaml`` and ``cosim plot RUN.h5|STUDY_DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cosim.cli.options import add_set_option
from cosim.errors import ScenarioError, TraceFormatError

if TYPE_CHECKING:
    from cosim.study.config import StudyConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``study`` and ``plot``."""
    study = subparsers.add_parser(
        "study",
        help="run a latency-accuracy study (grid of runs)",
        description="Run or resume a study: base scenario × grid × seeds. Finished runs are "
        "skipped; writes summary.csv and plots into the study's output directory.",
    )
    study.add_argument("study", metavar="STUDY.yaml")
    add_set_option(study, "override a scenario setting in every run (repeatable), "
                   "e.g. distillation.rounds=2")
    study.add_argument("--out", metavar="DIR", help="output directory (default: output_dir)")
    study.add_argument("--dry-run", action="store_true",
                       help="validate every run and list what would run, without running")
    study.add_argument(
        "--executor", choices=("local", "dask"), help="override the study's executor kind"
    )
    study.add_argument("--workers", type=int, help="override the number of workers")
    study.add_argument("--address", help="dask scheduler address (implies --executor dask)")
    study.set_defaults(handler=run_study_command)

    plot = subparsers.add_parser(
        "plot",
        help="redraw plots of a run trace or a study directory",
        description="Write PNG and PDF figures next to a run trace (RUN.h5 → RUN_plots/) or "
        "into a study directory's plots/ (seed means with 95%% bands per method).",
    )
    plot.add_argument("target", metavar="RUN.h5|STUDY_DIR")
    plot.add_argument("--out", metavar="DIR",
                      help="where the figures go (default: RUN_plots/ or STUDY_DIR/plots)")
    plot.set_defaults(handler=run_plot_command)


def run_study_command(args: argparse.Namespace) -> int:
    """Run the study and print its summary table."""
    import dataclasses

    from cosim.study.config import load_study, study_output_dir
    from cosim.study.runner import run_study

    config, study_dir = load_study(args.study)
    executor = config.executor
    if args.address:
        executor = dataclasses.replace(executor, kind="dask", address=args.address)
    if args.executor:
        executor = dataclasses.replace(executor, kind=args.executor)
    if args.workers is not None:
        if args.workers < 1:
            raise ScenarioError(f"--workers: must be >= 1, got {args.workers}")
        executor = dataclasses.replace(executor, workers=args.workers)
    extra = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE")
        extra[key.strip()] = value
    try:
        config = dataclasses.replace(config, executor=executor, set={**config.set, **extra},
                                     output_dir=args.out or config.output_dir)
    except ValueError as exc:  # ConfigFieldError: a bad --out template
        raise ScenarioError(f"--out: {exc}") from None
    if args.dry_run:
        return _dry_run(config, study_dir)
    summary, outcomes = run_study(config, study_dir)
    failed = [o for o in outcomes if o.status == "failed"]
    columns = [c for c in ("run_id", "status", "final_mean_accuracy", "uplink_bytes",
                           "latency_p50_s", "latency_p95_s", "deadline_misses")
               if c in summary.columns]
    print(summary[columns].to_string(index=False))
    out = study_output_dir(config)
    print(f"summary: {out / 'summary.csv'}  plots: {out / 'plots'}")
    for outcome in failed:
        print(f"failed: {outcome.run_id}: {outcome.message}")
    return 1 if failed else 0


def _dry_run(config: StudyConfig, study_dir: Path) -> int:
    """Validate every run; list each with 'finished' or 'to run' and its trace path."""
    from cosim.study.config import expand_runs
    from cosim.study.runner import is_finished, validate_runs

    specs = expand_runs(config, study_dir)
    validate_runs(specs)
    todo = 0
    for spec in specs:
        done = is_finished(spec.trace_path)
        todo += not done
        print(f"{'finished' if done else 'to run':<9} {spec.run_id}  {spec.trace_path}")
    print(f"{len(specs)} runs, {todo} to run (dry run: nothing was run)")
    return 0


def run_plot_command(args: argparse.Namespace) -> int:
    """Plot a single trace or every trace of a study directory."""
    from cosim.analysis.aggregate import config_label
    from cosim.analysis.plots import plot_run, plot_study
    from cosim.analysis.summary import run_summary
    from cosim.trace.reader import read_trace

    target = Path(args.target)
    if target.is_dir():
        import pandas as pd

        paths = sorted((target / "runs").glob("*.h5")) if (target / "runs").is_dir() else []
        paths = paths or sorted(target.glob("*.h5"))
        if not paths:
            raise TraceFormatError(f"{target}: no run traces (*.h5) found")
        traces = [read_trace(p) for p in paths]
        summary = pd.DataFrame([{"config": config_label(t), **run_summary(t)} for t in traces])
        written = plot_study(traces, summary, Path(args.out) if args.out else target / "plots")
    else:
        trace = read_trace(target)
        out = Path(args.out) if args.out else target.with_name(target.stem + "_plots")
        written = plot_run(trace, out)
    for path in written:
        print(path)
    return 0
