"""3GPP TR 38.901 V17 rural macro (RMa): config (``model: rma``), path loss
(Table 7.4.1-1), LOS probability (Table 7.4.2-1) and build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from cosim.config.checks import check_range
from cosim.wireless.pathloss.base import SPEED_OF_LIGHT_MPS, d3d, log10, need_carrier
from cosim.wireless.pathloss.tr38901 import TR38901Config, TR38901PathLoss


@dataclass(frozen=True)
class RMaPathLoss(TR38901Config):
    """3GPP TR 38.901 rural macro (Table 7.4.1-1).

    Fields: ``los`` (``auto``/``los``/``nlos``), heights [m]: base station
    ``bs_height_m`` = 35 in [1, 150], client ``ut_height_m`` = 1.5 in [1, 10],
    buildings ``building_height_m`` = 5 in [5, 50]; ``street_width_m`` = 20 in
    [5, 50] m.
    """

    model: Literal["rma"] = "rma"
    bs_height_m: float = 35.0
    building_height_m: float = 5.0
    street_width_m: float = 20.0
    ut_max_m: ClassVar[float] = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("building_height_m", self.building_height_m, 5.0, 50.0)
        check_range("street_width_m", self.street_width_m, 5.0, 50.0)

    def build(self, carrier_hz: float | None) -> RMa:
        """The model at carrier ``carrier_hz`` [Hz] (required)."""
        return RMa(
            need_carrier(self.model, carrier_hz),
            self.bs_height_m, self.ut_height_m, self.building_height_m, self.street_width_m,
        )  # fmt: skip


class RMa(TR38901PathLoss):
    """RMa, f_c in GHz inside the formulas, distances [m], h = building height, W = street width.

    Breakpoint ``d_BP = 2 π hBS hUT f_c / c`` (f_c [Hz]).
    ``PL1(d) = 20 log10(40 π d fc / 3) + min(0.03 h^1.72, 10) log10(d)
    − min(0.044 h^1.72, 14.77) + 0.002 log10(h) d`` with d = d3D;
    LOS: PL1 for d2D ≤ d_BP, else ``PL1(d_BP) + 40 log10(d3D / d_BP)``; σ_SF = 4 dB (the
    standard's 6 dB beyond d_BP is not modelled).
    NLOS: ``max(PL_LOS, 161.04 − 7.1 log10(W) + 7.5 log10(h) − (24.37 − 3.7 (h/hBS)²) log10(hBS)
    + (43.42 − 3.1 log10(hBS)) (log10(d3D) − 3) + 20 log10(fc)
    − (3.2 (log10(11.75 hUT))² − 4.97))``; σ_SF = 8 dB.
    LOS probability: 1 for d2D ≤ 10 m, else ``exp(−(d2D − 10) / 1000)``.
    """

    sigma_los_db, sigma_nlos_db = 4.0, 8.0

    def __init__(
        self,
        carrier_hz: float,
        bs_height_m: float,
        ut_height_m: float,
        building_height_m: float,
        street_width_m: float,
    ) -> None:
        self.fc_ghz = carrier_hz / 1e9
        self.h_bs = bs_height_m
        self.h_ut = ut_height_m
        self.h = building_height_m
        self.w = street_width_m
        self.d_bp = 2 * np.pi * bs_height_m * ut_height_m * carrier_hz / SPEED_OF_LIGHT_MPS

    def _pl1(self, d: np.ndarray) -> np.ndarray:
        h = self.h
        return (
            20 * log10(40 * np.pi * d * self.fc_ghz / 3)
            + min(0.03 * h**1.72, 10.0) * log10(d)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * np.log10(h) * d
        )

    def los_db(self, d2d_m: np.ndarray, env_height_m: np.ndarray | float = 1.0) -> np.ndarray:
        """LOS path loss [dB] (h_E is not used)."""
        d2 = np.asarray(d2d_m, dtype=np.float64)
        d3 = d3d(d2, self.h_bs, self.h_ut)
        pl2 = self._pl1(np.asarray(self.d_bp)) + 40 * log10(d3 / self.d_bp)
        return np.where(d2 <= self.d_bp, self._pl1(d3), pl2)

    def nlos_db(self, d3d_m: np.ndarray) -> np.ndarray:
        h, w, hbs = self.h, self.w, self.h_bs
        return (
            161.04
            - 7.1 * np.log10(w)
            + 7.5 * np.log10(h)
            - (24.37 - 3.7 * (h / hbs) ** 2) * np.log10(hbs)
            + (43.42 - 3.1 * np.log10(hbs)) * (log10(d3d_m) - 3)
            + 20 * log10(self.fc_ghz)
            - (3.2 * np.log10(11.75 * self.h_ut) ** 2 - 4.97)
        )

    def los_probability(self, d2d_m: np.ndarray) -> np.ndarray:
        d = np.asarray(d2d_m, dtype=np.float64)
        return np.where(d <= 10, 1.0, np.exp(-(d - 10) / 1000))
