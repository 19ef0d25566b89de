"""Uplink power split, power control, standard MCS/TBS tables, shares, FDMA, headers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.errors import ConfigFieldError
from cosim.wireless.config import (
    FadingConfig,
    MacConfig,
    McsTableLink,
    PacketConfig,
    ShannonLink,
    UplinkPowerConfig,
    WirelessConfig,
)
from cosim.wireless.mcs_tables import build_table
from cosim.wireless.pathloss import LogDistancePathLoss
from cosim.wireless.tbs import LTE_TBS, nr_tbs
from tests.wireless.conftest import ConstantSource, make_network

LENA_GAP = -math.log(5 * 5e-5) / 1.5  # Γ of the PiroEW2010 AMC, BER 5e-5: 5.529 (7.43 dB)


def lte_cell(**mac) -> WirelessConfig:
    """20 MHz LTE uplink: 100 RBs × 180 kHz, 1 ms TTI, LTE tables, no fading."""
    return WirelessConfig(
        bandwidth_hz=20e6,
        fading=FadingConfig(distribution="none", correlation="block"),
        link=McsTableLink(table="lte"),
        mac=MacConfig(num_rbs=100, rb_bandwidth_hz=180e3, **mac),
        packets=PacketConfig(harq_max_tx=4),
    )


def full_buffer_bits(cfg, snr_db, n_slots: int, **net_kw) -> tuple[np.ndarray, object]:
    """Bits each client delivers in ``n_slots`` with a full buffer, and the network."""
    env, net = make_network(cfg, ConstantSource(snr_db), **net_kw)
    evs = [net.uplink(c, None, deadline_s=n_slots * cfg.mac.slot_s) for c in range(len(snr_db))]
    env.run(until=env.all_of(evs))
    return np.array([8 * e.value.delivered_bytes for e in evs], dtype=float), net


def test_power_split_gives_n_rb_fewer_rbs_more_snr_per_rb():
    """Issue 11: 100 UEs at 0 dB (full-band SNR) on 100 RBs: each gets 1 RB each slot at
    0 + 10 log10(100) = 20 dB, 180 kHz · log2(1 + 100) = 1.198 Mbit/s; with a fixed
    power spectral density each would get 180 kHz · log2(2) = 0.18 Mbit/s."""
    cfg = WirelessConfig(
        fading=FadingConfig(distribution="none", correlation="block"),
        link=ShannonLink(max_spectral_efficiency=30.0),
        mac=MacConfig(scheduler="equal_share"),
    )
    bits, net = full_buffer_bits(cfg, [0.0] * 100, 200)
    want = 200 * 180e3 * 1e-3 * math.log2(1 + 100)
    # ⌊·/8⌋ per slot with the fraction carried over: at most one byte short in all
    assert np.all(bits <= want) and np.all(bits > want - 8)
    log = net.uplink_engine.tbs
    np.testing.assert_allclose(log.acc[: log.n, 0], 100.0)  # SNR per RB, linear
    assert np.all(log.rbs[: log.n, 0] == 1)
    fixed = replace(cfg, uplink_power=UplinkPowerConfig(split_over_rbs=False))
    bits_fixed, _ = full_buffer_bits(fixed, [0.0] * 100, 200)
    assert bits_fixed.sum() == pytest.approx(200 * 100 * 180.0 * 1.0, abs=8 * 100)


def test_open_loop_power_control_caps_the_power_per_rb():
    """TS 38.213: P(n) = min(P_max, P0 + 10 log10 n + α PL). With PL = 100 dB, α = 0.8,
    P0 = −90 dBm: P0 + α PL = −10 dBm per RB, while P_max = 23 dBm over n RBs allows
    23 − 10 log10 n. On 10 RBs: min(13, −10) = −10 dBm per RB, i.e. 33 − 10 log10(100)...
    relative to P_max over all 100 RBs (3 dBm per RB): −13 dB."""
    pl = LogDistancePathLoss(exponent=2.0, reference_distance_m=1.0, reference_loss_db=60.0)
    cfg = WirelessConfig(
        carrier_hz=None, path_loss=pl, shadowing_std_db=0.0,
        fading=FadingConfig(distribution="none", correlation="block"),
        link=ShannonLink(max_spectral_efficiency=30.0),
        mac=MacConfig(scheduler="equal_share"),
        uplink_power=UplinkPowerConfig(p0_dbm_per_rb=-90.0, alpha=0.8),
    )  # fmt: skip
    import simpy

    from cosim.wireless.network import WirelessNetwork

    env = simpy.Environment()
    d = np.full(10, 100.0)  # PL = 60 + 20 log10(100) = 100 dB
    net = WirelessNetwork(env, cfg, d, np.zeros(10), np.random.default_rng(0))
    evs = [net.uplink(c, None, deadline_s=0.01) for c in range(10)]
    env.run(until=env.all_of(evs))
    log = net.uplink_engine.tbs
    full_snr_db = 23 - 100 - cfg.noise_dbm  # P_max over all RBs
    want_db = -10 - 100 - (cfg.noise_dbm - 10 * math.log10(100))  # −10 dBm per RB
    np.testing.assert_allclose(10 * np.log10(log.acc[: log.n, 0]), want_db)
    assert want_db - full_snr_db == pytest.approx(-13.0)
    # energy: P(n) = −10 dBm + 10 log10(10 RBs) = 0 dBm = 1 mW for 10 slots
    assert evs[0].value.energy_j == pytest.approx(1e-3 * 10 * 1e-3)


def test_lte_tbs_matches_the_closed_form_of_the_matched_scenario():
    """LENA facts (benchmarks/vs_ns3/README.md): a UE on n RBs has SINR per RB
    P − 10 log10 n − PL − N_rb; CQI = max{c: η_c < log2(1 + γ/Γ)}, MCS = 2(CQI − 1),
    TBS from TS 36.213 Table 7.1.7.2.1-1 with the PUSCH I_TBS map. 10 UEs, 10 RBs
    each per TTI."""
    cfg = lte_cell(scheduler="equal_share", min_rbs_per_ue=3)
    snr_full = np.array([40.0, 25.0, 12.0, 5.0, 0.26, -8.0, 15.0, 20.0, 30.0, 35.0])
    bits, _ = full_buffer_bits(cfg, snr_full, 100)
    table = build_table("lte", 100)
    per_rb = 10 ** ((snr_full + 10) / 10)  # +10 log10(100 / 10)
    s = np.log2(1 + per_rb / LENA_GAP)
    cqi = np.array([int(np.sum(table.cqi_efficiency[1:] < x)) for x in s])
    i_tbs = [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        19,
        20,
        21,
        22,
        23,
        24,
        25,
        26,
    ]  # TS 36.213 Table 8.6.1-1
    want = np.array([
        0 if q == 0 else 100 * LTE_TBS[10 - 1, i_tbs[2 * (q - 1)]] for q in cqi
    ])  # fmt: skip
    np.testing.assert_array_equal(bits, want)
    assert cqi[4] == 7  # the README's 500 m UE: 0.26 + 10 dB → CQI 7 → MCS 12
    assert cqi[5] > 0 and cqi[0] == 15
    assert LTE_TBS[10 - 1, 26] == 7480 and LTE_TBS[100 - 1, 26] == 75376


def test_equal_share_above_n_rb_over_min_rbs_rotates_like_lena():
    """50 UEs, 100 RBs, min 3: 33 UEs of 3 RBs per TTI, each served 33/50 of the TTIs."""
    cfg = lte_cell(scheduler="equal_share", min_rbs_per_ue=3)
    env, net = make_network(cfg, ConstantSource([30.0] * 50))
    evs = [net.uplink(c, None, deadline_s=0.1) for c in range(50)]
    env.run(until=env.all_of(evs))
    log = net.uplink_engine.tbs
    n = log.n
    assert np.all(log.rbs[:n, 0] == 3)
    assert np.all(np.bincount(log.first_slot[:n]) == 33)
    np.testing.assert_array_equal(np.bincount(log.link[:n], minlength=50), 66)


def test_fdma_gives_each_link_its_fixed_subband():
    cfg = replace(
        lte_cell(), mac=MacConfig(num_rbs=100, access="fdma"), link=ShannonLink(),
    )  # fmt: skip
    env, net = make_network(cfg, ConstantSource([10.0, 10.0, 10.0]))
    evs = [net.uplink(0, None, deadline_s=0.02), net.uplink(2, 5000)]
    env.run(until=env.all_of(evs))
    log = net.uplink_engine.tbs
    n = log.n
    assert set(log.rbs[:n, 0]) == {33}  # 3 uplink links: ⌊100 / 3⌋ RBs each
    # client 1 is idle: its RBs are not lent to the others
    per_slot = np.bincount(log.first_slot[:n])
    assert per_slot.max() == 2


def test_nr_tbs_procedure():
    """TS 38.214 §5.1.3.2 by hand: 100 PRBs × 156 REs, MCS 28 (Q_m 6, R 948/1024):
    N_info = 86 657, n = 11, N' = 2048 · round(86 633 / 2048) = 86 016, C = ⌈86 040 / 8424⌉
    = 11, TBS = 88 ⌈86 040 / 88⌉ − 24 = 86 040. Small: 1 PRB × 144 REs, MCS 0 (R 120/1024,
    Q_m 2): N_info = 33.75, n = 3, N' = 32 → 32."""
    assert nr_tbs(156 * 100, 948 / 1024, 6) == 86_040
    assert nr_tbs(144, 120 / 1024, 2) == 32
    t = build_table("nr", 273)
    tbs = t.tbs_bits[:, 1:]
    assert np.all(np.diff(tbs, axis=1) >= 0)  # (not over MCS: MCS 17 is below MCS 16)
    big = tbs > 3824  # the large-TBS branch: TBS + 24 is a multiple of 8 C
    assert np.all((tbs[big] + 24) % 8 == 0)


def test_settings_above_shannon_are_rejected():
    from cosim.wireless.config import CqiTableLink

    with pytest.raises(ConfigFieldError, match=r"link\.target_bler.*Shannon"):
        CqiTableLink(target_bler=0.5, bler_slope_per_db=0.1)
    with pytest.raises(ConfigFieldError, match=r"link\.ber_target.*Shannon"):
        replace(lte_cell(), mac=MacConfig(slot_s=0.25e-3))  # a 1 ms LTE TB in 0.25 ms
    with pytest.raises(ConfigFieldError, match=r"mac\.num_rbs"):
        WirelessConfig(bandwidth_hz=40e6, link=McsTableLink(table="lte"),
                       mac=MacConfig(num_rbs=200))  # fmt: skip


def test_headers_are_on_the_air_but_not_in_the_payload():
    """1472-byte payloads + 30 header bytes; 2 bytes of RLC per TB (LENA's UDP/IP/PDCP/RLC)."""
    cfg = replace(
        lte_cell(scheduler="equal_share"),
        packets=PacketConfig(mtu_bytes=1472, header_bytes=30, tb_header_bytes=2),
    )
    bits, net = full_buffer_bits(cfg, [40.0], 1000)
    log = net.uplink_engine.tbs
    assert np.all(log.length[: log.n] == 75376 // 8 - 2)
    air = 1000 * (75376 // 8 - 2)
    # packets of 1502 air bytes, each with 1472 payload bytes; a full buffer's last
    # packet is what was sent of it
    assert bits[0] / 8 == (air // 1502) * 1472 + max(air % 1502 - 30, 0)
    env, net = make_network(cfg, ConstantSource([40.0]))
    ev = net.uplink(0, 3000)  # 3 packets: 1472 + 1472 + 56 payload, 3090 bytes on the air
    env.run(until=ev)
    assert list(ev.value.packets.size_bytes) == [1472, 1472, 56]
    assert ev.value.delivered_bytes == 3000
    assert net.uplink_engine.tbs.length[: net.uplink_engine.tbs.n].sum() == 3090


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(["shannon", "cqi_table", "mcs_table"]),
    a=st.floats(0.0, 1.0),
    b=st.floats(0.0, 1.0),
    table=st.sampled_from(["lte", "nr", "nr_256qam"]),
    slot_s=st.sampled_from([1e-3, 0.5e-3, 0.25e-3, 0.125e-3]),
    rb_hz=st.sampled_from([180e3, 360e3, 720e3]),
)
def test_no_accepted_link_configuration_exceeds_shannon(model, a, b, table, slot_s, rb_hz):
    """For every configuration the validation accepts, a TB on n RBs at SNR γ per RB carries
    at most n · B_rb · Δt · log2(1 + γ) bits, at every SNR and RB count."""
    from cosim.wireless.config import CqiTableLink
    from cosim.wireless.link import make_link

    try:
        if model == "shannon":
            link = ShannonLink(snr_gap_db=30 * a, max_spectral_efficiency=0.1 + 12 * b)
        elif model == "cqi_table":
            link = CqiTableLink(target_bler=1e-6 + 0.5 * a, bler_slope_per_db=0.1 + 19.9 * b)
        else:
            link = McsTableLink(table=table, ber_target=10 ** (-12 + 10.6 * a))
        cfg = WirelessConfig(
            bandwidth_hz=100 * rb_hz, link=link,
            mac=MacConfig(num_rbs=100, rb_bandwidth_hz=rb_hz, slot_s=slot_s),
        )  # fmt: skip
    except ConfigFieldError:
        return  # rejected at load
    lm = make_link(cfg.link, rb_hz, slot_s, 100)
    gamma = 10 ** (np.linspace(-15, 45, 601) / 10)
    for n in (1, 3, 10, 37, 100):
        rbs = np.full((gamma.size, 1), n)
        _, bits = lm.tb(gamma[:, None], rbs)
        cap = n * rb_hz * slot_s * np.log2(1 + gamma)
        assert np.all(bits <= cap * (1 + 1e-12)), (n, gamma[np.argmax(bits - cap)])


def test_csi_step_truncates_the_snr_link_adaptation_sees():
    """LENA's FF MAC API reports SINR in S11.3 fixed point: 1/8 dB, truncated. CQI 15 of
    the LTE table needs log2(1 + γ/Γ) > 5.55, γ > Γ (2^5.55 − 1) = 24.01 dB; at 24.05 dB
    the exact SNR selects MCS 28, the report 24.0 dB selects CQI 14 → MCS 26."""
    from cosim.wireless.link import McsTableLinkModel

    thr_db = 10 * math.log10(LENA_GAP * (2**5.55 - 1))
    assert 24.0 < thr_db < 24.05
    g = np.array([10 ** (24.05 / 10)])
    exact = McsTableLinkModel(McsTableLink(table="lte"), 100)
    coarse = McsTableLinkModel(McsTableLink(table="lte", csi_step_db=0.125), 100)
    assert exact.select(g)[0] - 1 == 28 and coarse.select(g)[0] - 1 == 26
