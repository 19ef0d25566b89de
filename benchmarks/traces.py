"""Trace replay at scale: peak memory and speed next to the statistical Rayleigh model.

Builds a native HDF5 trace of ``--hours`` hours at 1 ms for ``--clients``
clients (default 1 h × 100 clients = 360 M samples, 1.44 GB as float32 on
disk), then, each in a fresh process so peak RSS is its own:

* replays the whole trace through :class:`cosim.channels.replay.ReplaySource`
  in blocks of ``--block`` slots (the MAC's chunk size);
* draws the same slots from cosim's simulated Rayleigh channel
  (:class:`cosim.wireless.simulated.SimulatedChannel`), block fading and
  Jakes (the default, time-correlated) fading;

and prints slots per second, the ratio replay / model, and peak RSS.
Targets (issue 4): replay peak memory < 500 MB; replay no slower than the model.

    .venv/bin/python benchmarks/traces.py            # full size (several minutes)
    .venv/bin/python benchmarks/traces.py --hours 0.05 --clients 20   # smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

SLOT_S = 1e-3


def make_trace(path: Path, n_slots: int, n_clients: int, rows_per_write: int = 65536) -> None:
    """Write a synthetic SNR trace [dB] (Gaussian around 10 dB) in chunks; float32 storage."""
    from cosim.channels.native_h5 import NativeH5Writer

    rng = np.random.default_rng(0)
    columns = tuple(str(c) for c in range(n_clients))
    with NativeH5Writer(path, "snr_db", columns, dtype="float32",
                        provenance="benchmarks/traces.py synthetic") as w:
        for start in range(0, n_slots, rows_per_write):
            n = min(rows_per_write, n_slots - start)
            values = (10.0 + 5.0 * rng.standard_normal((n, n_clients))).astype(np.float32)
            w.append(np.arange(start, start + n) * SLOT_S, values)
        w.end_s = n_slots * SLOT_S


def _peak_rss_mb() -> float:
    """This process's peak resident memory [MB].

    ``VmHWM`` from /proc (Linux): unlike ``getrusage``'s ``ru_maxrss`` it is
    not inherited from the parent across fork + exec.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _drive(source, n_slots: int, block: int) -> tuple[float, float]:
    """Ask ``source`` for every slot; returns (seconds, checksum)."""
    total = 0.0
    t0 = time.perf_counter()
    for first in range(0, n_slots, block):
        values = source.block(first, min(block, n_slots - first)).values
        total += float(values[-1].sum())
    return time.perf_counter() - t0, total


def _replay_worker(path: str, n_slots: int, n_clients: int, block: int, out: mp.Queue) -> None:
    from cosim.channels.config import TraceReplayConfig
    from cosim.channels.replay import build_replay_source

    base = _peak_rss_mb()
    src = build_replay_source(TraceReplayConfig(trace=path, loop=False), n_clients, SLOT_S)
    seconds, _ = _drive(src, n_slots, block)
    out.put(("replay (HDF5, zoh)", seconds, _peak_rss_mb(), base))


def _model_worker(correlation: str, n_slots: int, n_clients: int, block: int,
                  out: mp.Queue) -> None:
    from cosim.wireless.config import FadingConfig, WirelessConfig
    from cosim.wireless.simulated import simulated_pair

    base = _peak_rss_mb()
    cfg = WirelessConfig(fading=FadingConfig(distribution="rayleigh", correlation=correlation))
    rng = np.random.default_rng(1)
    distances = np.linspace(20.0, 480.0, n_clients)
    up, _, _ = simulated_pair(cfg, distances, np.full(n_clients, 1.5), rng)
    seconds, _ = _drive(up, n_slots, block)
    out.put((f"Rayleigh model ({correlation})", seconds, _peak_rss_mb(), base))


def _run(target, *args) -> tuple[str, float, float, float]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def main() -> None:
    """Build the trace, run the three workers, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--block", type=int, default=256, help="slots per block() call")
    parser.add_argument("--dir", default=None, help="where to write the trace (default: tmp)")
    args = parser.parse_args()
    n_slots = round(args.hours * 3600 / SLOT_S)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.h5"
        t0 = time.perf_counter()
        make_trace(path, n_slots, args.clients)
        size_gb = os.path.getsize(path) / 1e9
        print(f"trace: {args.hours:g} h at 1 ms x {args.clients} clients = "
              f"{n_slots * args.clients / 1e6:.0f} M samples, {size_gb:.2f} GB on disk "
              f"(float32), written in {time.perf_counter() - t0:.1f} s")
        print(f"(as float64 in memory it would take {n_slots * args.clients * 8 / 1e9:.2f} GB)")
        rows = [
            _run(_replay_worker, str(path), n_slots, args.clients, args.block),
            _run(_model_worker, "block", n_slots, args.clients, args.block),
            _run(_model_worker, "jakes", n_slots, args.clients, args.block),
        ]
    replay_s = rows[0][1]
    print(f"\n{'source':<28}{'time [s]':>10}{'Mslot·client/s':>16}{'vs replay':>11}"
          f"{'peak RSS [MB]':>15}{'(after imports)':>17}")
    for name, seconds, peak, base in rows:
        rate = n_slots * args.clients / seconds / 1e6
        print(f"{name:<28}{seconds:>10.2f}{rate:>16.1f}{seconds / replay_s:>10.2f}x"
              f"{peak:>15.0f}{base:>17.0f}")
    print(f"\nreplay peak memory {rows[0][2]:.0f} MB (target < 500 MB); replay is "
          f"{rows[1][1] / replay_s:.2f}x the speed of the block-fading model and "
          f"{rows[2][1] / replay_s:.2f}x that of the Jakes model (target >= 1)")


if __name__ == "__main__":
    main()
