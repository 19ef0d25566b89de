"""HARQ/ARQ statistics against the configured BLER, and the link abstraction's bounds.

With a fixed block error probability p, independent per transmission, and at
most M transmissions, a TB needs k transmissions with probability
``p^(k−1) (1 − p)`` (k ≤ M) and is lost with probability ``p^M``. Tolerances
are 5 standard errors (binomial ``sqrt(q (1 − q) / n)`` or sample ``sd / sqrt(n)``).
"""

from __future__ import annotations

import numpy as np
import pytest

from cosim.wireless.config import (
    CqiTableLink,
    FadingConfig,
    MacConfig,
    PacketConfig,
    ShannonLink,
    WirelessConfig,
)
from cosim.wireless.link import CqiLinkModel, ShannonLinkModel
from cosim.wireless.mac import FULL_BUFFER, MacEngine
from cosim.wireless.simulated import SimulatedChannel
from cosim.wireless.tblog import OK
from tests.wireless.conftest import ConstantSource, grid_config, make_network

P, M, RTT = 0.3, 4, 8
N_PACKETS = 6000


def harq_run(arq: bool, p: float = P, max_tx: int = M):
    # one 250-byte packet per TB: packet attempts = TB transmissions
    cfg = grid_config(
        link=ShannonLink(max_spectral_efficiency=2.0, bler=p),
        packets=PacketConfig(mtu_bytes=250, harq_rtt_slots=RTT, harq_max_tx=max_tx,
                             arq_on_harq_failure=arq),
    )  # fmt: skip
    env, net = make_network(cfg, ConstantSource([30.0]), seed=4)
    ev = net.uplink(0, 250 * N_PACKETS)
    env.run()
    return ev.value


def test_harq_transmission_counts_match_bler():
    r = harq_run(arq=False)
    a = r.packets.attempts
    n = a.size
    for k in range(1, M):
        q = P ** (k - 1) * (1 - P)
        assert abs(np.mean((a == k) & ~r.packets.lost) - q) < 5 * np.sqrt(q * (1 - q) / n), k
    q_lost = P**M
    assert abs(r.packets.lost.mean() - q_lost) < 5 * np.sqrt(q_lost * (1 - q_lost) / n)
    assert np.all(a[r.packets.lost] == M)
    # a packet decoded at its k-th transmission arrives (k − 1) RTTs after its first slot ends
    ok = ~r.packets.lost
    delay = np.round((r.packets.delivery_s[ok] - r.packets.first_tx_s[ok]) / 1e-3).astype(int)
    np.testing.assert_array_equal(delay, (a[ok] - 1) * RTT + 1)
    # without ARQ the transfer ends incomplete and counts only the delivered prefix
    assert not r.complete
    first_lost = int(np.flatnonzero(r.packets.lost)[0])
    assert r.delivered_bytes == 250 * first_lost


@pytest.mark.slow
def test_arq_recovers_every_packet():
    r = harq_run(arq=True, p=0.5, max_tx=2)
    assert r.complete and not r.packets.lost.any()
    assert r.delivered_bytes == 250 * N_PACKETS
    a = r.packets.attempts
    # attempts count HARQ and ARQ rounds: P(a > 2) = P(first HARQ round fails) = 0.25
    q = 0.25
    assert abs(np.mean(a > 2) - q) < 5 * np.sqrt(q * (1 - q) / a.size)


def test_cqi_link_adaptation_meets_target_bler():
    target = 0.1
    cfg = WirelessConfig(
        link=CqiTableLink(target_bler=target),
        fading=FadingConfig(correlation="block"),
        packets=PacketConfig(harq_max_tx=1, arq_on_harq_failure=False),
    )
    src = SimulatedChannel(
        np.array([5.0, 12.0, 20.0]), cfg.fading, np.zeros(3), cfg.mac.slot_s,
        np.random.default_rng(2),
    )  # fmt: skip
    eng = MacEngine(src, cfg, decode_key=77)
    for c in range(3):
        eng.add_transfer(c, FULL_BUFFER)
    eng.run(4000)
    log = eng.tbs
    n = log.n
    fail = np.mean(log.state[:n] != OK)
    # perfect CSI: the chosen CQI's BLER at the current SNR is ≤ target, so the
    # first-transmission error rate is at most the target (and not trivially 0)
    assert fail < target + 5 * np.sqrt(target * (1 - target) / n)
    assert fail > 0.01


def test_cqi_table_bler_curve_and_selection():
    m = CqiLinkModel(CqiTableLink(target_bler=0.1), 180e3, 1e-3)
    thr = np.array([-6.7, -4.7, -2.3, 0.2, 2.4, 4.3, 5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7, 21.0,
                    22.7])  # fmt: skip
    cqi, bits = m.adapt(10 ** ((thr + 1e-9) / 10))  # a hair above each threshold
    np.testing.assert_array_equal(cqi, np.arange(1, 16))
    # 10 % BLER at each CQI's own threshold
    np.testing.assert_allclose(m.bler(cqi, 10 ** (thr / 10)), 0.1, rtol=1e-6)
    cqi0, bits0 = m.adapt(np.array([10 ** (-8 / 10)]))
    assert cqi0[0] == 0 and bits0[0] == 0  # below CQI 1: out of range, nothing sent
    # CQI 15: 5.5547 bit/s/Hz · 180 kHz · 1 ms
    assert bits[-1] == pytest.approx(5.5547 * 180.0)


def test_shannon_rate_formula():
    m = ShannonLinkModel(ShannonLink(snr_gap_db=3.0, max_spectral_efficiency=6.0), 180e3, 1e-3)
    g = np.array([1.0, 100.0, 1e6])
    _, bits = m.adapt(g)
    gap = 10**0.3
    np.testing.assert_allclose(bits, 180.0 * np.minimum(np.log2(1 + g / gap), 6.0))


@pytest.mark.parametrize("link", [ShannonLink(), CqiTableLink(target_bler=0.01)])
def test_throughput_never_exceeds_shannon_capacity(link):
    cfg = WirelessConfig(
        link=link,
        fading=FadingConfig(correlation="jakes", subbands=4),
        mac=MacConfig(scheduler="proportional_fair"),
        packets=PacketConfig(harq_max_tx=1, arq_on_harq_failure=False),
    )
    rng = np.random.default_rng(8)
    src = SimulatedChannel(rng.uniform(-5, 30, 6), cfg.fading, rng.uniform(5, 100, 6),
                           cfg.mac.slot_s, rng)  # fmt: skip
    eng = MacEngine(src, cfg, decode_key=5)
    for c in range(6):
        eng.add_transfer(c, FULL_BUFFER)
    n_slots = 1500
    eng.run(n_slots)
    log = eng.tbs
    n = log.n
    # per TB: bits ≤ Σ_b n_b · B_rb · Δt · log2(1 + γ_b) at the slot it was sent
    cap = (log.rbs[:n] * np.log2(1 + log.acc[:n])).sum(axis=1) * 180e3 * 1e-3
    assert np.all(8 * log.length[:n] <= cap + 8)  # + the < 8 bits carried from the last TB
    # in total: delivered bits ≤ Σ_slots Σ_b n_b B_rb Δt log2(1 + max_c γ_cb)
    snr = src.block(0, n_slots).snr_db
    best = np.log2(1 + 10 ** (snr.max(axis=1) / 10))  # [slots, subbands]
    total_cap = (best * eng.rbs_per_subband).sum() * 180e3 * 1e-3
    delivered = 8 * log.length[:n][log.state[:n] == OK].sum()
    assert 0 < delivered <= total_cap
