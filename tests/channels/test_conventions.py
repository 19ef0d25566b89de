"""Stated trace conventions: time-weighted ``trace info`` and both Pensieve row conventions.

Issue 12 items 2 and 3; every expected number is worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from cosim.channels.config import TraceReplayConfig
from cosim.channels.formats import open_store, read_trace
from cosim.channels.info import summarize
from cosim.channels.replay import build_replay_source
from cosim.wireless.config import MacConfig, WirelessConfig
from cosim.wireless.network import WirelessNetwork


def test_time_weighted_statistics_of_irregular_rows(write):
    # Rows at 0, 1, 3, 3.5 s; the last holds for the previous spacing (0.5 s) → end 4 s.
    # Weights 1, 2, 0.5, 0.5 s: mean = (10·1 + 20·2 + 40·0.5 + 80·0.5) / 4 = 27.5 dB.
    # Cumulative weight fractions 0.25, 0.75, 0.875, 1: p5 = 10, p50 = 20, p95 = 80.
    path = write("irr.csv", "time_s,snr_db\n0,10\n1,20\n3,40\n3.5,80\n")
    s = summarize(open_store(path))
    assert s.duration_s == 4.0
    assert s.mean == pytest.approx(27.5)
    assert (s.p5, s.p50, s.p95) == (10.0, 20.0, 80.0)
    assert s.column_mean == (pytest.approx(27.5),)


def test_mahimahi_mean_is_bytes_over_period(write):
    # 4 opportunities in a 10 ms period: 4 · 1500 · 8 bit / 10 ms = 4.8 Mbit/s.
    # ms bins: bin 0 carries 3 (36 Mbit/s), bin 9 one (12 Mbit/s), 8 bins idle (0):
    # weight fractions 0.8 (0), 0.9 (12 M), 1.0 (36 M) → p50 = 0, p95 = 36 Mbit/s.
    path = write("m.mahi", "1\n1\n1\n10\n")
    s = summarize(read_trace(path))
    assert s.mean == pytest.approx(4.8e6)
    assert (s.p5, s.p50, s.p95) == (0.0, 0.0, 36e6)


PENSIEVE = "0 1\n1 2\n3 4\n4 8\n"  # time_s Mbit/s


def _delivered_bits(path: str, convention: str, until_s: float) -> float:
    """Bits a full-buffer transfer of one client gets through the MAC by ``until_s``."""
    cfg = WirelessConfig(mac=MacConfig(slot_s=1e-3))
    src = build_replay_source(
        TraceReplayConfig(trace=path, throughput_convention=convention), 1, 1e-3
    )
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, np.array([100.0]), np.zeros(1), np.random.default_rng(0),
                          uplink_source=src)
    ev = net.uplink(0, None, deadline_s=until_s)
    env.run(until=until_s + 1e-9)
    return 8 * ev.value.delivered_bytes


def test_hold_convention_by_hand(write):
    path = write("p.log", PENSIEVE)
    trace = read_trace(path, throughput_convention="hold")
    # 1 over [0,1), 2 over [1,3), 4 over [3,4), 8 over [4,5): period 5 s, 17 Mbit a period.
    assert trace.duration_s == 5.0
    assert _delivered_bits(path, "hold", 10.0) == pytest.approx(34e6, rel=1e-9)
    assert summarize(trace).mean == pytest.approx(17e6 / 5)


def test_pensieve_convention_by_hand(write):
    path = write("p.log", PENSIEVE)
    trace = read_trace(path, throughput_convention="pensieve")
    # Row k covers (t_{k−1}, t_k]: 2 over (0,1], 4 over (1,3], 8 over (3,4]; period 4 s,
    # 18 Mbit a period; 10 s = 2 periods + (8,9] at 2 + (9,10] at 4 → 36 + 6 = 42 Mbit.
    assert trace.duration_s == 4.0
    assert _delivered_bits(path, "pensieve", 10.0) == pytest.approx(42e6, rel=1e-9)
    assert summarize(trace).mean == pytest.approx(18e6 / 4)
    src = build_replay_source(
        TraceReplayConfig(trace=path, throughput_convention="pensieve"), 1, 0.5
    )
    # Slots of 0.5 s starting at 0, 0.5, …, 4.5: 2, 2, 4, 4, 4, 4, 8, 8, then looped 2, 2.
    assert (src.block(0, 10).rate_bps[:, 0] / 1e6).tolist() == [2, 2, 4, 4, 4, 4, 8, 8, 2, 2]


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="throughput_convention"):
        TraceReplayConfig(trace="x", throughput_convention="ending")  # type: ignore[arg-type]
