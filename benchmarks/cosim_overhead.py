"""Co-simulation overhead: the same engine work through `cosim run` machinery vs bare.

Both halves do exactly the same engine calls with the same arguments:

1. **co-sim**: the full run (SimPy processes, wireless model, HDF5 trace) with
   the real engine wrapped to record every call and its arguments;
2. **bare**: a fresh engine replays that call sequence directly — no SimPy,
   no wireless model, no HDF5.

Engine construction (model loading, data) is excluded from both timings.
Overhead = (co-sim wall − bare wall) / bare wall. Target: ≤ 3 %.

    .venv/bin/python benchmarks/cosim_overhead.py [--scenario FILE] [--rounds N] [--repeat R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from cosim.scenario import load_scenario
from cosim.sim.runner import build_backend, run_scenario

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "scenarios" / "cell_edge.yaml"


class RecordingBackend:
    """Forwards to a real backend, recording (method, args, kwargs) and engine time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.engine_s = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in {"local_update", "encode_upload", "aggregate", "apply_downlink",
                        "evaluate"}:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.engine_s += time.perf_counter() - start

        return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="alternate repetitions")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    overrides = [f"distillation.rounds={args.rounds}", "output.plots=false"]
    loaded = load_scenario(args.scenario, overrides)
    cosim_s, bare_s, machinery_s = [], [], []

    def cosim_once() -> RecordingBackend:
        recorder = RecordingBackend(build_backend(loaded.config))
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run_scenario(loaded, Path(tmp) / "run.h5", progress=False, plots=False,
                         backend=recorder)
            cosim_s.append(time.perf_counter() - start)
        machinery_s.append(cosim_s[-1] - recorder.engine_s)
        return recorder

    def bare_once(calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        fresh = build_backend(loaded.config)
        start = time.perf_counter()
        for name, call_args, kwargs in calls:
            getattr(fresh, name)(*call_args, **kwargs)
        bare_s.append(time.perf_counter() - start)

    # Warm-up (first-call costs: kernels, caches), not counted.
    calls = cosim_once().calls
    bare_once(calls)
    cosim_s.clear(), bare_s.clear(), machinery_s.clear()
    for rep in range(args.repeat):
        # Alternate the order so drifting machine load hits both halves alike.
        if rep % 2:
            bare_once(calls)
            cosim_once()
        else:
            cosim_once()
            bare_once(calls)
        print(f"rep {rep}: co-sim {cosim_s[-1]:.3f} s (of which outside the engine "
              f"{machinery_s[-1]:.3f} s), bare {bare_s[-1]:.3f} s, {len(calls)} engine calls")
    best_cosim, best_bare = min(cosim_s), min(bare_s)
    overhead = (best_cosim - best_bare) / best_bare
    print(f"scenario {args.scenario.name}, {args.rounds} rounds, best of {args.repeat}")
    print(f"co-sim wall {best_cosim:.3f} s | bare engine wall {best_bare:.3f} s | "
          f"ratio {best_cosim / best_bare:.4f} | overhead {100 * overhead:.2f} % (target <= 3 %)")
    direct = min(machinery_s) / best_bare
    print(f"time outside the engine inside co-sim (SimPy + wireless + HDF5): "
          f"{min(machinery_s):.3f} s = {100 * direct:.2f} % of the bare engine time")


if __name__ == "__main__":
    main()
