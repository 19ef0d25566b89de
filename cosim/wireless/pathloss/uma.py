"""3GPP TR 38.901 V17 urban macro (UMa): config (``model: uma``), path loss
(Table 7.4.1-1), LOS probability (Table 7.4.2-1) and build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cosim.wireless.pathloss.base import log10, need_carrier
from cosim.wireless.pathloss.tr38901 import TR38901Config, TwoSlopeUrban, urban_los_probability


@dataclass(frozen=True)
class UMaPathLoss(TR38901Config):
    """3GPP TR 38.901 urban macro (Table 7.4.1-1); LOS state fixed or drawn (Table 7.4.2-1).

    Fields: ``los`` (``auto``/``los``/``nlos``), ``bs_height_m`` = 25 in [1, 150],
    ``ut_height_m`` = 1.5 in [1, 22.5] (:class:`~.tr38901.TR38901Config`).
    """

    model: Literal["uma"] = "uma"

    def build(self, carrier_hz: float | None) -> UMa:
        """The model at carrier ``carrier_hz`` [Hz] (required)."""
        return UMa(need_carrier(self.model, carrier_hz), self.bs_height_m, self.ut_height_m)


class UMa(TwoSlopeUrban):
    """UMa, f_c in GHz inside the formulas, distances [m], valid 10 m ≤ d2D ≤ 5 km.

    Breakpoint ``d'BP = 4 h'BS h'UT f_c / c`` with ``h' = h − h_E``.
    LOS: ``PL1 = 28.0 + 22 log10(d3D) + 20 log10(fc)`` for d2D ≤ d'BP, else
    ``PL2 = 28.0 + 40 log10(d3D) + 20 log10(fc) − 9 log10(d'BP² + (hBS − hUT)²)``; σ_SF = 4 dB.
    NLOS: ``max(PL_LOS, 13.54 + 39.08 log10(d3D) + 20 log10(fc) − 0.6 (hUT − 1.5))``; σ_SF = 6 dB.

    LOS probability (Table 7.4.2-1): 1 for d2D ≤ 18 m, else
    ``[18/d2D + exp(−d2D/63) (1 − 18/d2D)] · [1 + C′(h_UT) g(d2D)]`` with
    ``C′ = 0`` for h_UT ≤ 13 m, ``((h_UT − 13)/10)^1.5`` above, and
    ``g = (5/4) (d2D/100)³ exp(−d2D/150)``, capped at 1 (for h_UT > 13 m the
    formula exceeds 1 by up to 0.006 just beyond 18 m).

    Effective environment height h_E (Table 7.4.1-1, note 1): 1 m with probability
    ``1 / (1 + C(d2D, h_UT))``, ``C = C′(h_UT) g(d2D)``, otherwise uniform over
    ``{12, 15, …, h_UT − 1.5}`` m (:meth:`draw_environment_height_m`). With h_UT ≤ 13 m
    (the default 1.5 m) h_E is always 1 m; with 13 m < h_UT < 13.5 m the set is
    empty and h_E stays 1 m.
    """

    intercept_db, los_slope, bp_slope = 28.0, 22.0, 9.0
    uses_env_height = True
    sigma_los_db, sigma_nlos_db = 4.0, 6.0

    def nlos_db(self, d3d_m: np.ndarray) -> np.ndarray:
        return 13.54 + 39.08 * log10(d3d_m) + 20 * log10(self.fc_ghz) - 0.6 * (self.h_ut - 1.5)

    def los_probability(self, d2d_m: np.ndarray) -> np.ndarray:
        height = 1 + uma_height_factor(self.h_ut) * uma_distance_factor(d2d_m)
        return np.minimum(urban_los_probability(d2d_m, 63.0) * height, 1.0)

    def environment_height_choices_m(self) -> np.ndarray:
        """The heights ``{12, 15, …, h_UT − 1.5}`` [m] h_E is drawn from when not 1 m."""
        return np.arange(12.0, self.h_ut - 1.5 + 1e-9, 3.0)

    def draw_environment_height_m(self, d2d_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """h_E [m] per client; draws ``rng.random((2, n))`` only when C > 0 is possible.

        Draw row 0 picks 1 m when ``u < 1 / (1 + C)``; row 1 indexes the choices.
        """
        d = np.asarray(d2d_m, dtype=np.float64)
        choices = self.environment_height_choices_m()
        c = uma_height_factor(self.h_ut) * uma_distance_factor(d)
        if choices.size == 0 or not np.any(c > 0):
            return np.ones(d.shape)
        u = rng.random((2, *d.shape))
        pick = choices[np.minimum((u[1] * choices.size).astype(np.int64), choices.size - 1)]
        return np.where(u[0] < 1 / (1 + c), 1.0, pick)


def uma_height_factor(h_ut_m: float) -> float:
    """``C′(h_UT)``: 0 for h_UT ≤ 13 m, ``((h_UT − 13) / 10)^1.5`` for 13 m < h_UT ≤ 23 m."""
    return 0.0 if h_ut_m <= 13 else ((h_ut_m - 13) / 10) ** 1.5


def uma_distance_factor(d2d_m: np.ndarray) -> np.ndarray:
    """``g(d2D)``: 0 for d2D ≤ 18 m, else ``(5/4) (d2D / 100)³ exp(−d2D / 150)``."""
    d = np.asarray(d2d_m, dtype=np.float64)
    return np.where(d <= 18, 0.0, 1.25 * (d / 100) ** 3 * np.exp(-d / 150))
