"""Free-space (Friis) path loss: config (``model: free_space``), formula and build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cosim.config.checks import check_literals
from cosim.wireless.pathloss.base import SPEED_OF_LIGHT_MPS, PathLossModel, log10, need_carrier


@dataclass(frozen=True)
class FreeSpacePathLoss:
    """Friis free-space loss ``20 log10(4 π d f_c / c)`` [dB]."""

    model: Literal["free_space"] = "free_space"

    def __post_init__(self) -> None:
        check_literals(self)

    def build(self, carrier_hz: float | None) -> FreeSpace:
        """The model at carrier ``carrier_hz`` [Hz] (required)."""
        return FreeSpace(need_carrier(self.model, carrier_hz))


class FreeSpace(PathLossModel):
    """``PL = 20 log10(4 π d f_c / c)`` [dB], d [m], f_c [Hz], c = 299 792 458 m/s."""

    def __init__(self, carrier_hz: float) -> None:
        self.carrier_hz = carrier_hz

    def loss_db(
        self, d2d_m: np.ndarray, los: np.ndarray, env_height_m: np.ndarray | float = 1.0
    ) -> np.ndarray:
        return 20 * log10(4 * np.pi * np.asarray(d2d_m) * self.carrier_hz / SPEED_OF_LIGHT_MPS)
