"""``cosim run SCENARIO.yaml [--set k=v ...] [--out run.h5]``: the co-simulation."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``run``."""
    run = subparsers.add_parser(
        "run",
        help="co-simulate a scenario (wireless model + distillation engine)",
        description="Run a scenario: SimPy wireless model drives the real distillation "
        "engine; writes the HDF5 trace, plots next to it, and prints a summary.",
    )
    run.add_argument(
        "scenario", metavar="SCENARIO.yaml", nargs="?",
        help="scenario file (default: the embedded quickstart scenario)",
    )
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting by dotted path (repeatable)",
    )
    run.add_argument("--out", metavar="RUN.h5", help="trace path (default: output.trace_path)")
    run.add_argument("--no-plots", action="store_true", help="do not write plots")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Load, run, summarise."""
    from cosim.scenario import load_scenario
    from cosim.sim.runner import run_scenario
    from cosim.trace.reader import read_trace
    from cosim.trace.summary import summarize
    from cosim.trace.writer import check_writable

    scenario = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    loaded = load_scenario(scenario, args.overrides)
    out = Path(args.out) if args.out else loaded.config.trace_path()
    check_writable(out)  # before minutes of model loading
    run_scenario(
        loaded,
        out,
        progress=not args.no_progress,
        plots=loaded.config.output.plots and not args.no_plots,
    )
    print(summarize(read_trace(out)))
    return 0
