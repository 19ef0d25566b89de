"""Load: a wireless-plus-engine run with many clients of a tiny SLM sharing one base.

One client group (``count: N``, default 200) of the same preset, so the engine
holds one frozen base model and N sets of LoRA adapters, optimiser states and
hidden projections; the wireless model schedules all N uplinks in one cell.
The run is the real ``run_scenario`` (SimPy, wireless, engine, HDF5 trace,
checkpoints at every round as in a default ``cosim run``).

Reported:

- peak resident memory: the process's RSS high-water mark
  (``getrusage(RUSAGE_SELF).ru_maxrss``), plus RSS sampled every 50 ms by a
  background thread, split into phases (engine build, each round);
- wall time of the engine build and of each round, measured between the
  server's aggregations (so round r > 0 includes round r−1's evaluation and
  checkpoint; the tail after the last aggregation is printed on its own).

Target (issue 7): it runs, and peak memory < 8 GiB on a 24 GiB, 2-core machine.

Several ``--clients`` counts run one after the other and the time per
client-round (run total / (clients x rounds)) is printed side by side, with
the ratio of the largest to the smallest count (target, issue 14: <= 1.2x).

Cut-down mode (``--mode engine``): no wireless and no trace; every count's
engine is built, then each round times ``--sample`` clients of every count in
turn (update, encode, aggregate of their uploads, downlink, evaluation, and
the engine checkpoint divided by the number of clients): the cost of one
client's engine work as a function of how many clients share its base.

    .venv/bin/python benchmarks/scale.py [--clients 200] [--rounds 2] [--preset tiny-llama]
    .venv/bin/python benchmarks/scale.py --mode engine --clients 20 200 --rounds 3
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from many_clients import many_clients_yaml

from cosim.scenario import load_scenario
from cosim.sim.build import build_backend
from cosim.sim.runner import run_scenario
from cosim.trace.reader import read_trace

GIB = 1024**3
TARGET_BYTES = 8 * GIB



def scale_yaml(args: argparse.Namespace, clients: int) -> str:
    """The scale scenario: one local step, 64 tokens, the last round evaluated."""
    return many_clients_yaml(
        name="scale", clients=clients, preset=args.preset, rounds=args.rounds, local_steps=1,
        shard_tokens=256, eval_tokens=64, public_tokens_per_round=64, batch_size=4,
        round_deadline_s=5.0, evaluate_every_rounds=1000)


class RssSampler(threading.Thread):
    """Samples this process's RSS [bytes] every ``period_s``; keeps the max per phase."""

    def __init__(self, period_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.period_s = period_s
        self.process = psutil.Process()
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            time.sleep(self.period_s)

    def sample(self) -> None:
        rss = self.process.memory_info().rss
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)

    def enter(self, phase: str) -> None:
        self.sample()
        self.phase = phase
        self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.sample()


def run_mode(args: argparse.Namespace, clients: int) -> float:
    """A full ``run_scenario`` with ``clients`` clients: prints it, returns s per client-round."""
    sampler = RssSampler()
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scale.yaml"
        scenario.write_text(scale_yaml(args, clients))
        loaded = load_scenario(scenario)
        sampler.enter("engine build")
        start = time.perf_counter()
        backend = build_backend(loaded.config)
        build_s = time.perf_counter() - start

        marks: list[float] = []
        aggregate = backend.aggregate

        def timed_aggregate(*a: Any, **kw: Any) -> Any:
            out = aggregate(*a, **kw)
            marks.append(time.perf_counter())
            sampler.enter(f"round {len(marks)}")
            return out

        backend.aggregate = timed_aggregate  # type: ignore[method-assign]
        sampler.enter("round 0")
        run_start = time.perf_counter()
        out = Path(tmp) / "scale.h5"
        run_scenario(loaded, out, progress=True, plots=False, backend=backend)
        total_s = time.perf_counter() - run_start
        sampler.stop()
        trace = read_trace(out)
        trace_bytes = out.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

    rounds = trace["rounds"]
    print(f"clients {clients} x {args.preset} (one shared base), {args.rounds} rounds, "
          f"method adaptive, torch threads {torch.get_num_threads()}")
    print(f"engine build: {build_s:.1f} s, peak RSS {sampler.peaks['engine build'] / GIB:.2f} GiB")
    edges = [run_start, *marks]
    for r in range(len(marks)):
        row = rounds.iloc[r] if r < len(rounds) else None
        extra = "" if row is None else (
            f", delivered {int(row['n_delivered'])}, partial {int(row['n_partial'])}, "
            f"missed {int(row['n_missed'])}, uplink {row['uplink_bytes'] / 1e6:.2f} MB")
        phase_peak = sampler.peaks.get(f"round {r}", 0)
        print(f"round {r}: wall {edges[r + 1] - edges[r]:.1f} s, peak RSS "
              f"{phase_peak / GIB:.2f} GiB{extra}")
    tail = run_start + total_s - edges[-1]
    print(f"after the last aggregation (evaluation, checkpoint, close): {tail:.1f} s, peak RSS "
          f"{sampler.peaks.get(f'round {len(marks)}', 0) / GIB:.2f} GiB")
    print(f"run total (rounds + evaluation + trace + checkpoints): {total_s:.1f} s; "
          f"trace {trace_bytes / 1e6:.2f} MB, status {trace.status}")
    verdict = "OK" if peak < TARGET_BYTES else "OVER TARGET"
    print(f"peak RSS (high-water mark): {peak / GIB:.2f} GiB; target < 8 GiB: {verdict}")
    return total_s / (clients * args.rounds)


PHASES = ("local_update", "encode_upload", "aggregate", "apply_downlink", "evaluate", "checkpoint")


def build_engine(args: argparse.Namespace, clients: int) -> Any:
    """The real engine of the scale scenario with ``clients`` clients (no wireless)."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scale.yaml"
        scenario.write_text(scale_yaml(args, clients))
        loaded = load_scenario(scenario)
    start = time.perf_counter()
    backend = build_backend(loaded.config, hold_updates=False)
    print(f"{clients} clients: engine build {time.perf_counter() - start:.1f} s", flush=True)
    return backend


def engine_round(backend: Any, sample: list[int], round_index: int) -> dict[str, float]:
    """Seconds per client of each phase of one round of the ``sample`` clients.

    The same engine calls a co-simulated round makes, minus the wireless:
    update, encode (k = 8), aggregate the sample's uploads, apply the
    downlink, evaluate; ``checkpoint`` is the whole engine's ``state_dict``
    (taken every round by ``cosim run``) divided by the number of clients.
    """
    spent = dict.fromkeys(PHASES, 0.0)

    def timed(phase: str, fn: Any, *a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        out = fn(*a, **kw)
        spent[phase] += time.perf_counter() - start
        return out

    uploads = {}
    for c in sample:
        timed("local_update", backend.local_update, c, round_index)
        uploads[c] = timed("encode_upload", backend.encode_upload, c, k=8).data
    downlink, _ = timed("aggregate", backend.aggregate, uploads, round_index)
    for c in sample:
        timed("apply_downlink", backend.apply_downlink, c, downlink)
        timed("evaluate", backend.evaluate, c)
    per_client = {k: v / len(sample) for k, v in spent.items()}
    start = time.perf_counter()
    backend.state_dict()
    per_client["checkpoint"] = (time.perf_counter() - start) / len(backend.client_names)
    return per_client


def engine_mode(args: argparse.Namespace) -> dict[int, float]:
    """Cut-down mode: the engine calls of ``--sample`` clients per round, counts interleaved.

    All engines are built first; each round then times every count in turn,
    so load on a shared machine hits all counts alike. Reported: the median
    over rounds of the seconds per client-round of each phase.
    """
    torch.set_num_threads(1)
    logging.getLogger("cosim").setLevel(logging.ERROR)  # "cannot beat uniform" warnings
    backends = {n: build_engine(args, n) for n in args.clients}
    samples = {}
    for n, backend in backends.items():
        clients = list(range(len(backend.client_names)))
        step = max(1, len(clients) // args.sample)
        samples[n] = clients[::step][: args.sample]  # spread over the adapters' positions
    times: dict[int, list[dict[str, float]]] = {n: [] for n in backends}
    for r in range(args.rounds + 1):  # round 0 is a warm-up, not reported
        for n, backend in backends.items():
            row = engine_round(backend, samples[n], r)
            if r > 0:
                times[n].append(row)
    print(f"\n{args.preset}, one shared base, {args.sample} sampled clients per count, "
          f"{args.rounds} timed rounds (median), torch threads {torch.get_num_threads()}")
    print(f"{'seconds per client':<18}" + "".join(f"{f'N = {n}':>12}" for n in backends))
    totals = {}
    for phase in (*PHASES, "total"):
        cells = []
        for n in backends:
            values = [sum(row.values()) if phase == "total" else row[phase] for row in times[n]]
            cells.append(float(np.median(values)))
        if phase == "total":
            totals = dict(zip(backends, cells, strict=True))
        print(f"{phase:<18}" + "".join(f"{c:>12.4f}" for c in cells))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[200],
                        help="client counts, run side by side (e.g. 20 200)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preset", default="tiny-llama",
                        help="model preset shared by every client (e.g. tiny-llama, smollm2-2l)")
    parser.add_argument("--mode", choices=("run", "engine"), default="run",
                        help="run: full co-simulations; engine: cut-down engine-only timing")
    parser.add_argument("--sample", type=int, default=10,
                        help="engine mode: clients timed per count and round")
    args = parser.parse_args()

    if args.mode == "engine":
        per_client = engine_mode(args)
    else:
        per_client = {n: run_mode(args, n) for n in args.clients}
        print("\nrun total / (clients x rounds), seconds per client-round:")
        for n, value in per_client.items():
            print(f"  N = {n}: {value:.3f} s")
    if len(per_client) > 1:
        low, high = min(per_client), max(per_client)
        ratio = per_client[high] / per_client[low]
        verdict = "PASS" if ratio <= 1.2 else "FAIL"
        print(f"time per client-round, N = {high} vs N = {low}: {per_client[high]:.4f} / "
              f"{per_client[low]:.4f} s = {ratio:.2f}x (target <= 1.2x): {verdict}")


if __name__ == "__main__":
    main()
