"""Formulas the 3GPP TR 38.901 V17 urban models (UMa, UMi street canyon) share.

Table 7.4.1-1 (path loss) and Table 7.4.2-1 (LOS probability); f_c in GHz
inside the formulas, distances and heights in metres.
"""

from __future__ import annotations

import numpy as np

from cosim.wireless.config import SPEED_OF_LIGHT_MPS
from cosim.wireless.pathloss.base import d3d, log10


def breakpoint_m(
    h_bs_m: float, h_ut_m: float, carrier_hz: float, env_height_m: np.ndarray | float = 1.0
) -> np.ndarray:
    """``d'BP = 4 h'BS h'UT f_c / c`` [m] with ``h' = h − h_E`` (f_c [Hz])."""
    h_e = np.asarray(env_height_m, dtype=np.float64)
    return 4 * (h_bs_m - h_e) * (h_ut_m - h_e) * carrier_hz / SPEED_OF_LIGHT_MPS


def two_slope_los_db(
    d2d_m: np.ndarray,
    h_bs_m: float,
    h_ut_m: float,
    fc_ghz: float,
    d_bp_m: np.ndarray | float,
    intercept_db: float,
    slope: float,
    bp_slope: float,
) -> np.ndarray:
    """LOS path loss [dB] on both sides of the breakpoint ``d'BP``.

    ``PL1 = A + B log10(d3D) + 20 log10(fc)`` for 10 m ≤ d2D ≤ d'BP, else
    ``PL2 = A + 40 log10(d3D) + 20 log10(fc) − C log10(d'BP² + (hBS − hUT)²)``;
    UMa: A = 28.0, B = 22, C = 9; UMi: A = 32.4, B = 21, C = 9.5.
    """
    d2 = np.asarray(d2d_m, dtype=np.float64)
    d3 = d3d(d2, h_bs_m, h_ut_m)
    pl1 = intercept_db + slope * log10(d3) + 20 * log10(fc_ghz)
    pl2 = (
        intercept_db
        + 40 * log10(d3)
        + 20 * log10(fc_ghz)
        - bp_slope * log10(np.asarray(d_bp_m) ** 2 + (h_bs_m - h_ut_m) ** 2)
    )
    return np.where(d2 <= d_bp_m, pl1, pl2)


def urban_los_probability(d2d_m: np.ndarray, decay_m: float) -> np.ndarray:
    """``1`` for d2D ≤ 18 m, else ``18/d2D + exp(−d2D/decay) (1 − 18/d2D)``.

    decay = 63 m (UMa, before its height term) or 36 m (UMi street canyon).
    """
    d = np.maximum(np.asarray(d2d_m, dtype=np.float64), 1e-9)
    p = 18 / d + np.exp(-d / decay_m) * (1 - 18 / d)
    return np.where(d <= 18, 1.0, p)


def uma_height_factor(h_ut_m: float) -> float:
    """``C′(h_UT)``: 0 for h_UT ≤ 13 m, ``((h_UT − 13) / 10)^1.5`` for 13 m < h_UT ≤ 23 m."""
    return 0.0 if h_ut_m <= 13 else ((h_ut_m - 13) / 10) ** 1.5


def uma_distance_factor(d2d_m: np.ndarray) -> np.ndarray:
    """``g(d2D)``: 0 for d2D ≤ 18 m, else ``(5/4) (d2D / 100)³ exp(−d2D / 150)``."""
    d = np.asarray(d2d_m, dtype=np.float64)
    return np.where(d <= 18, 0.0, 1.25 * (d / 100) ** 3 * np.exp(-d / 150))
