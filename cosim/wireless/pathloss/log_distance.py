"""Log-distance path loss with a configurable exponent: config (``model: log_distance``),
formula and build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cosim.config.checks import check_literals, check_positive, check_range
from cosim.wireless.pathloss.base import PathLossModel, log10
from cosim.wireless.pathloss.free_space import FreeSpace


@dataclass(frozen=True)
class LogDistancePathLoss:
    """``PL(d) = PL(d0) + 10 n log10(d / d0)`` [dB].

    ``reference_loss_db`` is PL(d0); ``None`` takes free-space loss at d0
    (which then needs ``carrier_hz``).
    """

    model: Literal["log_distance"] = "log_distance"
    exponent: float = 3.5
    reference_distance_m: float = 1.0
    reference_loss_db: float | None = None

    def __post_init__(self) -> None:
        check_literals(self)
        check_range("exponent", self.exponent, 1.0, 8.0)
        check_positive("reference_distance_m", self.reference_distance_m)
        if self.reference_loss_db is not None:
            check_range("reference_loss_db", self.reference_loss_db, 0.0, 200.0)

    def build(self, carrier_hz: float | None) -> LogDistance:
        """The model; ``carrier_hz`` [Hz] is needed only without ``reference_loss_db``."""
        return LogDistance(
            self.exponent, self.reference_distance_m, self.reference_loss_db, carrier_hz
        )


class LogDistance(PathLossModel):
    """``PL(d) = PL(d0) + 10 n log10(d / d0)`` [dB].

    ``PL(d0)`` is ``reference_loss_db`` or, when ``None``, the free-space loss at
    ``d0`` for ``carrier_hz``. Distances below ``d0`` are clamped to ``d0``.
    """

    def __init__(
        self,
        exponent: float,
        reference_distance_m: float,
        reference_loss_db: float | None,
        carrier_hz: float | None,
    ) -> None:
        self.exponent = exponent
        self.d0 = reference_distance_m
        if reference_loss_db is None:
            if carrier_hz is None:
                raise ValueError("log-distance path loss needs reference_loss_db or carrier_hz")
            ref = FreeSpace(carrier_hz).loss_db(np.array([self.d0]), np.array([True]))
            reference_loss_db = float(ref[0])
        self.pl0_db = reference_loss_db

    def loss_db(
        self, d2d_m: np.ndarray, los: np.ndarray, env_height_m: np.ndarray | float = 1.0
    ) -> np.ndarray:
        d = np.maximum(np.asarray(d2d_m, dtype=np.float64), self.d0)
        return self.pl0_db + 10 * self.exponent * log10(d / self.d0)
