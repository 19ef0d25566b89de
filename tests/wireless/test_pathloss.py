"""Path loss against the closed forms: Friis and 3GPP TR 38.901 V17 Table 7.4.1-1 / 7.4.2-1.

The expected values are transcribed again here (fc in GHz, distances in m)
and, for a few points, worked out by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosim.wireless.pathloss import FreeSpace, LogDistance, RMa, UMa, UMi

FC = 3.5e9
C = 299_792_458.0
D = np.array([20.0, 100.0, 400.0, 900.0, 2000.0])


def d3(d2: float, hbs: float, hut: float) -> float:
    return math.hypot(d2, hbs - hut)


def test_free_space_friis():
    # 1 km at 2.4 GHz: 20 log10(4π · 1000 · 2.4e9 / c) = 100.05 dB
    assert FreeSpace(2.4e9).loss_db(np.array([1000.0]), np.array([True]))[0] == pytest.approx(
        100.05, abs=0.01
    )
    # +20 dB per decade of distance
    pl = FreeSpace(FC).loss_db(np.array([10.0, 100.0]), np.array([True, True]))
    assert pl[1] - pl[0] == pytest.approx(20.0)


def test_log_distance_exponent_and_reference():
    m = LogDistance(3.0, 1.0, 40.0, None)
    pl = m.loss_db(np.array([1.0, 10.0, 100.0]), np.ones(3, bool))
    np.testing.assert_allclose(pl, [40.0, 70.0, 100.0])
    friis_ref = LogDistance(2.0, 1.0, None, FC)
    np.testing.assert_allclose(
        friis_ref.loss_db(D, np.ones(D.size, bool)),
        FreeSpace(FC).loss_db(D, np.ones(D.size, bool)),
    )


def uma_expected(d2: float, los: bool, hbs: float = 25.0, hut: float = 1.5) -> float:
    fc = FC / 1e9
    dbp = 4 * (hbs - 1) * (hut - 1) * FC / C
    d = d3(d2, hbs, hut)
    if d2 <= dbp:
        pl_los = 28.0 + 22 * math.log10(d) + 20 * math.log10(fc)
    else:
        pl_los = (
            28.0 + 40 * math.log10(d) + 20 * math.log10(fc)
            - 9 * math.log10(dbp**2 + (hbs - hut) ** 2)
        )  # fmt: skip
    if los:
        return pl_los
    nlos = 13.54 + 39.08 * math.log10(d) + 20 * math.log10(fc) - 0.6 * (hut - 1.5)
    return max(pl_los, nlos)


def umi_expected(d2: float, los: bool, hbs: float = 10.0, hut: float = 1.5) -> float:
    fc = FC / 1e9
    dbp = 4 * (hbs - 1) * (hut - 1) * FC / C
    d = d3(d2, hbs, hut)
    if d2 <= dbp:
        pl_los = 32.4 + 21 * math.log10(d) + 20 * math.log10(fc)
    else:
        pl_los = (
            32.4 + 40 * math.log10(d) + 20 * math.log10(fc)
            - 9.5 * math.log10(dbp**2 + (hbs - hut) ** 2)
        )  # fmt: skip
    if los:
        return pl_los
    nlos = 35.3 * math.log10(d) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (hut - 1.5)
    return max(pl_los, nlos)


def rma_expected(d2: float, los: bool, hbs=35.0, hut=1.5, h=5.0, w=20.0) -> float:
    fc = FC / 1e9
    dbp = 2 * math.pi * hbs * hut * FC / C

    def pl1(d: float) -> float:
        return (
            20 * math.log10(40 * math.pi * d * fc / 3)
            + min(0.03 * h**1.72, 10) * math.log10(d)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * math.log10(h) * d
        )

    d = d3(d2, hbs, hut)
    pl_los = pl1(d) if d2 <= dbp else pl1(dbp) + 40 * math.log10(d / dbp)
    if los:
        return pl_los
    nlos = (
        161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
        - (24.37 - 3.7 * (h / hbs) ** 2) * math.log10(hbs)
        + (43.42 - 3.1 * math.log10(hbs)) * (math.log10(d) - 3)
        + 20 * math.log10(fc) - (3.2 * math.log10(11.75 * hut) ** 2 - 4.97)
    )  # fmt: skip
    return max(pl_los, nlos)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (UMa(FC, 25.0, 1.5), uma_expected),
        (UMi(FC, 10.0, 1.5), umi_expected),
        (RMa(FC, 35.0, 1.5, 5.0, 20.0), rma_expected),
    ],
    ids=["uma", "umi", "rma"],
)
@pytest.mark.parametrize("los", [True, False], ids=["los", "nlos"])
def test_tr38901_formulas(model, expected, los):
    got = model.loss_db(D, np.full(D.size, los))
    want = [expected(d, los) for d in D]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_tr38901_hand_computed_points():
    # UMa LOS, 100 m: d3D = sqrt(100² + 23.5²) = 102.724; below d'BP = 560.4 m, so
    # 28 + 22 log10(102.724) + 20 log10(3.5) = 28 + 44.257 + 10.881 = 83.138 dB.
    assert UMa(FC, 25, 1.5).loss_db(np.array([100.0]), np.array([True]))[0] == pytest.approx(
        83.138, abs=2e-3
    )
    # UMi NLOS, 100 m: d3D = sqrt(100² + 8.5²) = 100.361;
    # 35.3·2.00156 + 22.4 + 21.3·0.54407 = 70.655 + 22.4 + 11.589 = 104.644 dB (> LOS 85.31).
    assert UMi(FC, 10, 1.5).loss_db(np.array([100.0]), np.array([False]))[0] == pytest.approx(
        104.644, abs=2e-3
    )
    # breakpoints: UMa d'BP = 4·24·0.5·fc/c = 560.39 m; RMa d_BP = 2π·35·1.5·fc/c = 3851.1 m
    assert UMa(FC, 25, 1.5).d_bp == pytest.approx(560.39, abs=0.01)
    assert RMa(FC, 35, 1.5, 5, 20).d_bp == pytest.approx(3851.1, abs=0.1)


def test_nlos_never_below_los_and_monotone_in_distance():
    for model in (UMa(FC, 25, 1.5), UMi(FC, 10, 1.5), RMa(FC, 35, 1.5, 5, 20)):
        d = np.linspace(10, 3000, 500)
        los = model.loss_db(d, np.ones(d.size, bool))
        nlos = model.loss_db(d, np.zeros(d.size, bool))
        assert np.all(nlos >= los - 1e-12)
        assert np.all(np.diff(los) > 0) and np.all(np.diff(nlos) > 0)


def test_los_probability_tables():
    d = np.array([10.0, 18.0, 50.0, 200.0])
    uma = 18 / d + np.exp(-d / 63) * (1 - 18 / d)
    umi = 18 / d + np.exp(-d / 36) * (1 - 18 / d)
    np.testing.assert_allclose(UMa(FC, 25, 1.5).los_probability(d), np.where(d <= 18, 1, uma))
    np.testing.assert_allclose(UMi(FC, 10, 1.5).los_probability(d), np.where(d <= 18, 1, umi))
    np.testing.assert_allclose(
        RMa(FC, 35, 1.5, 5, 20).los_probability(d), np.where(d <= 10, 1, np.exp(-(d - 10) / 1000))
    )


def test_large_scale_draws_los_and_shadowing_by_the_tables():
    from cosim.wireless.config import WirelessConfig
    from cosim.wireless.pathloss import UMaPathLoss
    from cosim.wireless.simulated import draw_large_scale

    n = 20_000
    d = np.full(n, 100.0)
    ls = draw_large_scale(
        WirelessConfig(path_loss=UMaPathLoss(los="auto")), d, np.random.default_rng(1)
    )
    p = 18 / 100 + np.exp(-100 / 63) * (1 - 18 / 100)  # UMa LOS probability at 100 m
    assert abs(ls.los.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    # σ_SF = 4 dB (LOS) and 6 dB (NLOS); 5 SE of a sample std ≈ 5 σ / sqrt(2 n)
    for mask, sigma in ((ls.los, 4.0), (~ls.los, 6.0)):
        x = ls.shadowing_db[mask]
        assert abs(x.std() - sigma) < 5 * sigma / np.sqrt(2 * x.size)
        assert abs(x.mean()) < 5 * sigma / np.sqrt(x.size)
    fixed = draw_large_scale(
        WirelessConfig(path_loss=UMaPathLoss(los="nlos"), shadowing_std_db=0.0), d[:3],
        np.random.default_rng(1),
    )  # fmt: skip
    np.testing.assert_allclose(fixed.shadowing_db, 0.0)
    np.testing.assert_allclose(fixed.path_loss_db, uma_expected(100.0, False))
