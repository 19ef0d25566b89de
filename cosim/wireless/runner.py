"""Wireless-only runs: every client uploads traffic, rows go to a trace sink.

Each client sends ``traffic.payload_bytes`` at the start of every period
(round), or keeps its buffer full for the whole period when
``traffic.full_buffer``. A transfer still running ``traffic.deadline_s`` after
its start is cut off (full-buffer transfers end with their period). A client
whose upload outlasts its period starts the next one at the following period
boundary. Rows use the trace schema's column names (``channel``,
``transfers``, ``packets``, ``events``), so the sink can be a
:class:`cosim.trace.writer.TraceWriter`.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import simpy

from cosim.wireless.channel import ChannelSource
from cosim.wireless.config import WirelessConfig
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.packets import TransferResult


class RowSink(Protocol):
    """Where rows go: ``append(table, {column: values})``; ``flush()`` is optional."""

    def append(self, table: str, rows: Mapping[str, Any]) -> None: ...


class MemorySink:
    """A sink that keeps rows in memory (tests, notebooks): ``tables[name][column] → array``."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, list[np.ndarray]]] = {}

    def append(self, table: str, rows: Mapping[str, Any]) -> None:
        cols = self._parts.setdefault(table, {})
        for name, values in rows.items():
            cols.setdefault(name, []).append(np.asarray(values))

    @property
    def tables(self) -> dict[str, dict[str, np.ndarray]]:
        """Concatenated columns per table."""
        return {
            t: {c: np.concatenate(v) for c, v in cols.items()} for t, cols in self._parts.items()
        }


class _Batched:
    """Collects rows and hands each table to the sink in one append per round.

    An HDF5 append costs milliseconds whatever its size; a 100-client run
    finishes hundreds of transfers a second.
    """

    def __init__(self, sink: RowSink) -> None:
        self.sink = sink
        self.parts: dict[str, list[Mapping[str, Any]]] = {}

    def append(self, table: str, rows: Mapping[str, Any]) -> None:
        self.parts.setdefault(table, []).append(rows)

    def drain(self) -> None:
        """Append everything collected, table by table, in arrival order."""
        for table, parts in self.parts.items():
            cols = {c: np.concatenate([np.atleast_1d(np.asarray(p[c])) for p in parts])
                    for c in parts[0]}  # fmt: skip
            self.sink.append(table, cols)
        self.parts = {}


@dataclass(frozen=True)
class WirelessRunSummary:
    """Totals of a wireless-only run."""

    transfers: int
    complete: int
    cut_off: int
    delivered_bytes: int
    mean_latency_s: float
    end_s: float


def place_distances(
    cfg: WirelessConfig, fixed_m: list[float | None], rng: np.random.Generator
) -> np.ndarray:
    """Distances [m]; ``None`` entries uniform in area over the annulus:
    ``d = sqrt(U (R² − r0²) + r0²)``, U ~ U(0, 1), r0 = min_distance_m, R = cell_radius_m."""
    out = np.empty(len(fixed_m))
    r0, r1 = cfg.min_distance_m, cfg.cell_radius_m
    for i, d in enumerate(fixed_m):
        out[i] = d if d is not None else math.sqrt(rng.uniform() * (r1**2 - r0**2) + r0**2)
    return out


def transfer_rows(result: TransferResult) -> dict[str, Any]:
    """One ``transfers`` row (client −1 for a broadcast)."""
    return {
        "transfer": [result.transfer],
        "client": [result.client if len(result.clients) == 1 else -1],
        "round": [result.round],
        "direction": ["ul" if result.direction == "uplink" else "dl"],
        "size_bytes": [result.size_bytes],
        "delivered_bytes": [result.delivered_bytes],
        "start_s": [result.start_s],
        "end_s": [result.end_s],
        "deadline_s": [math.nan if result.deadline_s is None else result.deadline_s],
        "complete": [result.complete],
    }


def packet_rows(result: TransferResult) -> dict[str, Any]:
    """The ``packets`` rows of one transfer."""
    p = result.packets
    n = len(p)
    return {
        "transfer": np.full(n, result.transfer),
        "client": np.full(n, result.client if len(result.clients) == 1 else -1),
        "round": np.full(n, result.round),
        "direction": ["ul" if result.direction == "uplink" else "dl"] * n,
        "seq": p.seq,
        "size_bytes": p.size_bytes,
        "enqueue_s": p.enqueue_s,
        "first_tx_s": p.first_tx_s,
        "delivery_s": p.delivery_s,
        "attempts": p.attempts,
        "lost": p.lost,
    }


def event_row(
    time_s: float, client: int, kind: str, round: int, n_bytes: int, snr_db: float, detail: str
) -> dict[str, Any]:
    """One ``events`` row (no Top-k fields in a wireless-only run)."""
    return {
        "time_s": [time_s],
        "client": [client],
        "kind": [kind],
        "round": [round],
        "bytes": [n_bytes],
        "k": [math.nan],
        "tokens": [0],
        "snr_db": [snr_db],
        "detail": [detail],
    }


def run_wireless(
    config: WirelessConfig,
    distances_m: np.ndarray,
    speeds_mps: np.ndarray,
    rng: np.random.Generator,
    sink: RowSink,
    uplink_source: ChannelSource | None = None,
) -> WirelessRunSummary:
    """Simulate ``config.traffic`` on the uplink of every client; rows go to ``sink``
    (collected and appended once per round)."""
    out = sink
    sink = _Batched(out)  # type: ignore[assignment]
    tr = config.traffic
    env = simpy.Environment()
    net = WirelessNetwork(env, config, distances_m, speeds_mps, rng, uplink_source=uplink_source)
    n = net.n_clients
    horizon = tr.duration_s if tr.duration_s is not None else tr.rounds * tr.period_s
    n_rounds = math.ceil(horizon / tr.period_s - 1e-9)
    results: list[TransferResult] = []

    def write(result: TransferResult) -> None:
        results.append(result)
        sink.append("transfers", transfer_rows(result))
        sink.append("packets", packet_rows(result))
        kind = "uplink_done" if result.complete else "uplink_cut"
        sink.append(
            "events",
            event_row(result.end_s, result.client, kind, result.round, result.delivered_bytes,
                      math.nan, f"{result.delivered_bytes}/{result.size_bytes} B"),
        )  # fmt: skip

    def client(c: int) -> Generator[simpy.Event, object, None]:
        r = 0
        while r < n_rounds:
            start = r * tr.period_s
            if env.now < start:
                yield env.timeout(start - env.now)
            end_of_period = min(start + tr.period_s, horizon)
            if tr.full_buffer:
                size, deadline = None, end_of_period
                if tr.deadline_s is not None:
                    deadline = min(deadline, start + tr.deadline_s)
            else:
                size = tr.payload_bytes
                deadline = None if tr.deadline_s is None else start + tr.deadline_s
                if deadline is not None:
                    deadline = min(deadline, horizon)
            snr = float(net.current_snr_db()[c])
            sink.append(
                "events",
                event_row(env.now, c, "uplink_start", r, size or 0, snr,
                          "full buffer" if size is None else ""),
            )  # fmt: skip
            result = yield net.uplink(c, size, deadline_s=deadline, round=r)
            write(result)  # type: ignore[arg-type]
            r = max(r + 1, math.ceil(env.now / tr.period_s - 1e-9))

    def rounds() -> Generator[simpy.Event, object, None]:
        for r in range(1, n_rounds + 1):
            yield env.timeout(min(r * tr.period_s, horizon) - env.now)
            sink.append("channel", net.channel_rows())
            sink.drain()  # type: ignore[attr-defined]
            flush = getattr(out, "flush", None)
            if flush is not None:
                flush()

    for c in range(n):
        env.process(client(c))
    env.process(rounds())
    env.run(until=horizon)
    for result in net.close():
        write(result)
    sink.append("channel", net.channel_rows())
    sink.drain()  # type: ignore[attr-defined]
    done = [r for r in results if r.complete]
    return WirelessRunSummary(
        transfers=len(results),
        complete=len(done),
        cut_off=sum(r.cut_off for r in results),
        delivered_bytes=sum(r.delivered_bytes for r in results),
        mean_latency_s=float(np.mean([r.duration_s for r in done])) if done else math.nan,
        end_s=float(env.now),
    )
