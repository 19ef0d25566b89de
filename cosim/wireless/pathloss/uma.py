"""3GPP TR 38.901 V17 urban macro (UMa) path loss, Table 7.4.1-1, and LOS probability."""

from __future__ import annotations

import numpy as np

from cosim.wireless.config import SPEED_OF_LIGHT_MPS
from cosim.wireless.pathloss.base import PathLossModel, d3d, log10


class UMa(PathLossModel):
    """UMa, f_c in GHz inside the formulas, distances [m], valid 10 m ≤ d2D ≤ 5 km.

    Breakpoint ``d'BP = 4 h'BS h'UT f_c / c`` with ``h' = h − 1 m`` (h_E = 1 m, h_UT < 13 m).
    LOS: ``PL1 = 28.0 + 22 log10(d3D) + 20 log10(fc)`` for d2D ≤ d'BP, else
    ``PL2 = 28.0 + 40 log10(d3D) + 20 log10(fc) − 9 log10(d'BP² + (hBS − hUT)²)``; σ_SF = 4 dB.
    NLOS: ``max(PL_LOS, 13.54 + 39.08 log10(d3D) + 20 log10(fc) − 0.6 (hUT − 1.5))``; σ_SF = 6 dB.
    LOS probability (Table 7.4.2-1, h_UT ≤ 13 m): 1 for d2D ≤ 18 m, else
    ``18/d2D + exp(−d2D/63) (1 − 18/d2D)``.
    """

    def __init__(self, carrier_hz: float, bs_height_m: float, ut_height_m: float) -> None:
        self.fc_ghz = carrier_hz / 1e9
        self.h_bs = bs_height_m
        self.h_ut = ut_height_m
        self.d_bp = 4 * (bs_height_m - 1.0) * (ut_height_m - 1.0) * carrier_hz / SPEED_OF_LIGHT_MPS

    def los_db(self, d2d_m: np.ndarray) -> np.ndarray:
        """LOS path loss [dB]."""
        d2 = np.asarray(d2d_m, dtype=np.float64)
        d3 = d3d(d2, self.h_bs, self.h_ut)
        pl1 = 28.0 + 22 * log10(d3) + 20 * log10(self.fc_ghz)
        pl2 = (
            28.0
            + 40 * log10(d3)
            + 20 * log10(self.fc_ghz)
            - 9 * log10(self.d_bp**2 + (self.h_bs - self.h_ut) ** 2)
        )
        return np.where(d2 <= self.d_bp, pl1, pl2)

    def loss_db(self, d2d_m: np.ndarray, los: np.ndarray) -> np.ndarray:
        d3 = d3d(d2d_m, self.h_bs, self.h_ut)
        pl_los = self.los_db(d2d_m)
        pl_nlos = 13.54 + 39.08 * log10(d3) + 20 * log10(self.fc_ghz) - 0.6 * (self.h_ut - 1.5)
        return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))

    def los_probability(self, d2d_m: np.ndarray) -> np.ndarray:
        d = np.maximum(np.asarray(d2d_m, dtype=np.float64), 1e-9)
        p = 18 / d + np.exp(-d / 63) * (1 - 18 / d)
        return np.where(d <= 18, 1.0, p)

    def shadowing_std_db(self, los: np.ndarray) -> np.ndarray:
        return np.where(los, 4.0, 6.0)
