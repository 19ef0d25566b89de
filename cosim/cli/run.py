"""``cosim run SCENARIO.yaml [--set k=v ...] [--out run.h5]``: the co-simulation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cosim.cli.options import add_set_option

if TYPE_CHECKING:
    from cosim.scenario import LoadedScenario

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
    add_set_option(run)
    run.add_argument("--out", metavar="RUN.h5", help="trace path (default: output.trace_path)")
    run.add_argument(
        "--resume", metavar="RUN.h5",
        help="continue a killed or interrupted run from its last checkpoint (RUN.h5.ckpt)",
    )
    run.add_argument(
        "--overwrite", action="store_true",
        help="replace an existing --out file even if it is not an HDF5 trace",
    )
    run.add_argument(
        "--trust-remote-code", action="store_true",
        help="allow models with trust_remote_code: true to run the code shipped with them "
        "(a scenario cannot allow this by itself)",
    )
    run.add_argument("--no-plots", action="store_true", help="do not write plots")
    run.add_argument(
        "--keep-checkpoint", action="store_true",
        help="keep RUN.h5.ckpt after the run completes (by default a finished run removes it)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--workers", type=int, metavar="N",
        help="run the clients' local updates, encodes and evaluations on N workers "
        "(engine.parallel.workers; local processes unless the scenario or --address says "
        "dask); the trace is the serial one, bit for bit, at the same engine.parallel.threads",
    )
    run.add_argument(
        "--address", metavar="SCHEDULER",
        help="run the engine's workers on the Dask cluster at SCHEDULER (tcp://host:8786; "
        "engine.parallel.executor=dask); both flags also apply to --resume",
    )
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Load (or resume), run, summarise. SIGINT/SIGTERM stop cleanly with 130/143.

    The trace and its checkpoint are locked (:class:`cosim.trace.lock.OutputLock`)
    from before the models load until the run ends.
    """
    from cosim.errors import UsageError
    from cosim.scenario import load_scenario
    from cosim.sim.runner import loaded_from_trace
    from cosim.trace.lock import OutputLock
    from cosim.trace.reader import read_trace
    from cosim.trace.writer import check_writable

    trust = args.trust_remote_code
    if args.resume:
        if args.scenario or args.overrides or args.out or args.overwrite:
            raise UsageError("--resume takes the trace alone (its scenario is stored in it)")
        out = Path(args.resume)
        lock = OutputLock(out).acquire()  # before reading: the run may still be going
        try:
            if read_trace(out, tables=["rounds"]).status == "completed":
                raise UsageError(f"{out}: this run already completed; nothing to resume")
            loaded = loaded_from_trace(out, trust_remote_code=trust)
            loaded = _with_parallel_flags(args, loaded)
        except BaseException:
            lock.release()
            raise
    else:
        scenario = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
        loaded = _with_parallel_flags(
            args, load_scenario(scenario, args.overrides, trust_remote_code=trust))
        out = Path(args.out) if args.out else loaded.config.trace_path()
        if out.exists() and scenario.exists() and out.samefile(scenario):
            raise UsageError(f"--out {out} is the scenario file itself; choose another trace path")
        # Before minutes of model loading: a bad --out fails now, a busy one too.
        check_writable(out, replace_foreign=args.overwrite)
        lock = OutputLock(out).acquire()
    try:
        return _run_locked(args, loaded, out)
    finally:
        lock.release()


def _with_parallel_flags(args: argparse.Namespace, loaded: LoadedScenario) -> LoadedScenario:
    """``loaded`` with ``--workers``/``--address`` applied to ``engine.parallel``.

    ``--address`` selects ``dask``; ``--workers`` alone turns a serial scenario
    into ``processes``. The settings are added to the run's overrides (stored
    in the trace). Raises UsageError naming the flag for a bad value.
    """
    import dataclasses

    from cosim.errors import ConfigFieldError, UsageError

    if args.workers is None and args.address is None:
        return loaded
    current = loaded.config.engine.parallel
    executor = "dask" if args.address is not None else current.executor
    if executor == "serial":
        executor = "processes"
    changes: dict[str, object] = {"executor": executor}
    if args.workers is not None:
        changes["workers"] = args.workers
    if args.address is not None:
        changes["address"] = args.address
    try:
        parallel = dataclasses.replace(current, **changes)
    except ConfigFieldError as exc:
        flag = "--address" if exc.field == "address" else "--workers"
        raise UsageError(f"{flag}: {exc.message}") from None
    config = dataclasses.replace(
        loaded.config, engine=dataclasses.replace(loaded.config.engine, parallel=parallel))
    extra = tuple(f"engine.parallel.{key}={value}" for key, value in changes.items())
    return dataclasses.replace(loaded, config=config, overrides=loaded.overrides + extra)


def _run_locked(args: argparse.Namespace, loaded: LoadedScenario, out: Path) -> int:
    """Run (or resume) ``loaded`` into ``out``, whose lock this process holds."""
    import signal
    import sys

    from cosim.sim.runner import RunInterrupted, StopFlag, run_scenario
    from cosim.trace.reader import read_trace
    from cosim.trace.summary import summarize

    if out.is_file() and not args.resume:
        from cosim.trace.writer import is_hdf5_file

        if not is_hdf5_file(out):  # --overwrite of a foreign file: the writer replaces traces only
            out.unlink()
    stop = StopFlag()

    def request_stop(signum: int, frame: object) -> None:
        stop.signum = signum

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        run_scenario(
            loaded, out, progress=not args.no_progress,
            plots=loaded.config.output.plots and not args.no_plots,
            resume=bool(args.resume), stop=stop,
        )
    except RunInterrupted as exc:
        name = signal.Signals(exc.signum).name
        if exc.rounds_done:
            hint = f"resume with: cosim run --resume {out}"
        else:
            hint = "no round had completed, so there is no checkpoint; run it again"
        print(f"cosim: {name}: stopped after {exc.rounds_done} completed rounds, trace "
              f"flushed to {out}; {hint}", file=sys.stderr)
        return 128 + exc.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not args.keep_checkpoint:  # only a resume needs it, and a completed run has none
        from cosim.sim.checkpoint import checkpoint_path

        checkpoint_path(out).unlink(missing_ok=True)
    print(summarize(read_trace(out)))
    if loaded.config.output.plots and not args.no_plots:
        print(f"plots      {out.with_name(out.stem + '_plots')}/ (PNG and PDF)")
    return 0
