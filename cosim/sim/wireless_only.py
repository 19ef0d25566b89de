"""Wireless-only runs: every client uploads traffic; the recorder writes the rows.

Each client sends ``traffic.payload_bytes`` at the start of every period
(round), or keeps its buffer full for the whole period when
``traffic.full_buffer``. A transfer still running ``traffic.deadline_s`` after
its start is cut off (full-buffer transfers end with their period). A client
whose upload outlasts its period starts the next one at the following period
boundary. Rows (``channel``, ``transfers``, ``packets``, ``events``) go
through :class:`cosim.trace.recorder.Recorder`, flushed once per period.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import simpy

from cosim.trace.recorder import Recorder
from cosim.wireless.channel import ChannelSource
from cosim.wireless.config import WirelessConfig
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.packets import TransferResult


@dataclass(frozen=True)
class WirelessRunSummary:
    """Totals of a wireless-only run."""

    transfers: int
    complete: int
    cut_off: int
    delivered_bytes: int
    mean_latency_s: float
    end_s: float


def traffic_horizon_s(config: WirelessConfig) -> float:
    """Simulated span [s]: ``traffic.duration_s``, or ``rounds × period_s``."""
    tr = config.traffic
    return tr.duration_s if tr.duration_s is not None else tr.rounds * tr.period_s


def run_wireless(
    config: WirelessConfig,
    distances_m: np.ndarray,
    speeds_mps: np.ndarray,
    rng: np.random.Generator,
    recorder: Recorder,
    uplink_source: ChannelSource | None = None,
) -> WirelessRunSummary:
    """Simulate ``config.traffic`` on the uplink of every client, recording into
    ``recorder`` (flushed at the end of every period and of the run)."""
    tr = config.traffic
    env = simpy.Environment()
    net = WirelessNetwork(env, config, distances_m, speeds_mps, rng, uplink_source=uplink_source)
    n = net.n_clients
    horizon = traffic_horizon_s(config)
    n_rounds = math.ceil(horizon / tr.period_s - 1e-9)
    results: list[TransferResult] = []

    def write(result: TransferResult) -> None:
        results.append(result)
        recorder.transfer(result)
        kind = "uplink_done" if result.complete else "uplink_cut"
        recorder.event(result.end_s, result.client, kind, result.round,
                       n_bytes=result.delivered_bytes,
                       detail=f"{result.delivered_bytes}/{result.size_bytes} B")

    def client(c: int) -> Generator[simpy.Event, object, None]:
        round_index = 0
        while round_index < n_rounds:
            start = round_index * tr.period_s
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
            recorder.event(env.now, c, "uplink_start", round_index, n_bytes=size or 0, snr_db=snr,
                           detail="full buffer" if size is None else "")
            result = yield net.uplink(c, size, deadline_s=deadline, round_index=round_index)
            write(result)  # type: ignore[arg-type]
            round_index = max(round_index + 1, math.ceil(env.now / tr.period_s - 1e-9))

    def rounds() -> Generator[simpy.Event, object, None]:
        for round_index in range(1, n_rounds + 1):
            yield env.timeout(min(round_index * tr.period_s, horizon) - env.now)
            recorder.channel(net.channel_rows())
            recorder.flush()

    for c in range(n):
        env.process(client(c))
    env.process(rounds())
    env.run(until=horizon)
    for result in net.close():
        write(result)
    recorder.channel(net.channel_rows())
    recorder.flush()
    done = [r for r in results if r.complete]
    return WirelessRunSummary(
        transfers=len(results),
        complete=len(done),
        cut_off=sum(r.cut_off for r in results),
        delivered_bytes=sum(r.delivered_bytes for r in results),
        mean_latency_s=float(np.mean([r.duration_s for r in done])) if done else math.nan,
        end_s=float(env.now),
    )
