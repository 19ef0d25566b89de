"""Wireless model speed: client-slots per second, speed-up over a plain reference, idle cost.

Scenario (issue 3, with issue 11's model): 100 clients in a 3.5 GHz UMa cell,
100 resource blocks, proportional-fair OFDMA shares with each UE's power split
over its RBs (100 backlogged UEs: one RB each, +20 dB per RB), time-correlated
Rayleigh fading (Clarke/Jakes spectrum, clients at 3 m/s), Shannon link with a
10 % block error rate, fractional bits carried between TBs, and synchronous
HARQ (RTT 8 slots, 4 transmissions). Every client uploads a payload at t = 0.

1. **Throughput**: client-slots simulated per wall-clock second by
   :class:`cosim.wireless.network.WirelessNetwork` (SimPy included) until every
   upload is done. Target ≥ 2,000,000 on 2 cores.
2. **Speed-up** over :func:`cosim.wireless.reference_mac.reference_run`, a
   straightforward per-slot, per-client pure-Python implementation of the same
   model (same channel parameters, same decoding draws and fading gains, its own
   link abstraction with the power split, PF shares, round-robin dealing of
   spare RBs, HARQ and packet bookkeeping), on the same seed and workload. Both
   must give identical packet delivery times (also checked by
   ``tests/wireless/test_reference.py``).
3. **Idle horizon**: the same transfers inside a 10× longer idle horizon
   (upload rounds 10× further apart) must cost < 1.2× the wall time.

    .venv/bin/python benchmarks/wireless.py            # full run (about a minute)
    .venv/bin/python benchmarks/wireless.py --quick    # smaller sizes
    git worktree add /tmp/cosim-prev HEAD~1            # a previous version, then:
    .venv/bin/python benchmarks/wireless.py --previous /tmp/cosim-prev
        # [1] also for that tree's model (its own benchmark's fast_run), same run, same load

Wall-clock figures depend on what else the machine runs; [1] takes the best of
two runs and [3] the best of three, interleaved, to damp that.
"""

from __future__ import annotations

import argparse
import math
import time

from cosim.wireless.network import WirelessNetwork
from cosim.wireless.packets import TransferResult
from cosim.wireless.reference_mac import (
    REFERENCE_CONFIG,
    compare,
    geometry,
    reference_run,
    run_uploads,
)

N_CLIENTS = 100
CONFIG = REFERENCE_CONFIG


def fast_run(
    payload: int,
    starts: list[float] | None = None,
    horizon: float | None = None,
    n_clients: int = N_CLIENTS,
) -> tuple[list[TransferResult], int, float, WirelessNetwork]:
    """The vectorised model: every client uploads ``payload`` at each time in ``starts``.

    Returns results, slots simulated (busy), wall seconds and the network.
    """
    d, v = geometry(n_clients)
    t0 = time.perf_counter()
    results, net = run_uploads(CONFIG, d, v, payload, starts, horizon)
    wall = time.perf_counter() - t0
    return results, net.uplink_engine.slots_simulated, wall, net


def previous_throughput(tree: str, payload: int, reps: int) -> tuple[float, float]:
    """[1] of the benchmark in another checkout ``tree``, run in a subprocess on its code:
    client-slots per wall second and per CPU second."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import importlib.util, json, sys\n"
        f"sys.path.insert(0, {tree!r})\n"
        f"path = {tree!r} + '/benchmarks/wireless.py'\n"
        "spec = importlib.util.spec_from_file_location('wb', path)\n"
        "wb = importlib.util.module_from_spec(spec); sys.modules['wb'] = wb\n"
        "spec.loader.exec_module(wb)\n"
        "import time\n"
        f"wb.fast_run({payload} // 20)\n"
        "runs = []\n"
        f"for _ in range({reps}):\n"
        "    c0 = time.process_time()\n"
        f"    runs.append((*wb.fast_run({payload}), time.process_time() - c0))\n"
        "res, _, wall, _, _ = min(runs, key=lambda r: r[2])\n"
        "cpu = min(r[4] for r in runs)\n"
        "slots = round(max(r.end_s for r in res) / wb.CONFIG.mac.slot_s)\n"
        "print(json.dumps([wb.N_CLIENTS * slots / wall, wb.N_CLIENTS * slots / cpu]))\n"
    )
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    ap.add_argument(
        "--previous", metavar="DIR",
        help="a checkout of an earlier cosim: print its [1] figure beside this one's",
    )  # fmt: skip
    args = ap.parse_args()
    big, small = (500_000, 30_000) if args.quick else (2_000_000, 100_000)
    reps = 1 if args.quick else 2

    print(f"{N_CLIENTS} clients, {CONFIG.mac.num_rbs} RBs, PF, Jakes Rayleigh, HARQ, BLER 0.1")
    fast_run(small)  # warm-up (imports, Jakes step tables)

    runs, cpus = [], []
    for _ in range(reps):
        c0 = time.process_time()
        runs.append(fast_run(big))
        cpus.append(time.process_time() - c0)
    results, _, wall, _ = min(runs, key=lambda r: r[2])
    end = max(r.end_s for r in results)
    slots = round(end / CONFIG.mac.slot_s)
    print(f"[1] {big} B per client: {slots} slots ({end:.3f} s simulated), "
          f"best of {reps}: {wall:.2f} s wall")  # fmt: skip
    print(f"    client-slots per second: {N_CLIENTS * slots / wall:,.0f}  (target >= 2,000,000); "
          f"per CPU second: {N_CLIENTS * slots / min(cpus):,.0f}")  # fmt: skip
    if args.previous:
        prev_wall, prev_cpu = previous_throughput(args.previous, big, reps)
        print(f"    previous ({args.previous}): {prev_wall:,.0f} client-slots per second; "
              f"per CPU second: {prev_cpu:,.0f}")  # fmt: skip

    runs = [fast_run(small) for _ in range(3)]
    results, _, wall_fast, net = min(runs, key=lambda r: r[2])
    t0 = time.perf_counter()
    ref = reference_run(small, net)
    wall_ref = time.perf_counter() - t0
    n_packets = compare(results, ref)
    end = max(r.end_s for r in results)
    speedup = wall_ref / wall_fast
    print(f"[2] {small} B per client, {round(end / CONFIG.mac.slot_s)} slots: vectorised "
          f"{wall_fast:.3f} s, reference {wall_ref:.2f} s -> speed-up {speedup:.0f}x")  # fmt: skip
    print(f"    identical delivery times for all {n_packets} packets")

    # Rounds spaced so that each upload ends well before the next round: the
    # busy slots are the same in both, only the idle time between rounds grows.
    rounds, period = 5, float(math.ceil(1.5 * end))
    best = {1: math.inf, 10: math.inf}
    busy = {}
    for _ in range(3):
        for scale in (1, 10):
            p = scale * period
            starts = [round_index * p for round_index in range(rounds)]
            _, busy[scale], w, _ = fast_run(small, starts=starts, horizon=rounds * p)
            best[scale] = min(best[scale], w)
    print(f"[3] {rounds} rounds every {period:g} s vs {10 * period:g} s: busy slots {busy[1]} vs "
          f"{busy[10]}, wall (best of 3) {best[1]:.3f} s vs {best[10]:.3f} s -> ratio "
          f"{best[10] / best[1]:.2f} (target < 1.2)")  # fmt: skip


if __name__ == "__main__":
    main()
