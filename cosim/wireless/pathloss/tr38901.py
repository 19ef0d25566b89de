"""What the 3GPP TR 38.901 V17 models (UMa, UMi street canyon, RMa) share.

Table 7.4.1-1 (path loss) and Table 7.4.2-1 (LOS probability); f_c in GHz
inside the formulas, distances and heights in metres. The configs' common
fields (``los``, antenna heights) are declared and checked here too
(:class:`TR38901Config`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from cosim.config.checks import check_literals, check_range
from cosim.wireless.pathloss.base import SPEED_OF_LIGHT_MPS, PathLossModel, d3d, log10

#: LOS state of a TR 38.901 config: drawn per client with the model's LOS probability,
#: or fixed.
LosMode = Literal["auto", "los", "nlos"]


@dataclass(frozen=True)
class TR38901Config:
    """The fields every TR 38.901 config shares (``wireless.path_loss``).

    ``model`` is a one-value ``Literal`` in each subclass (the YAML
    discriminator; a subclass's own defaults keep this field order). ``los``:
    drawn per client (``auto``) or fixed. Heights [m]: base station
    ``bs_height_m`` in [1, 150], client ``ut_height_m`` in [1, ``ut_max_m``].
    """

    model: str = ""
    los: LosMode = "auto"
    bs_height_m: float = 25.0
    ut_height_m: float = 1.5
    ut_max_m: ClassVar[float] = 22.5

    def __post_init__(self) -> None:
        check_literals(self)
        check_range("bs_height_m", self.bs_height_m, 1.0, 150.0)
        check_range("ut_height_m", self.ut_height_m, 1.0, self.ut_max_m)


class TR38901PathLoss(PathLossModel):
    """LOS and NLOS formulas of one scenario: ``PL_NLOS = max(PL_LOS, PL'_NLOS)``.

    Subclasses give :meth:`los_db`, :meth:`nlos_db` (PL'_NLOS) and the shadowing
    standard deviations σ_SF [dB] in LOS and NLOS.
    """

    sigma_los_db: ClassVar[float]
    sigma_nlos_db: ClassVar[float]
    h_bs: float
    h_ut: float

    @abstractmethod
    def los_db(self, d2d_m: np.ndarray, env_height_m: np.ndarray | float = 1.0) -> np.ndarray:
        """LOS path loss [dB]."""

    @abstractmethod
    def nlos_db(self, d3d_m: np.ndarray) -> np.ndarray:
        """The NLOS formula PL'_NLOS [dB] of the 3-D distance, before the max with LOS."""

    def loss_db(
        self, d2d_m: np.ndarray, los: np.ndarray, env_height_m: np.ndarray | float = 1.0
    ) -> np.ndarray:
        pl_los = self.los_db(d2d_m, env_height_m)
        pl_nlos = self.nlos_db(d3d(d2d_m, self.h_bs, self.h_ut))
        return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))

    def shadowing_std_db(self, los: np.ndarray) -> np.ndarray:
        return np.where(los, self.sigma_los_db, self.sigma_nlos_db)


class TwoSlopeUrban(TR38901PathLoss):
    """UMa and UMi street canyon: the two-slope LOS formula around the breakpoint d'BP.

    ``PL1 = A + B log10(d3D) + 20 log10(fc)`` for d2D ≤ d'BP, else
    ``PL2 = A + 40 log10(d3D) + 20 log10(fc) − C log10(d'BP² + (hBS − hUT)²)``
    (:func:`two_slope_los_db`); A = ``intercept_db``, B = ``los_slope``,
    C = ``bp_slope``. ``uses_env_height``: d'BP follows the drawn h_E (UMa) or
    takes h_E = 1 m (UMi).
    """

    intercept_db: ClassVar[float]
    los_slope: ClassVar[float]
    bp_slope: ClassVar[float]
    uses_env_height: ClassVar[bool] = False

    def __init__(self, carrier_hz: float, bs_height_m: float, ut_height_m: float) -> None:
        self.carrier_hz = carrier_hz
        self.fc_ghz = carrier_hz / 1e9
        self.h_bs = bs_height_m
        self.h_ut = ut_height_m
        #: Breakpoint [m] for h_E = 1 m.
        self.d_bp = float(breakpoint_m(bs_height_m, ut_height_m, carrier_hz))

    def los_db(self, d2d_m: np.ndarray, env_height_m: np.ndarray | float = 1.0) -> np.ndarray:
        d_bp = (
            breakpoint_m(self.h_bs, self.h_ut, self.carrier_hz, env_height_m)
            if self.uses_env_height
            else self.d_bp
        )
        return two_slope_los_db(
            d2d_m, self.h_bs, self.h_ut, self.fc_ghz, d_bp,
            self.intercept_db, self.los_slope, self.bp_slope,
        )  # fmt: skip


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
