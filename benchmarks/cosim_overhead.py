"""Co-simulation overhead: the same engine work through `cosim run` machinery vs bare.

Both halves do exactly the same engine calls with the same arguments:

1. **co-sim**: the full run (SimPy processes, wireless model, HDF5 trace) with
   the real engine wrapped to record every call and its arguments;
2. **bare**: a fresh engine replays that call sequence directly — no SimPy,
   no wireless model, no HDF5.

Engine construction (model loading, data) is excluded from both timings.
Overhead = (co-sim − bare) / bare, in CPU seconds of this process (robust when
other programs load the machine; torch runs on ``--threads`` threads, 1 by
default, so CPU time equals wall time on an idle machine) and in wall seconds.
A second, direct figure: the time the co-sim run spends outside engine calls
(SimPy, wireless model, HDF5 trace, checkpoints) over the bare engine time.
Target: ≤ 3 %.

    .venv/bin/python benchmarks/cosim_overhead.py [--scenario FILE] [--rounds N] [--repeat R]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from cosim.scenario import load_scenario
from cosim.sim.build import build_backend
from cosim.sim.runner import run_scenario

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "scenarios" / "cell_edge.yaml"


class RecordingBackend:
    """Forwards to a real backend, recording (method, args, kwargs) and engine time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.engine_s = 0.0
        self.engine_cpu_s = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in {"local_update", "encode_upload", "aggregate", "apply_downlink",
                        "evaluate", "commit_update", "prepare_updates", "prepare_evaluation"}:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                return attr(*args, **kwargs)
            finally:
                self.engine_s += time.perf_counter() - start
                self.engine_cpu_s += time.process_time() - start_cpu

        return call


class Timings:
    """Wall and CPU seconds [s] of repeated runs of one half."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    def clear(self) -> None:
        self.wall.clear()
        self.cpu.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="alternate repetitions")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [f"distillation.rounds={args.rounds}", "output.plots=false"]
    loaded = load_scenario(args.scenario, overrides)
    cosim, bare, machinery = Timings(), Timings(), Timings()

    def cosim_once() -> RecordingBackend:
        recorder = RecordingBackend(build_backend(loaded.config))
        with tempfile.TemporaryDirectory() as tmp:
            start, start_cpu = time.perf_counter(), time.process_time()
            run_scenario(loaded, Path(tmp) / "run.h5", progress=False, plots=False,
                         backend=recorder)
            cosim.add(time.perf_counter() - start, time.process_time() - start_cpu)
        machinery.add(cosim.wall[-1] - recorder.engine_s, cosim.cpu[-1] - recorder.engine_cpu_s)
        return recorder

    def bare_once(calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        fresh = build_backend(loaded.config)
        start, start_cpu = time.perf_counter(), time.process_time()
        for name, call_args, kwargs in calls:
            getattr(fresh, name)(*call_args, **kwargs)
        bare.add(time.perf_counter() - start, time.process_time() - start_cpu)

    # Warm-up (first-call costs: kernels, caches), not counted. Its engine
    # warnings (if any) are shown once; the timed repetitions repeat them.
    calls = cosim_once().calls
    bare_once(calls)
    logging.getLogger("cosim").setLevel(logging.ERROR)
    cosim.clear(), bare.clear(), machinery.clear()
    for rep in range(args.repeat):
        # Alternate the order so drifting machine load hits both halves alike.
        if rep % 2:
            bare_once(calls)
            cosim_once()
        else:
            cosim_once()
            bare_once(calls)
        print(f"rep {rep}: co-sim {cosim.cpu[-1]:.3f} CPU-s / {cosim.wall[-1]:.3f} s wall "
              f"(outside the engine {machinery.cpu[-1]:.3f} CPU-s / {machinery.wall[-1]:.3f} s), "
              f"bare {bare.cpu[-1]:.3f} CPU-s / {bare.wall[-1]:.3f} s, {len(calls)} engine calls",
              flush=True)
    print(f"scenario {args.scenario.name}, {args.rounds} rounds, {args.threads} torch thread(s), "
          f"best of {args.repeat}")
    for unit, c, b, m in (("CPU", cosim.cpu, bare.cpu, machinery.cpu),
                          ("wall", cosim.wall, bare.wall, machinery.wall)):
        best_c, best_b = min(c), min(b)
        print(f"{unit:4s}: co-sim {best_c:.3f} s | bare engine {best_b:.3f} s | ratio "
              f"{best_c / best_b:.4f} | overhead {100 * (best_c - best_b) / best_b:.2f} % | "
              f"outside the engine in co-sim {min(m):.3f} s = {100 * min(m) / best_b:.2f} % "
              f"of bare (target <= 3 %)")


if __name__ == "__main__":
    main()
