"""Small-scale fading statistics against closed forms.

Tolerances are 5 standard errors of the estimate, from the sample itself
(``sd / sqrt(n)``) or from the binomial variance ``p (1 − p) / n``; with
independent samples a correct model fails such a check with probability
below 1e-6 (normal tail beyond 5 σ).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import exp1, j0

from cosim.wireless.fading import (
    BlockFading,
    GaussMarkovFading,
    SumOfSinusoidsFading,
    power_gain,
)

N_CLIENTS = 400
N_SLOTS = 500  # 200 000 i.i.d. samples with one-slot blocks


def iid_gain(distribution: str, **kw) -> np.ndarray:
    h = BlockFading(N_CLIENTS, 1, 1, key=12345).samples(0, N_SLOTS)
    return power_gain(h, distribution, los_key=99, **kw).ravel()


def within_5se(samples: np.ndarray, expected: float) -> None:
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(samples.mean() - expected) < 5 * se, (samples.mean(), expected, se)


@pytest.mark.parametrize(
    ("distribution", "kw"),
    [
        ("rayleigh", {}),
        ("rician", {"k_db": 6.0}),
        ("nakagami", {"m": 2.5}),
        ("nakagami", {"m": 0.6}),
    ],
)
def test_mean_power_is_one(distribution, kw):
    within_5se(iid_gain(distribution, **kw), 1.0)


@pytest.mark.parametrize("x", [0.05, 0.5, 2.0])
def test_rayleigh_outage(x):
    g = iid_gain("rayleigh")
    p = 1 - np.exp(-x)  # P(g < x) for an Exp(1) power gain
    se = np.sqrt(p * (1 - p) / g.size)
    assert abs(np.mean(g < x) - p) < 5 * se


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_rayleigh_ergodic_capacity(snr_db):
    snr = 10 ** (snr_db / 10)
    g = iid_gain("rayleigh")
    # E[log2(1 + γ̄ g)] = log2(e) · e^{1/γ̄} · E1(1/γ̄) for g ~ Exp(1)
    expected = np.exp(1 / snr) * exp1(1 / snr) / np.log(2)
    within_5se(np.log2(1 + snr * g), expected)


@pytest.mark.parametrize("k_db", [-3.0, 3.0, 10.0])
def test_rician_second_moment(k_db):
    k = 10 ** (k_db / 10)
    g = iid_gain("rician", k_db=k_db)
    within_5se(g**2, (2 + 4 * k + k**2) / (k + 1) ** 2)  # E[g²] of a unit-mean Rician power


@pytest.mark.parametrize("m", [0.5, 1.0, 3.0])
def test_nakagami_moments(m):
    g = iid_gain("nakagami", m=m)
    within_5se(g**2, 1 + 1 / m)  # Gamma(m, 1/m): E[g²] = 1 + 1/m
    if m == 1.0:
        r = iid_gain("rayleigh")
        np.testing.assert_allclose(g, r, rtol=1e-9)  # m = 1 is Rayleigh, sample for sample


def test_sum_of_sinusoids_autocorrelation_is_j0():
    fd, dt, n_clients = 50.0, 1e-3, 3000
    proc = SumOfSinusoidsFading(np.full(n_clients, fd), 1, dt, key=7, num_sinusoids=16)
    lags = np.arange(0, 25)
    h = proc.samples(1000, 200 + lags[-1])  # start late: stationarity
    for lag in lags:
        # one estimate per client (averaged over 200 time origins); clients are independent
        per_client = np.mean(h[lag : lag + 200, :, 0] * np.conj(h[:200, :, 0]), axis=0).real
        se = per_client.std(ddof=1) / np.sqrt(n_clients)
        assert abs(per_client.mean() - j0(2 * np.pi * fd * lag * dt)) < 5 * se, lag


def test_sum_of_sinusoids_values_do_not_depend_on_batching():
    proc = SumOfSinusoidsFading(np.array([10.0, 80.0]), 2, 1e-3, key=3)
    whole = proc.samples(100, 300)
    parts = np.concatenate([proc.samples(100, 1), proc.samples(101, 150), proc.samples(251, 149)])
    np.testing.assert_allclose(parts, whole, rtol=1e-9, atol=1e-12)
    proc.max_table_entries = 7 * proc.omega.size  # long blocks computed 7 slots at a time
    np.testing.assert_allclose(proc.samples(100, 300), whole, rtol=1e-9, atol=1e-12)


def test_ar1_lag_correlation_and_idle_gap():
    fd, dt, n = 30.0, 1e-3, 4000
    proc = GaussMarkovFading(np.full(n, fd), 1, dt, key=5)
    h = proc.samples(0, 60)[:, :, 0]
    rho = j0(2 * np.pi * fd * dt)
    for lag in (1, 5, 20):
        per_client = np.mean(h[lag:] * np.conj(h[:-lag]), axis=0).real
        se = per_client.std(ddof=1) / np.sqrt(n)
        assert abs(per_client.mean() - rho**lag) < 5 * se
    within_5se(np.abs(h[-1]) ** 2, 1.0)
    # across an idle gap of 40 slots the exact 40-step transition keeps ρ^40
    after = proc.samples(99, 1)[0, :, 0]
    per = (after * np.conj(h[-1])).real
    assert abs(per.mean() - rho**40) < 5 * per.std(ddof=1) / np.sqrt(n)


def test_block_fading_is_constant_within_a_block():
    proc = BlockFading(3, 2, block_slots=10, key=1)
    h = proc.samples(5, 30)
    assert np.all(h[0] == h[4]) and np.all(h[5] == h[14])
    assert not np.allclose(h[4], h[5])


def test_clarke_stored_design_is_the_computed_one(tmp_path):
    """The shipped filter design (loaded without scipy) is what compute_design gives on
    this machine; a missing or stale file falls back to computing it.

    Not bit for bit: NumPy's exp and FFT pick SIMD kernels by CPU (AVX2 or AVX-512),
    whose last bits differ, and the square root of the spectrum's near-zero tail
    magnifies them (measured: 4.7e-11 in g, 1.8e-12 in the weights). Runs load the
    stored file, so every machine uses one design; a design for other constants would
    differ by far more than 1e-9."""
    import cosim.wireless.fading.clarke as clarke

    g, weights, residual = clarke.compute_design()
    assert clarke.DESIGN_FILE.is_file()
    with np.load(clarke.DESIGN_FILE) as f:
        assert np.array_equal(f["params"], clarke._params())
        np.testing.assert_allclose(f["g"], g, rtol=0, atol=1e-9)
        np.testing.assert_allclose(f["weights"], weights, rtol=0, atol=1e-9)
        assert float(f["residual"]) == pytest.approx(residual, rel=1e-6)
    stale = tmp_path / "d.npz"
    np.savez(stale, params=clarke._params() + 1, g=g[:3], weights=weights[:2], residual=0.0)
    stored = clarke._design()
    clarke._design.cache_clear()
    try:
        clarke.DESIGN_FILE, kept = stale, clarke.DESIGN_FILE
        fresh = clarke._design()
    finally:
        clarke.DESIGN_FILE = kept
        clarke._design.cache_clear()
    for a, b in zip(stored, fresh, strict=True):  # g's FFT sums 513 taps' differences
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)


def test_clarke_covariance_of_the_construction_is_the_target():
    """Exact (not sampled) covariance of two slots from the kriging weights and g ⋆ g.

    h(s) = Σ_p a_p(μ) u[j − 2 + p], so Cov(h(s1), h(s2)) = a(μ1)ᵀ R_u a(μ2) with
    R_u[n] = Σ_k g[k] g[k + n]; it must equal R(f_d Δt (s1 − s2)) within the
    documented 6e-4, for any slot pair and Doppler.
    """
    from cosim.wireless.fading.clarke import (
        GRID_CYCLES,
        TABLE,
        _design,
        target_autocorrelation,
    )

    g, _, table, _ = _design()
    r_u = np.correlate(g, g, "full")[g.size - 1 :]  # lags 0 … 2H; zero beyond
    r_u = np.concatenate([r_u, np.zeros(200_000)])
    assert np.max(np.abs(r_u[:40] - target_autocorrelation(np.arange(40) * GRID_CYCLES))) < 2e-9
    rng = np.random.default_rng(0)
    worst = 0.0
    for fd in (0.7, 3.0, 35.0, 300.0):
        step = fd * 1e-3 / GRID_CYCLES  # grid samples per 1 ms slot
        s = rng.integers(0, 50_000, size=(200, 2))
        q = np.rint(s * step * TABLE).astype(np.int64)
        j, mu = q // TABLE, q % TABLE
        taps = np.arange(table.shape[1])
        offsets = (j[:, 0] - j[:, 1])[:, None, None] + taps[None, :, None] - taps
        cov = np.einsum("ip,ipq,iq->i", table[mu[:, 0]], r_u[np.abs(offsets)], table[mu[:, 1]])
        want = target_autocorrelation(fd * 1e-3 * (s[:, 0] - s[:, 1]))
        worst = max(worst, float(np.max(np.abs(cov - want))))
    assert worst < 6e-4, worst
    # variance exactly one at every table entry
    taps = np.arange(table.shape[1])
    r_mat = r_u[np.abs(taps[:, None] - taps[None, :])]
    np.testing.assert_allclose(np.einsum("ip,pq,iq->i", table, r_mat, table), 1.0, rtol=1e-12)


def test_clarke_links_are_independent_and_keyed():
    from cosim.wireless.fading import ClarkeFading

    a = ClarkeFading(np.full(300, 20.0), 2, 1e-3, key=4).samples(0, 50)
    b = ClarkeFading(np.full(300, 20.0), 2, 1e-3, key=5).samples(0, 50)
    # cross-correlation of different clients / subbands / keys at lag 0: mean 0,
    # 600 nearly independent products (|E| ≤ 5 / sqrt(600) = 0.2)
    for x, y in ((a[:, :, 0], a[:, :, 1]), (a[:, :-1, 0], a[:, 1:, 0]), (a[:, :, 0], b[:, :, 0])):
        per_link = np.mean(x * np.conj(y), axis=0)
        assert abs(per_link.mean()) < 5 * per_link.std() / np.sqrt(per_link.size)


def test_sum_of_sinusoids_each_realisation_has_j0_and_kurtosis_two_minus_one_over_n():
    """Zheng–Xiao stratified angles: per realisation, the time-averaged
    autocorrelation N⁻¹ Σ_n exp(j ω_n τ) is J0 up to J_N terms (< 1e-6 for
    2π f_d τ ≤ 4 with N = 17), and the time-averaged |h|⁴ is 2 − 1/N (not 2)."""
    n, fd = 17, 10.0
    proc = SumOfSinusoidsFading(np.full(50, fd), 1, 1e-3, key=21, num_sinusoids=n)
    for x in (0.5, 1.0, 2.0, 4.0):  # 2π f_d τ
        tau = x / (2 * np.pi * fd)
        per_link = np.mean(np.exp(1j * proc.omega[:, 0, :] * tau), axis=-1)
        np.testing.assert_allclose(per_link.real, j0(x), atol=1e-6)
        np.testing.assert_allclose(per_link.imag, 0.0, atol=1e-6)
    # Time-averaged |h|⁴ = Σ over (a, b, c, d) with ω_a + ω_b = ω_c + ω_d of
    # a_a a_b a_c a_d e^{j(φ_a + φ_b − φ_c − φ_d)}; when the pair sums ω_a + ω_b (a ≤ b)
    # are all distinct only (c, d) = (a, b) or (b, a) remain: 2 − 1/N for every
    # realisation. Odd N has no coincident pair sums; even N pairs ±ω (α, α + π).
    for count, distinct in ((17, True), (16, False)):
        p = SumOfSinusoidsFading(np.full(20, fd), 1, 1e-3, key=23, num_sinusoids=count)
        a_idx, b_idx = np.triu_indices(count)
        for w in p.omega[:, 0, :]:
            sums = np.sort(w[a_idx] + w[b_idx])
            gap = np.min(np.diff(sums)) / (2 * np.pi * fd)
            assert (gap > 1e-9) == distinct, (count, gap)
