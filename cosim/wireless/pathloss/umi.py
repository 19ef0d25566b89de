"""3GPP TR 38.901 V17 urban micro street canyon (UMi): config (``model: umi``), path loss
(Table 7.4.1-1), LOS probability (Table 7.4.2-1) and build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cosim.wireless.pathloss.base import log10, need_carrier
from cosim.wireless.pathloss.tr38901 import TR38901Config, TwoSlopeUrban, urban_los_probability


@dataclass(frozen=True)
class UMiPathLoss(TR38901Config):
    """3GPP TR 38.901 urban micro street canyon (Table 7.4.1-1).

    Fields: ``los`` (``auto``/``los``/``nlos``), ``bs_height_m`` = 10 in [1, 150],
    ``ut_height_m`` = 1.5 in [1, 22.5] (:class:`~.tr38901.TR38901Config`).
    """

    model: Literal["umi"] = "umi"
    bs_height_m: float = 10.0

    def build(self, carrier_hz: float | None) -> UMi:
        """The model at carrier ``carrier_hz`` [Hz] (required)."""
        return UMi(need_carrier(self.model, carrier_hz), self.bs_height_m, self.ut_height_m)


class UMi(TwoSlopeUrban):
    """UMi street canyon, f_c in GHz inside the formulas, distances [m].

    Breakpoint ``d'BP = 4 h'BS h'UT f_c / c``, ``h' = h − 1 m`` (h_E = 1 m).
    LOS: ``PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc)`` for d2D ≤ d'BP, else
    ``PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc) − 9.5 log10(d'BP² + (hBS − hUT)²)``; σ_SF = 4.
    NLOS: ``max(PL_LOS, 35.3 log10(d3D) + 22.4 + 21.3 log10(fc) − 0.3 (hUT − 1.5))``; σ_SF = 7.82.
    LOS probability: 1 for d2D ≤ 18 m, else ``18/d2D + exp(−d2D/36) (1 − 18/d2D)``
    (no height term).
    """

    intercept_db, los_slope, bp_slope = 32.4, 21.0, 9.5
    sigma_los_db, sigma_nlos_db = 4.0, 7.82

    def nlos_db(self, d3d_m: np.ndarray) -> np.ndarray:
        return 35.3 * log10(d3d_m) + 22.4 + 21.3 * log10(self.fc_ghz) - 0.3 * (self.h_ut - 1.5)

    def los_probability(self, d2d_m: np.ndarray) -> np.ndarray:
        return urban_los_probability(d2d_m, 36.0)
