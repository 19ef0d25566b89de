"""Cost of a 10 s, 100-UE ``cosim wireless`` run (issue 11: under 2 s wall on 2 cores).

Scenario ``benchmarks/wireless_100ue.yaml``: 100 UEs at 200 m each upload
100 kB at the start of each of ten 1 s rounds (default uplink model: power
split, Clarke fading, Shannon link, HARQ), written to an HDF5 trace.

1. **Whole process**: ``python -m cosim wireless`` in a subprocess, wall and
   CPU seconds (user + system of the child), best of ``--reps``.
2. **Split** (CPU seconds, in a subprocess): imports, scenario load and
   placement, trace rows (the recorder's calls and flushes), transfer results
   (``WirelessNetwork._finish``: TB rows, packet records), the simulation
   (``run_wireless`` less the two before) and closing the trace file. Python's
   own start-up is the difference between [1] and the split's total.

    .venv/bin/python benchmarks/wireless_run.py
    .venv/bin/python benchmarks/wireless_run.py --previous /tmp/cosim-prev   # same run, beside

It also checks that the run imported neither torch nor transformers.
CPU seconds are the figure to compare on a loaded machine; wall seconds are
what the goal names.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "wireless_100ue.yaml"

SPLIT = r"""
import json, sys, time
c = time.process_time
t0 = c()
import cosim.cli  # noqa: F401
from cosim.scenario import load_scenario
from cosim.sim.build import build_uplink_source, place_clients, record_clients, seed_streams
import cosim.sim.wireless_only as wo
from cosim.trace.recorder import Recorder
from cosim.trace.writer import TraceWriter
import cosim.wireless.network as nw
T = {"imports": c() - t0}
acc = {"trace": 0.0, "finish": 0.0}
def timed(cls, name, key):
    f = getattr(cls, name)
    def g(*a, **k):
        t = c(); r = f(*a, **k); acc[key] += c() - t; return r
    setattr(cls, name, g)
for m in ("flush", "transfer", "event", "channel"):
    timed(Recorder, m, "trace")
timed(nw.WirelessNetwork, "_finish", "finish")
scenario, out = sys.argv[1], sys.argv[2]
t = c()
loaded = load_scenario(scenario, [])
sc = loaded.config
pr, wr, _ = seed_streams(sc)
d, v = place_clients(sc, pr)
src = build_uplink_source(loaded, len(d), wo.traffic_horizon_s(sc.wireless))
T["load + place"] = c() - t
with TraceWriter(out, scenario_yaml=loaded.text, resolved_config=loaded.resolved_plain(),
                 seed=sc.seed, command="wireless", scenario_path=scenario,
                 overrides=loaded.overrides) as tr:
    rec = Recorder(tr)
    record_clients(rec, sc, d, v)
    t = c()
    wo.run_wireless(sc.wireless, d, v, wr, rec, uplink_source=src)
    run = c() - t
    t_close = c()
T["close trace file"] = c() - t_close
T["trace rows"] = acc["trace"]
T["transfer results"] = acc["finish"]
T["simulation"] = run - acc["trace"] - acc["finish"]
T["total"] = c()
bad = [m for m in ("torch", "transformers") if m in sys.modules]
print(json.dumps({"split": T, "heavy_imports": bad}))
"""


def whole_process(tree: Path, out: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``python -m cosim wireless`` on ``tree``'s code.

    The child runs in ``tree``: ``python -m``/``-c`` put the working directory
    ahead of PYTHONPATH on ``sys.path``, so from another checkout's root it
    would import that checkout's cosim instead.
    """
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cosim", "wireless", str(SCENARIO), "--out", out],
                   env=env, cwd=tree, check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def split(tree: Path, out: str) -> dict:
    """The CPU split of one run on ``tree``'s code."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, "-c", SPLIT, str(SCENARIO), out], env=env, cwd=tree,
                          check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--previous", metavar="DIR", help="another checkout, measured beside this one")
    ap.add_argument("--reps", type=int, default=2, help="runs per tree (best is shown)")
    args = ap.parse_args()
    trees = {"this": HERE.parent}
    if args.previous:
        trees["previous"] = Path(args.previous).resolve()
    best: dict[str, dict] = {name: {"wall": 1e9, "cpu": 1e9, "split": None} for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "run.h5")
        for _ in range(args.reps):  # interleaved: both trees see the same load
            for name, tree in trees.items():
                wall, cpu = whole_process(tree, out)
                b = best[name]
                b["wall"], b["cpu"] = min(b["wall"], wall), min(b["cpu"], cpu)
                s = split(tree, out)
                if b["split"] is None or s["split"]["total"] < b["split"]["split"]["total"]:
                    b["split"] = s
    print(f"cosim wireless {SCENARIO.name}: 100 UEs, 10 s simulated (goal: < 2 s wall, 2 cores)")
    for name, b in best.items():
        print(f"[1] {name} ({trees[name]}): whole process {b['wall']:.2f} s wall, "
              f"{b['cpu']:.2f} CPU-s (best of {args.reps})")  # fmt: skip
        parts = b["split"]["split"]
        print("[2]    " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + " CPU-s; "
              f"torch/transformers imported: {b['split']['heavy_imports'] or 'none'}")  # fmt: skip


if __name__ == "__main__":
    main()
