"""3GPP TR 38.901 V17 urban micro street canyon (UMi) path loss, Table 7.4.1-1."""

from __future__ import annotations

import numpy as np

from cosim.wireless.pathloss.base import PathLossModel, d3d, log10
from cosim.wireless.pathloss.tr38901 import breakpoint_m, two_slope_los_db, urban_los_probability


class UMi(PathLossModel):
    """UMi street canyon, f_c in GHz inside the formulas, distances [m].

    Breakpoint ``d'BP = 4 h'BS h'UT f_c / c``, ``h' = h − 1 m`` (h_E = 1 m).
    LOS: ``PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc)`` for d2D ≤ d'BP, else
    ``PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc) − 9.5 log10(d'BP² + (hBS − hUT)²)``; σ_SF = 4.
    NLOS: ``max(PL_LOS, 35.3 log10(d3D) + 22.4 + 21.3 log10(fc) − 0.3 (hUT − 1.5))``; σ_SF = 7.82.
    LOS probability: 1 for d2D ≤ 18 m, else ``18/d2D + exp(−d2D/36) (1 − 18/d2D)``
    (no height term).
    """

    def __init__(self, carrier_hz: float, bs_height_m: float, ut_height_m: float) -> None:
        self.fc_ghz = carrier_hz / 1e9
        self.h_bs = bs_height_m
        self.h_ut = ut_height_m
        self.d_bp = float(breakpoint_m(bs_height_m, ut_height_m, carrier_hz))

    def los_db(self, d2d_m: np.ndarray) -> np.ndarray:
        """LOS path loss [dB]."""
        return two_slope_los_db(
            d2d_m, self.h_bs, self.h_ut, self.fc_ghz, self.d_bp, 32.4, 21.0, 9.5
        )

    def loss_db(
        self, d2d_m: np.ndarray, los: np.ndarray, env_height_m: np.ndarray | float = 1.0
    ) -> np.ndarray:
        d3 = d3d(d2d_m, self.h_bs, self.h_ut)
        pl_los = self.los_db(d2d_m)
        pl_nlos = 35.3 * log10(d3) + 22.4 + 21.3 * log10(self.fc_ghz) - 0.3 * (self.h_ut - 1.5)
        return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))

    def los_probability(self, d2d_m: np.ndarray) -> np.ndarray:
        return urban_los_probability(d2d_m, 36.0)

    def shadowing_std_db(self, los: np.ndarray) -> np.ndarray:
        return np.where(los, 4.0, 7.82)
