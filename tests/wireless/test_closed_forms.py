"""The wireless model at its DEFAULT settings against closed forms.

Small-scale fading
------------------
``WirelessConfig()`` fades every client by Rayleigh, time-correlated with the
Clarke/Jakes spectrum; a default client stands still, so its Doppler is the
environmental ``f_d = 3 Hz``, and slots are 1 ms. Samples of one client are
correlated in time, so they are never treated as independent:

* **across clients** — each client gives one time average over its own slots;
  clients have independent noise, so the standard error of the mean over
  ``n`` clients is ``sd / sqrt(n)`` with the sample sd *of the per-client
  averages* (whatever the time correlation inside a client);
* **per client** — the variance of one client's time average follows from the
  autocorrelation R of a circular Gaussian process (Isserlis):
  ``Var(mean |h|²) = N⁻² Σ_ik R(t_i − t_k)²``; for the lag-τ product
  ``Var(Re mean h(t+τ) h*(t)) = (2 N²)⁻¹ Σ_ik [R(Δ)² + R(Δ + τ) R(Δ − τ)]``;
  for ``|h|⁴``: ``Cov(|a|⁴, |b|⁴) = 16 r + 4 r²``, r = R(Δ)² (Kibble's bivariate
  exponential). ``N / (N⁻¹ Σ_ik R²)`` is the effective number of independent
  samples; it is computed here for the exact sampling pattern.

Every check allows 5 standard errors: a correct model fails one with
probability below 6e-7 (two-sided normal tail beyond 5 σ); the seeds are fixed.

Sampling patterns, the same for every client: for the marginal distribution,
``SPARSE`` single slots ``GAP`` apart (1.377 Doppler cycles, J0's third zero,
so neighbours are nearly uncorrelated: 3e5 samples give a 5-SE band of ±0.04
on E g², enough to reject the 16-sinusoid model's 2 − 1/16); for time
correlation, ``M`` windows of ``W`` consecutive slots, ``STEP`` slots apart.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import exp1, j0

from cosim.wireless.config import FadingConfig, WirelessConfig
from cosim.wireless.fading.clarke import kriging_residual, target_autocorrelation
from cosim.wireless.pathloss import RMa, RMaPathLoss, UMa, UMaPathLoss, UMi
from cosim.wireless.pathloss.base import SPEED_OF_LIGHT_MPS
from cosim.wireless.simulated import SimulatedChannel, doppler_hz, draw_large_scale

DEFAULT = WirelessConfig()
SLOT_S = DEFAULT.mac.slot_s
N_CLIENTS = 400
M, W, STEP = 40, 334, 500  # windows per client, slots per window, slots between windows
N_SPARSE, SPARSE, GAP = 500, 600, 459  # clients, slots per client, slots between them
#: Lags [slots]: f_d τ = 0.05 … 1 Doppler cycle at 3 Hz, through J0's first zero (0.383).
LAGS = (17, 33, 67, 128, 200, 333)
Z = 5.0


def channel(n_clients: int, seed: int, fading: FadingConfig | None = None) -> SimulatedChannel:
    """The default uplink channel of ``n_clients`` clients at speed 0, mean SNR 0 dB."""
    cfg = DEFAULT if fading is None else replace(DEFAULT, fading=fading)
    fd = doppler_hz(cfg, np.zeros(n_clients))
    return SimulatedChannel(
        np.zeros(n_clients), cfg.fading, fd, SLOT_S, np.random.default_rng(seed)
    )


def power_gains(ch: SimulatedChannel, windows: int = M) -> np.ndarray:
    """g [windows, W, clients] over the sampling pattern (through the channel's SNR in dB)."""
    return np.stack([10 ** (ch.block(m * STEP, W).snr_db[:, :, 0] / 10) for m in range(windows)])


def complex_gains(ch: SimulatedChannel, windows: int = M) -> np.ndarray:
    """h [windows, W, clients] of the default channel's fading process."""
    return np.stack([ch.process.samples(m * STEP, W)[:, :, 0] for m in range(windows)])


def pair_sum(fun, windows: int, width: int) -> float:
    """``Σ_ik fun(t_i − t_k)`` over ``windows`` windows of ``width`` slots, STEP apart."""
    j = np.arange(-(windows - 1), windows)
    d = np.arange(-(width - 1), width)
    lag = j[:, None] * STEP + d[None, :]
    weight = (windows - np.abs(j))[:, None] * (width - np.abs(d))[None, :]
    return float(np.sum(weight * fun(lag)))


def corr(lag_slots: np.ndarray | float) -> np.ndarray:
    """The default clients' autocorrelation at a lag in slots (3 Hz, 1 ms)."""
    fd = DEFAULT.fading.environment_doppler_hz
    return target_autocorrelation(fd * SLOT_S * np.asarray(lag_slots, dtype=np.float64))


def check_mean(per_client: np.ndarray, expected: float, what: str) -> None:
    """Mean over independent clients within 5 SE (SE from the per-client spread)."""
    se = per_client.std(ddof=1) / np.sqrt(per_client.size)
    assert abs(per_client.mean() - expected) < Z * se, (what, per_client.mean(), expected, se)


@pytest.fixture(scope="module")
def rayleigh_gains() -> np.ndarray:
    return power_gains(channel(N_CLIENTS, seed=2026))


@pytest.fixture(scope="module")
def sparse_gains() -> np.ndarray:
    """g [SPARSE, N_SPARSE]: single slots GAP apart, per client."""
    ch = channel(N_SPARSE, seed=2027)
    return np.concatenate(
        [10 ** (ch.block(k * GAP, 1).snr_db[:, :, 0] / 10) for k in range(SPARSE)]
    )


def test_defaults_are_time_correlated_rayleigh_at_the_environmental_doppler():
    f = DEFAULT.fading
    assert (f.distribution, f.correlation, f.environment_doppler_hz) == ("rayleigh", "jakes", 3.0)
    np.testing.assert_allclose(doppler_hz(DEFAULT, np.zeros(2)), 3.0)
    # f_d = sqrt((v f_c / c)² + f_env²): 3 m/s at 3.5 GHz is 35.02 Hz of motion
    v_fd = 3.0 * DEFAULT.carrier_hz / SPEED_OF_LIGHT_MPS
    np.testing.assert_allclose(doppler_hz(DEFAULT, np.array([3.0])), np.hypot(v_fd, 3.0))


def test_rayleigh_mean_power_and_fourth_moment(sparse_gains):
    g = sparse_gains
    check_mean(g.mean(axis=0), 1.0, "E g")
    check_mean((g**2).mean(axis=0), 2.0, "E g² = E|h|⁴")  # Exp(1): E g² = 2


@pytest.mark.parametrize("x_db", [-10.0, 0.0, 3.0])
def test_rayleigh_outage(sparse_gains, x_db):
    x = 10 ** (x_db / 10)  # threshold relative to the mean SNR γ̄
    check_mean((sparse_gains < x).mean(axis=0), 1 - np.exp(-x), f"P(g < {x_db} dB)")


def test_rayleigh_ergodic_capacity_at_10_db(sparse_gains):
    snr = 10.0
    # E log2(1 + γ̄ g), g ~ Exp(1): log2(e) e^{1/γ̄} E1(1/γ̄) = 2.9065 b/s/Hz at 10 dB
    expected = np.exp(1 / snr) * exp1(1 / snr) / np.log(2)
    assert expected == pytest.approx(2.9065, abs=5e-5)
    check_mean(np.log2(1 + snr * sparse_gains).mean(axis=0), expected, "ergodic capacity")


def test_every_client_time_average_power_converges(rayleigh_gains):
    """Per client: |mean power − 1| within 5 σ of the ergodic theory; spread as predicted."""
    n = M * W
    var = pair_sum(lambda lag: corr(lag) ** 2, M, W) / n**2
    var_g2 = pair_sum(lambda lag: 16 * corr(lag) ** 2 + 4 * corr(lag) ** 4, M, W) / n**2
    g = rayleigh_gains.reshape(-1, N_CLIENTS)
    for stat, truth, v in ((g.mean(axis=0), 1.0, var), ((g**2).mean(axis=0), 2.0, var_g2)):
        assert np.all(np.abs(stat - truth) < Z * np.sqrt(v)), (np.abs(stat - truth).max(), v)
        check_spread(stat, v)


def check_spread(per_client: np.ndarray, var_theory: float) -> None:
    """Sample variance of the per-client estimates equals the ergodic prediction.

    SE of a sample variance: ``sqrt((m4 − s⁴) / n)`` (m4: fourth central moment).
    A non-ergodic model (per-client offsets) has a far larger spread.
    """
    dev = per_client - per_client.mean()
    s2, m4 = np.mean(dev**2), np.mean(dev**4)
    se = np.sqrt((m4 - s2**2) / per_client.size)
    assert abs(s2 - var_theory) < Z * se, (s2, var_theory, se)


@pytest.fixture(scope="module")
def rayleigh_h() -> np.ndarray:
    return complex_gains(channel(N_CLIENTS, seed=77))  # [M, W, clients]


@pytest.mark.parametrize("lag", LAGS)
def test_every_client_autocorrelation_is_j0(rayleigh_h, lag):
    """One client's time-averaged h(t + τ) h*(t) → J0(2π f_d τ), for each client."""
    h = rayleigh_h
    prod = h[:, lag:, :] * np.conj(h[:, : W - lag, :])
    per_client = prod.reshape(-1, N_CLIENTS).mean(axis=0).real
    fd_tau = DEFAULT.fading.environment_doppler_hz * lag * SLOT_S
    rho = j0(2 * np.pi * fd_tau)
    # The model's correlation differs from J0 by the 16-cycle lag window (≤ 4.3e-4 up
    # to one cycle) and the interpolation between grid samples (≤ 6e-4, checked
    # exactly in test_fading.py): far below the tolerances here (5 SE ≥ 0.018).
    assert abs(corr(lag) - rho) < 4.3e-4 and kriging_residual() < 1e-6
    check_mean(per_client, rho, f"ensemble R({lag} slots)")
    width = W - lag
    n = M * width
    var = pair_sum(lambda d: corr(d) ** 2 + corr(d + lag) * corr(d - lag), M, width) / (2 * n**2)
    assert np.all(np.abs(per_client - rho) < Z * np.sqrt(var)), (per_client.min(), rho, var)
    check_spread(per_client, var)


@pytest.mark.slow
def test_one_client_marginals_over_a_long_time():
    """A single client's time averages of g, g², outage and capacity → the closed forms.

    10 000 slots GAP apart (1.3 h). For any functions f, f' of two jointly
    circular Gaussian samples with correlation ρ, |Cov(f(a), f'(b))| ≤ |ρ| sd sd
    (the maximal correlation of a Gaussian pair is |ρ|: Lancaster), so the time
    average of f has variance at most ``Var f · N⁻² Σ_ik |R(t_i − t_k)|``; for g
    itself the exact ``N⁻² Σ_ik R²`` applies (module docstring).
    """
    n = 10_000
    ch = channel(1, seed=12)
    g = np.concatenate([10 ** (ch.block(k * GAP, 1).snr_db[:, 0, 0] / 10) for k in range(n)])
    k = np.arange(-(n - 1), n)
    weight = (n - np.abs(k)) / n**2
    abs_sum = float(np.sum(weight * np.abs(corr(k * GAP))))
    sq_sum = float(np.sum(weight * corr(k * GAP) ** 2))
    assert abs(g.mean() - 1) < Z * np.sqrt(sq_sum)  # Var g = 1, Cov = R²
    assert abs(np.mean(g**2) - 2) < Z * np.sqrt(20 * abs_sum)  # Var g² = 24 − 4
    for x_db in (-10.0, 0.0, 3.0):
        p = 1 - np.exp(-(10 ** (x_db / 10)))
        assert abs(np.mean(g < 10 ** (x_db / 10)) - p) < Z * np.sqrt(p * (1 - p) * abs_sum)
    # capacity at 10 dB: moments of log2(1 + 10 g), g ~ Exp(1), by quadrature
    u, wq = np.polynomial.laguerre.laggauss(100)
    c1, c2 = np.sum(wq * np.log2(1 + 10 * u)), np.sum(wq * np.log2(1 + 10 * u) ** 2)
    assert c1 == pytest.approx(np.exp(0.1) * exp1(0.1) / np.log(2), abs=1e-6)
    assert abs(np.mean(np.log2(1 + 10 * g)) - c1) < Z * np.sqrt((c2 - c1**2) * abs_sum)


@pytest.mark.slow
def test_one_client_over_a_long_time_matches_j0():
    """A single client, 600 s of 1.5-cycle-spaced windows: its own J0 and mean power."""
    windows = 1200
    h = complex_gains(channel(1, seed=5), windows=windows)[:, :, 0]
    n = windows * W
    var_p = pair_sum(lambda d: corr(d) ** 2, windows, W) / n**2
    assert abs(np.mean(np.abs(h) ** 2) - 1) < Z * np.sqrt(var_p)
    for lag in LAGS:
        width = W - lag
        est = np.mean(h[:, lag:] * np.conj(h[:, : W - lag])).real
        m = windows * width
        var = pair_sum(lambda d, t=lag: corr(d) ** 2 + corr(d + t) * corr(d - t), windows, width)
        rho = j0(2 * np.pi * DEFAULT.fading.environment_doppler_hz * lag * SLOT_S)
        assert abs(est - rho) < Z * np.sqrt(var / (2 * m**2)), (lag, est, rho)


def test_a_client_at_speed_zero_is_not_frozen():
    """Defect 6: the environmental Doppler moves the channel of a client standing still."""
    g_db = 10 * np.log10(power_gains(channel(50, seed=9), windows=10))  # 5 s per client
    sd = g_db.reshape(-1, 50).std(axis=0)
    assert np.all(sd > 2.0)  # Rayleigh in dB: sd 5.57 dB; 15 Doppler cycles observed
    frozen = FadingConfig(environment_doppler_hz=0.0)
    g0 = power_gains(channel(50, seed=9, fading=frozen), windows=10).reshape(-1, 50)
    assert np.all(g0 == g0[0])  # f_d = 0: a constant CN(0, 1) draw per client


def test_rician_moments_at_the_default_k_factor():
    f = replace(DEFAULT.fading, distribution="rician")
    k = 10 ** (f.k_db / 10)  # default K = 6 dB
    g = power_gains(channel(N_CLIENTS, seed=31, fading=f), windows=10).reshape(-1, N_CLIENTS)
    check_mean(g.mean(axis=0), 1.0, "Rician E g")
    check_mean((g**2).mean(axis=0), (2 + 4 * k + k**2) / (k + 1) ** 2, "Rician E g²")


def test_nakagami_moments_at_the_default_m():
    f = replace(DEFAULT.fading, distribution="nakagami")
    m = f.m  # default m = 2: g ~ Gamma(m, 1/m)
    g = power_gains(channel(N_CLIENTS, seed=37, fading=f), windows=10).reshape(-1, N_CLIENTS)
    check_mean(g.mean(axis=0), 1.0, "Nakagami E g")
    check_mean((g**2).mean(axis=0), 1 + 1 / m, "Nakagami E g²")
    check_mean((g**3).mean(axis=0), (m + 1) * (m + 2) / m**2, "Nakagami E g³")


# --------------------------------------------------------------------------- TR 38.901 LOS
FC = DEFAULT.carrier_hz
D2D = np.array([10.0, 18.0, 18.5, 25.0, 50.0, 100.0, 200.0, 450.0, 1000.0, 5000.0])


def uma_los(d: float, h_ut: float) -> float:
    """Table 7.4.2-1 UMa, transcribed again (capped at 1)."""
    if d <= 18:
        return 1.0
    c = 0.0 if h_ut <= 13 else ((h_ut - 13) / 10) ** 1.5
    p = (18 / d + np.exp(-d / 63) * (1 - 18 / d)) * (
        1 + c * 5 / 4 * (d / 100) ** 3 * np.exp(-d / 150)
    )
    return min(p, 1.0)


@pytest.mark.parametrize("h_ut", [1.0, 1.5, 5.0, 10.0, 13.0, 13.2, 14.0, 17.0, 20.0, 22.5])
def test_uma_los_probability_at_every_height(h_ut):
    got = UMa(FC, 25.0, h_ut).los_probability(D2D)
    np.testing.assert_allclose(got, [uma_los(d, h_ut) for d in D2D], rtol=1e-12)


def test_uma_los_height_term_hand_computed():
    # h_UT = 20 m, 100 m: C' = 0.7^1.5 = 0.58566; g = 1.25 e^{-2/3} = 0.64177;
    # base = 0.18 + e^{-100/63}·0.82 = 0.34767 → 0.34767 · (1 + 0.37586) = 0.47835
    assert UMa(FC, 25.0, 20.0).los_probability(np.array([100.0]))[0] == pytest.approx(
        0.47835, abs=1e-5
    )


@pytest.mark.parametrize("h_ut", [1.0, 1.5, 10.0, 22.5])
def test_umi_los_probability_at_every_height(h_ut):
    want = np.where(D2D <= 18, 1.0, 18 / D2D + np.exp(-D2D / 36) * (1 - 18 / D2D))
    np.testing.assert_allclose(UMi(FC, 10.0, h_ut).los_probability(D2D), want, rtol=1e-12)


@pytest.mark.parametrize("h_ut", [1.0, 1.5, 5.0, 10.0])
def test_rma_los_probability_at_every_height(h_ut):
    want = np.where(D2D <= 10, 1.0, np.exp(-(D2D - 10) / 1000))
    model = RMa(FC, 35.0, h_ut, 5.0, 20.0)
    np.testing.assert_allclose(model.los_probability(D2D), want, rtol=1e-12)


def test_drawn_los_state_follows_the_height_term():
    """Defect 7: at h_UT = 20 m the LOS frequency is the height-corrected probability."""
    n = 20_000
    cfg = replace(DEFAULT, path_loss=UMaPathLoss(los="auto", ut_height_m=20.0))
    ls = draw_large_scale(cfg, np.full(n, 100.0), np.random.default_rng(3))
    p = uma_los(100.0, 20.0)  # 0.4783 (0.3477 without C′)
    assert abs(ls.los.mean() - p) < Z * np.sqrt(p * (1 - p) / n)
    rma = replace(DEFAULT, path_loss=RMaPathLoss(los="auto"))
    ls = draw_large_scale(rma, np.full(n, 300.0), np.random.default_rng(4))
    p = np.exp(-(300 - 10) / 1000)
    assert abs(ls.los.mean() - p) < Z * np.sqrt(p * (1 - p) / n)


def test_uma_environment_height_distribution_and_determinism():
    """h_E = 1 m w.p. 1/(1 + C), else uniform over {12, 15, …, h_UT − 1.5} (note 1)."""
    n, h_ut, d = 20_000, 22.5, 300.0
    cfg = replace(DEFAULT, path_loss=UMaPathLoss(ut_height_m=h_ut))
    ls = draw_large_scale(cfg, np.full(n, d), np.random.default_rng(8))
    c = ((h_ut - 13) / 10) ** 1.5 * 1.25 * (d / 100) ** 3 * np.exp(-d / 150)
    p1 = 1 / (1 + c)
    h_e = ls.env_height_m
    assert abs(np.mean(h_e == 1.0) - p1) < Z * np.sqrt(p1 * (1 - p1) / n)
    others = h_e[h_e != 1.0]
    choices = np.array([12.0, 15.0, 18.0, 21.0])  # up to h_UT − 1.5 = 21 m
    assert set(np.unique(others)) == set(choices)
    for h in choices:  # each with probability 1/4 among the others
        q = 0.25
        assert abs(np.mean(others == h) - q) < Z * np.sqrt(q * (1 - q) / others.size)
    again = draw_large_scale(cfg, np.full(n, d), np.random.default_rng(8))
    np.testing.assert_array_equal(again.env_height_m, h_e)
    np.testing.assert_array_equal(again.path_loss_db, ls.path_loss_db)
    # the default UT height (1.5 m) keeps h_E = 1 m and draws nothing extra
    low = draw_large_scale(DEFAULT, np.full(5, d), np.random.default_rng(8))
    np.testing.assert_array_equal(low.env_height_m, 1.0)


def test_uma_path_loss_uses_the_drawn_environment_height():
    # h_E = 18 m moves d'BP from 21.3 km (h_E = 1 m) to 4·7·2·f_c/c = 653.8 m
    h_ut, h_e, d = 20.0, 18.0, np.array([150.0])
    d_bp = 4 * (25.0 - h_e) * (h_ut - h_e) * FC / SPEED_OF_LIGHT_MPS
    assert d_bp == pytest.approx(653.8, abs=0.1)
    d3 = np.hypot(d, 25.0 - h_ut)
    fc = FC / 1e9
    pl1 = 28.0 + 22 * np.log10(d3) + 20 * np.log10(fc)  # below d'BP
    got = UMa(FC, 25.0, h_ut).loss_db(d, np.array([True]), np.array([h_e]))
    np.testing.assert_allclose(got, pl1, atol=1e-9)
    far = np.array([900.0])
    d3 = np.hypot(far, 25.0 - h_ut)
    pl2 = (
        28.0 + 40 * np.log10(d3) + 20 * np.log10(fc)
        - 9 * np.log10(d_bp**2 + (25.0 - h_ut) ** 2)
    )  # fmt: skip
    got = UMa(FC, 25.0, h_ut).loss_db(far, np.array([True]), np.array([h_e]))
    np.testing.assert_allclose(got, pl2, atol=1e-9)
