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

Then (issue 12) a ``--mahimahi-lines``-line Mahimahi trace (default 10 M lines,
4 opportunities a ms on average, 42 min) is replayed *exactly* (per-client
copies of Mahimahi's link queue, :mod:`cosim.channels.linkqueue`) for
``--clients`` clients, each sending ``--transfers`` transfers of 10-500 kB
at random sub-ms times through :class:`cosim.wireless.network.WirelessNetwork`;
the same transfers run over the statistical channel (Rayleigh, Jakes) beside
it. Each reports wall time and peak RSS; ``cosim trace info`` of the file and
the bare imports are measured too, each in a fresh process. A sample of the
exact-replay transfers is checked against the line-by-line port of Mahimahi
(:mod:`cosim.channels.mahimahi_reference`). Target: every peak < 500 MB.

    .venv/bin/python benchmarks/traces.py            # full size (several minutes)
    .venv/bin/python benchmarks/traces.py --hours 0.05 --clients 20 --mahimahi-lines 200000
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


def make_mahimahi(path: Path, n_lines: int) -> None:
    """A Mahimahi trace of ``n_lines`` opportunities, 4 per ms on average (48 Mbit/s)."""
    rng = np.random.default_rng(2)
    stamps = np.sort(rng.integers(1, max(2, n_lines // 4), n_lines))
    with open(path, "w", encoding="ascii") as out:
        for part in np.array_split(stamps, max(1, n_lines // 1_000_000)):
            out.write("\n".join(map(str, part.tolist())) + "\n")


def _transfers(n_clients: int, per_client: int) -> list[list[tuple[float, int]]]:
    """Per client: (gap before submitting [s], bytes), the same for every channel."""
    rng = np.random.default_rng(3)
    return [[(float(rng.uniform(0, 0.05)), int(rng.integers(10_000, 500_000)))
             for _ in range(per_client)] for _ in range(n_clients)]


def _network_run(source, n_clients: int, per_client: int):
    """Every client sends its transfers one after another; returns (seconds, results)."""
    import simpy

    from cosim.wireless.config import FadingConfig, WirelessConfig
    from cosim.wireless.network import WirelessNetwork

    cfg = WirelessConfig(fading=FadingConfig(distribution="rayleigh", correlation="jakes"))
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, np.linspace(20.0, 480.0, n_clients),
                          np.full(n_clients, 1.5), np.random.default_rng(1),
                          uplink_source=source)
    results: list[tuple[int, float, object]] = []

    def client(c: int, plan: list[tuple[float, int]]):
        for gap, n_bytes in plan:
            yield env.timeout(gap)
            start = env.now
            results.append((c, start, (yield net.uplink(c, n_bytes))))

    for c, plan in enumerate(_transfers(n_clients, per_client)):
        env.process(client(c, plan))
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0, results


def _mahimahi_worker(path: str, n_clients: int, per_client: int, out: mp.Queue) -> None:
    from cosim.channels.config import TraceReplayConfig
    from cosim.channels.mahimahi_reference import reference_departures_ms
    from cosim.channels.replay import build_replay_source

    base = _peak_rss_mb()
    t0 = time.perf_counter()
    src = build_replay_source(TraceReplayConfig(trace=path), n_clients, SLOT_S)
    load_s = time.perf_counter() - t0
    seconds, results = _network_run(src, n_clients, per_client)
    # Client 0 alone on its link, checked against the line-by-line port of Mahimahi
    # (on the part of the schedule its transfers reach).
    stamps = src.link_queue.schedules[0].stamps
    mine = [(start * 1e3, r.size_bytes, r) for c, start, r in results if c == 0]
    horizon = int(max(r.end_s for _, _, r in mine) * 1e3) + 1
    cut = stamps[: int(np.searchsorted(stamps, horizon, "right")) + 1]
    ref = reference_departures_ms(cut.tolist(), [(t, n) for t, n, _ in mine])
    exact = all(round(r.end_s * 1e3) == d[-1] for (_, _, r), d in zip(mine, ref, strict=True))
    n_bytes = sum(r.size_bytes for _, _, r in results)
    out.put((f"Mahimahi exact replay (load {load_s:.1f} s)", seconds, _peak_rss_mb(), base,
             len(results), n_bytes, exact))


def _model_network_worker(n_clients: int, per_client: int, out: mp.Queue) -> None:
    base = _peak_rss_mb()
    seconds, results = _network_run(None, n_clients, per_client)
    n_bytes = sum(r.size_bytes for _, _, r in results)
    out.put(("Rayleigh model (jakes) + MAC", seconds, _peak_rss_mb(), base, len(results),
             n_bytes, None))


def _info_worker(path: str, out: mp.Queue) -> None:
    from cosim.channels.formats import read_trace
    from cosim.channels.info import summarize

    base = _peak_rss_mb()
    t0 = time.perf_counter()
    summary = summarize(read_trace(path))
    out.put((f"trace info (mean {summary.mean / 1e6:.2f} Mbit/s)", time.perf_counter() - t0,
             _peak_rss_mb(), base))


def _import_worker(out: mp.Queue) -> None:
    base = _peak_rss_mb()
    import cosim.channels.formats
    import cosim.channels.replay
    import cosim.cli
    import cosim.wireless.network  # noqa: F401

    out.put(("import cosim.channels + wireless", 0.0, _peak_rss_mb(), base))


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
    parser.add_argument("--mahimahi-lines", type=int, default=10_000_000)
    parser.add_argument("--transfers", type=int, default=10, help="per client (Mahimahi part)")
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

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        mahi = Path(tmp) / "big.mahi"
        t0 = time.perf_counter()
        make_mahimahi(mahi, args.mahimahi_lines)
        print(f"\nMahimahi trace: {args.mahimahi_lines / 1e6:g} M lines, "
              f"{os.path.getsize(mahi) / 1e6:.0f} MB, written in {time.perf_counter() - t0:.1f} s;"
              f" {args.clients} clients x {args.transfers} transfers of 10-500 kB")
        net_rows = [
            _run(_mahimahi_worker, str(mahi), args.clients, args.transfers),
            _run(_model_network_worker, args.clients, args.transfers),
        ]
        other = [_run(_info_worker, str(mahi)), _run(_import_worker)]
    print(f"\n{'run':<40}{'wall [s]':>10}{'transfers':>11}{'MB sent':>9}"
          f"{'peak RSS [MB]':>15}{'(after imports)':>17}")
    for name, seconds, peak, base, n, n_bytes, _ in net_rows:
        print(f"{name:<40}{seconds:>10.2f}{n:>11}{n_bytes / 1e6:>9.0f}{peak:>15.0f}{base:>17.0f}")
    for name, seconds, peak, base in other:
        print(f"{name:<40}{seconds:>10.2f}{'':>11}{'':>9}{peak:>15.0f}{base:>17.0f}")
    peaks = [r[2] for r in rows] + [r[2] for r in net_rows] + [r[2] for r in other]
    print(f"\nexact replay of client 0 equals the Mahimahi reference: {net_rows[0][6]}; "
          f"highest peak {max(peaks):.0f} MB (target < 500 MB)")


if __name__ == "__main__":
    main()
