"""Speed-up of ``engine.parallel``: a 20-client round, serial vs N worker processes.

The same scenario (20 clients of one tiny preset sharing a base, one round
with evaluation, a checkpoint) is co-simulated twice with ``run_scenario``:
with the serial engine and with ``engine.parallel.executor: processes`` on
``--workers`` workers (default 2). Both use ``--threads`` torch threads per
engine (default 1), so the traces must be bit-identical; every HDF5 table is
compared exactly and the check is printed. Timed: the run (round, evaluation,
trace, checkpoint) after the backend is built; the build (models, data,
spawning workers) is printed on its own.

Goal (issue 14): speed-up >= 1.6x with 2 workers on 2 idle cores. Wall
times depend on the machine's load; run it on idle cores for the figure.

    .venv/bin/python benchmarks/parallel.py [--clients 20] [--workers 2] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from many_clients import many_clients_yaml

from cosim.scenario import LoadedScenario, parse_scenario
from cosim.sim.build import build_backend
from cosim.sim.runner import run_scenario
from cosim.trace.reader import read_trace
from cosim.trace.schema import TABLES

GOAL = 1.6


def timed_run(loaded: LoadedScenario, out: Path) -> tuple[float, float]:
    """(build [s], run [s]) of one co-simulation into ``out``."""
    start = time.perf_counter()
    backend = build_backend(loaded.config)
    built = time.perf_counter()
    try:
        run_scenario(loaded, out, progress=False, plots=False, backend=backend)
    finally:
        backend.close()
    return built - start, time.perf_counter() - built


def same_tables(a: Path, b: Path) -> list[str]:
    """Names of the trace tables that differ (empty: bit-identical)."""
    ta, tb = read_trace(a), read_trace(b)
    differ = []
    for table in TABLES:
        try:
            pd.testing.assert_frame_equal(ta[table], tb[table], check_exact=True)
        except AssertionError:
            differ.append(table)
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per engine")
    parser.add_argument("--steps", type=int, default=4, help="local steps per round")
    parser.add_argument("--preset", default="tiny-llama")
    parser.add_argument("--serial-default-threads", action="store_true",
                        help="also time the serial engine at torch's default thread count "
                        "(informational: its trace may differ in the last bits)")
    args = parser.parse_args()
    text = many_clients_yaml(
        name="parallel", clients=args.clients, preset=args.preset, rounds=1,
        local_steps=args.steps, shard_tokens=512, eval_tokens=128,
        public_tokens_per_round=128, batch_size=8, round_deadline_s=30.0)
    runs = {
        "serial": ["engine.parallel.executor=serial"],
        f"processes x{args.workers}": ["engine.parallel.executor=processes",
                                       f"engine.parallel.workers={args.workers}"],
    }
    times: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for label, extra in runs.items():
            overrides = (f"engine.parallel.threads={args.threads}", *extra)
            loaded = LoadedScenario(parse_scenario(text, "parallel.yaml", overrides), text,
                                    None, overrides)
            paths[label] = Path(tmp) / f"{label.split()[0]}.h5"
            times[label] = timed_run(loaded, paths[label])
            print(f"{label:<14} build {times[label][0]:7.1f} s   round {times[label][1]:7.1f} s",
                  flush=True)
        serial, parallel = (paths[k] for k in runs)
        differ = same_tables(serial, parallel)
        if args.serial_default_threads:
            import torch

            torch.set_num_threads(os.cpu_count() or 1)
            loaded = LoadedScenario(parse_scenario(text, "parallel.yaml", ()), text, None, ())
            build, run = timed_run(loaded, Path(tmp) / "serial_default.h5")
            print(f"{'serial, ' + str(torch.get_num_threads()) + ' thr':<14} build {build:7.1f} s"
                  f"   round {run:7.1f} s  (informational)")
    (_, t_serial), (_, t_parallel) = list(times.values())[:2]
    ratio = t_serial / t_parallel
    load = os.getloadavg()
    print(f"\n{args.clients} clients, {args.steps} local steps, {args.threads} torch thread(s) "
          f"per engine, {os.cpu_count()} cores, load average {load[0]:.1f} "
          f"(1 min) at the end")
    print(f"speed-up (serial round / {args.workers}-worker round): {ratio:.2f}x  "
          f"[goal >= {GOAL}x on 2 idle cores: {'PASS' if ratio >= GOAL else 'FAIL'}]")
    print("identical traces: " + ("PASS (every table equal, bit for bit)" if not differ
                                   else f"FAIL (differ: {', '.join(differ)})"))
    return 0 if not differ else 1


if __name__ == "__main__":
    raise SystemExit(main())
