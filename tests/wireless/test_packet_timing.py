"""Packet timing on a deterministic channel equals hand-computed airtimes, as event logs.

Channel: ``conftest.grid_config`` — 250 bytes per slot with all 10 RBs
(25 bytes per RB), 1 ms slots, 100-byte packets, no fading, no errors. A TB
sent in slot s is decoded at the end of the slot, (s + 1) ms.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cosim.wireless.config import MacConfig, ShannonLink, UplinkPowerConfig
from tests.wireless.conftest import ConstantSource, grid_config, make_network


def packet_log(result) -> list[tuple[float, str, int]]:
    p = result.packets
    log = [(round(t, 9), "tx", int(s)) for t, s in zip(p.first_tx_s, p.seq, strict=True)]
    log += [
        (round(t, 9), "rx", int(s))
        for t, s in zip(p.delivery_s, p.seq, strict=True)
        if not np.isnan(t)
    ]
    return sorted(log, key=lambda e: (e[0], e[1] == "tx", e[2]))


def test_single_transfer_event_log():
    env, net = make_network(grid_config(), ConstantSource([30.0]))
    out = {}

    def go():
        out["r"] = yield net.uplink(0, 1000)
        out["t"] = env.now

    env.process(go())
    env.run()
    r = out["r"]
    # slot 0 carries bytes 0–249, slot 1 250–499, slot 2 500–749, slot 3 750–999
    assert packet_log(r) == [
        (0.0, "tx", 0), (0.0, "tx", 1), (0.0, "tx", 2),
        (0.001, "rx", 0), (0.001, "rx", 1), (0.001, "tx", 3), (0.001, "tx", 4),
        (0.002, "rx", 2), (0.002, "rx", 3), (0.002, "rx", 4),
        (0.002, "tx", 5), (0.002, "tx", 6), (0.002, "tx", 7),
        (0.003, "rx", 5), (0.003, "rx", 6), (0.003, "tx", 8), (0.003, "tx", 9),
        (0.004, "rx", 7), (0.004, "rx", 8), (0.004, "rx", 9),
    ]  # fmt: skip
    assert round(out["t"], 9) == 0.004 and round(r.end_s, 9) == 0.004
    assert (r.delivered_bytes, r.complete, r.cut_off) == (1000, True, False)
    assert list(r.packets.attempts) == [1] * 10
    assert list(r.packets.enqueue_s) == [0.0] * 10


def test_mid_slot_arrivals_and_tdma_round_robin():
    cfg = grid_config(mac=MacConfig(slot_s=1e-3, num_rbs=10, rb_bandwidth_hz=100e3,
                                    access="tdma", scheduler="round_robin"))  # fmt: skip
    env, net = make_network(cfg, ConstantSource([30.0, 30.0]))
    log = []

    def send(client, at, size):
        yield env.timeout(at)
        log.append((round(env.now, 9), "submit", client))
        r = yield net.uplink(client, size)
        log.append((round(env.now, 9), "done", client))
        assert round(r.packets.first_tx_s[0], 9) == {0: 0.001, 1: 0.002}[client]

    env.process(send(0, 0.0004, 500))
    env.process(send(1, 0.0011, 500))
    env.run()
    # slot 1 (first after 0.4 ms): c0; slot 2: c1 (never served); slot 3: c0 done; slot 4: c1
    assert log == [
        (0.0004, "submit", 0), (0.0011, "submit", 1), (0.004, "done", 0), (0.005, "done", 1)
    ]  # fmt: skip


def test_ofdma_gives_each_link_only_the_rbs_it_needs():
    env, net = make_network(grid_config(), ConstantSource([30.0, 30.0]))
    done = {}

    def send(client, size):
        r = yield net.uplink(client, size)
        done[client] = (round(r.end_s, 9), r.delivered_bytes)

    env.process(send(0, 100))
    env.process(send(1, 1000))
    env.run()
    # slot 0: c0 (tie, lower index) takes ⌈800 / 200⌉ = 4 RBs; c1 the other 6 = 150 B.
    # c1 then has 850 B: 250 + 250 + 250 in slots 1–3, the last 100 B in slot 4 → 5 ms.
    assert done == {0: (0.001, 100), 1: (0.005, 1000)}


def test_deadline_cuts_off_and_counts_whole_packets():
    env, net = make_network(grid_config(), ConstantSource([30.0]))
    out = {}

    def go():
        out["r"] = yield net.uplink(0, 1000, deadline_s=0.0025)
        out["t"] = env.now

    env.process(go())
    env.run()
    r = out["r"]
    # slots ending by 2.5 ms: 0 and 1 → bytes 0–499 → packets 0–4
    assert (r.cut_off, r.complete, r.delivered_bytes) == (True, False, 500)
    assert out["t"] == 0.0025 and r.end_s == 0.0025
    np.testing.assert_array_equal(r.packets.lost, [False] * 5 + [True] * 5)
    assert np.isnan(r.packets.delivery_s[5:]).all()
    # slot 2 ends after the deadline, so the transfer is not scheduled in it at all
    assert np.isnan(r.packets.first_tx_s[5:]).all()


def test_zero_error_link_never_retransmits():
    cfg = grid_config(link=ShannonLink(max_spectral_efficiency=2.0, bler=0.0))
    env, net = make_network(cfg, ConstantSource([30.0]))
    ev = net.uplink(0, 25_000)
    env.run()
    assert ev.value.packets.attempts.max() == 1
    assert round(ev.value.end_s, 9) == 0.1  # 25 000 B / 250 B per slot = 100 slots


def test_broadcast_runs_at_the_worst_members_rate():
    cfg = grid_config(link=ShannonLink(max_spectral_efficiency=20.0))
    down = ConstantSource([30.0, 0.0, 10.0])
    env, net = make_network(cfg, ConstantSource([30.0, 30.0, 30.0]), downlink_source=down)
    ev = net.downlink_broadcast([0, 2], 4320)
    env.run()
    # worst member 10 dB: 10 RBs · 100 bits · log2(11) = 3459.4 bits → 432 B per slot
    per_slot = int(10 * 100 * np.log2(11) // 8)
    assert per_slot == 432
    assert round(ev.value.end_s, 9) == 0.010 and ev.value.clients == (0, 2)


def test_unicast_downlink_mode_returns_one_result_per_client():
    cfg = replace(grid_config(), downlink="unicast")
    down = ConstantSource([30.0, 30.0])
    env, net = make_network(cfg, ConstantSource([30.0, 30.0]), downlink_source=down)
    proc = net.downlink([0, 1], 250)
    env.run()
    results = proc.value
    assert [r.clients for r in results] == [(0,), (1,)]
    # 2 × 250 B share 10 RBs: c0 gets all 10 in slot 0 (tie → lowest index), c1 slot 1
    assert [round(r.end_s, 9) for r in results] == [0.001, 0.002]


def test_transfer_submitted_after_its_deadline_delivers_nothing():
    env, net = make_network(grid_config(), ConstantSource([30.0]))
    out = {}

    def go():
        yield env.timeout(0.01)
        out["r"] = yield net.uplink(0, 1000, deadline_s=0.005)

    env.process(go())
    env.run()
    r = out["r"]
    assert (r.delivered_bytes, r.cut_off, r.end_s, r.start_s) == (0, True, 0.01, 0.01)
    assert r.packets.lost.all()


def test_transmit_energy_is_power_times_airtime():
    # c0: 4 of 10 RBs for one slot; c1: 6 RBs in slot 0, then 10, 10, 10 and 4 RBs
    p_w = 10 ** (23 / 10) / 1000  # 23 dBm
    env, net = make_network(grid_config(), ConstantSource([30.0, 30.0]))
    a, b = net.uplink(0, 100), net.uplink(1, 1000)
    env.run()
    # power split over the RBs: a UE radiates all of P_max whenever it sends
    assert a.value.energy_j == pytest.approx(p_w * 1e-3)
    assert b.value.energy_j == pytest.approx(p_w * 5 * 1e-3)
    # fixed power spectral density: a TB on n of N RBs radiates n / N of P_max
    fixed = grid_config(uplink_power=UplinkPowerConfig(split_over_rbs=False))
    env, net = make_network(fixed, ConstantSource([30.0, 30.0]))
    a, b = net.uplink(0, 100), net.uplink(1, 1000)
    env.run()
    assert a.value.energy_j == pytest.approx(p_w * 0.4 * 1e-3)
    assert b.value.energy_j == pytest.approx(p_w * (6 + 10 + 10 + 10 + 4) / 10 * 1e-3)


def test_rate_trace_bypasses_the_link_abstraction():
    from tests.wireless.conftest import ArraySource

    # 2 Mbit/s with the whole band = 2000 bits = 250 B per 1 ms slot, never in error
    src = ArraySource(np.full((500, 1), 2e6), kind="rate")
    cfg = grid_config(link=ShannonLink(max_spectral_efficiency=0.5, bler=0.5))
    env, net = make_network(cfg, src)
    ev = net.uplink(0, 1000)
    env.run()
    assert round(ev.value.end_s, 9) == 0.004
    assert ev.value.packets.attempts.max() == 1
    assert np.isnan(net.current_snr_db()).all()  # a rate trace has no SNR
