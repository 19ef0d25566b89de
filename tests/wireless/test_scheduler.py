"""Scheduler properties: round robin shares equally, PF maximises Σ log throughput,
max-rate always picks the best link. Full buffers, frequency-flat channel."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.wireless.config import FadingConfig, MacConfig, ShannonLink, WirelessConfig
from cosim.wireless.mac import FULL_BUFFER, MacEngine
from cosim.wireless.simulated import SimulatedChannel

N_SLOTS = 20_000


def run_engine(scheduler: str, mean_snr_db: list[float], n_slots: int = N_SLOTS, beta=0.01):
    cfg = WirelessConfig(
        mac=MacConfig(scheduler=scheduler, pf_beta=beta),
        link=ShannonLink(max_spectral_efficiency=30.0),
        fading=FadingConfig(correlation="block"),  # i.i.d. Rayleigh per slot
    )
    src = SimulatedChannel(
        np.array(mean_snr_db), cfg.fading, np.zeros(len(mean_snr_db)), cfg.mac.slot_s,
        np.random.default_rng(21),
    )  # fmt: skip
    eng = MacEngine(src, cfg, decode_key=1, chunk_slots=4096)
    for c in range(len(mean_snr_db)):
        eng.add_transfer(c, FULL_BUFFER)
    eng.run(n_slots)
    log = eng.tbs
    n = log.n
    links, slots, bits = log.link[:n], log.first_slot[:n], 8 * log.length[:n]
    # bits each link would send with every RB, per slot: [n_slots, n_links]
    snr = src.block(0, n_slots).snr_db[:, :, 0]
    per_rb = cfg.mac.rb_bandwidth_hz * cfg.mac.slot_s * np.log2(1 + 10 ** (snr / 10))
    full = cfg.mac.num_rbs * per_rb
    return links, slots, bits, full


def test_round_robin_gives_equal_shares():
    links, slots, _, _ = run_engine("round_robin", [0.0, 10.0, 20.0], n_slots=3000)
    # one TB per slot (a full buffer fills the band), links in turn
    assert np.array_equal(np.sort(slots), np.arange(3000))
    np.testing.assert_array_equal(links[np.argsort(slots)], np.tile([0, 1, 2], 1000))


def test_max_rate_picks_the_best_link():
    links, slots, _, full = run_engine("max_rate", [0.0, 5.0, 10.0], n_slots=3000)
    order = np.argsort(slots)
    np.testing.assert_array_equal(links[order], np.argmax(full[slots[order]], axis=1))


def test_proportional_fair_reaches_the_log_utility_optimum():
    links, _, bits, full = run_engine("proportional_fair", [0.0, 10.0])
    n = N_SLOTS
    r_pf = np.array([bits[links == i].sum() / n for i in (0, 1)])
    u_pf = np.log(r_pf).sum()
    # The boundary of the two-user throughput region is traced by the policies
    # "serve 0 iff r0 ≥ λ r1"; the log-utility optimum is the best of them on the
    # same channel samples.
    r0, r1 = full[:, 0], full[:, 1]
    best, best_sel = -np.inf, None
    for lam in np.logspace(-1.5, 1.5, 1201):
        sel = r0 >= lam * r1
        u = np.log(np.mean(r0 * sel)) + np.log(np.mean(r1 * ~sel))
        if u > best:
            best, best_sel = u, sel
    # 5 standard errors of log(mean throughput) of each user under the optimal policy
    se = [np.std(r * s) / (np.mean(r * s) * np.sqrt(n)) for r, s in
          ((r0, best_sel), (r1, ~best_sel))]  # fmt: skip
    tol = 5 * np.hypot(*se)
    assert u_pf == pytest.approx(best, abs=tol)
    # and PF is clearly better than the two extremes
    for other in ("round_robin", "max_rate"):
        ln, _, bt, _ = run_engine(other, [0.0, 10.0])
        r = np.array([bt[ln == i].sum() / n for i in (0, 1)])
        assert np.log(np.maximum(r, 1e-9)).sum() < u_pf - 10 * tol, other


def test_pf_scaled_average_equals_the_plain_ewma_across_rebases():
    from cosim.wireless.scheduler import PfAverage

    beta, n_links = 0.05, 3
    pf = PfAverage(n_links, beta)
    pf.max_span = 37  # rebase often
    held = pf.scaled  # an outside reference must see every update (in-place rebase)
    plain = np.ones(n_links)
    rng = np.random.default_rng(0)
    for s in range(3000):
        bits = rng.integers(0, 5000, n_links) * (rng.random(n_links) < 0.3)
        if bits.any():
            pf.scaled += pf.gain(s) * bits
        plain = (1 - beta) * plain + beta * bits
        np.testing.assert_allclose(pf.value(s + 1), plain, rtol=1e-9)
    assert held is pf.scaled
