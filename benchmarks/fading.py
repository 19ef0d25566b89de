"""Fading speed: client-slots per second of each time-correlated fading process.

The default ``correlation: jakes`` (:class:`ClarkeFading`, exactly Gaussian)
beside the classic 16-sinusoid simulator it replaced
(:class:`SumOfSinusoidsFading`) and AR(1), for 100 clients in 256-slot requests
as the wireless MAC makes them:

* **busy**: consecutive requests over 60 s of 1 ms slots, at the default
  environmental Doppler (3 Hz), pedestrian (35 Hz: 3 m/s at 3.5 GHz) and
  vehicular (300 Hz) speeds;
* **restarts**: one 256-slot request every 20 s (transfers separated by idle
  time: each request starts from scratch, the worst case for the grid blocks).

    .venv/bin/python benchmarks/fading.py            # about a minute
    .venv/bin/python benchmarks/fading.py --quick    # fewer slots

Wall-clock, best of three interleaved runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cosim.wireless.fading import ClarkeFading, GaussMarkovFading, SumOfSinusoidsFading

N_CLIENTS = 100
BLOCK = 256
SLOT_S = 1e-3

MODELS = {
    "jakes (Clarke, default)": lambda fd: ClarkeFading(fd, 1, SLOT_S, key=1),
    "sum_of_sinusoids N=16": lambda fd: SumOfSinusoidsFading(fd, 1, SLOT_S, key=1),
    "ar1": lambda fd: GaussMarkovFading(fd, 1, SLOT_S, key=1),
}


def run(make, fd_hz: float, starts: range) -> float:
    """Wall seconds for 256-slot requests at each start slot, on a fresh process."""
    process = make(np.full(N_CLIENTS, fd_hz))
    t0 = time.perf_counter()
    for s in starts:
        process.samples(s, BLOCK)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer slots")
    args = ap.parse_args()
    busy_slots = 15_000 if args.quick else 60_000
    cases = [(f"busy {fd:g} Hz", fd, range(0, busy_slots, BLOCK)) for fd in (3.0, 35.0, 300.0)] + [
        ("restarts 35 Hz", 35.0, range(0, 20_000 * 40, 20_000))
    ]
    print(f"{N_CLIENTS} clients, {BLOCK}-slot requests, client-slots per second (best of 3)")
    print(f"{'case':18s}" + "".join(f"{name:>26s}" for name in MODELS) + "   jakes / sos16")
    for label, fd, starts in cases:
        best = {name: np.inf for name in MODELS}
        for _ in range(3):
            for name, make in MODELS.items():
                if name == "ar1" and label.startswith("restarts"):
                    continue  # AR(1) steps through idle grid points: not comparable here
                best[name] = min(best[name], run(make, fd, starts))
        rate = {name: N_CLIENTS * BLOCK * len(starts) / w for name, w in best.items()}
        ratio = rate["jakes (Clarke, default)"] / rate["sum_of_sinusoids N=16"]
        cells = "".join(
            f"{rate[name]:>26,.0f}" if np.isfinite(best[name]) else f"{'-':>26s}" for name in MODELS
        )
        print(f"{label:18s}{cells}   {ratio:.2f}x")


if __name__ == "__main__":
    main()
