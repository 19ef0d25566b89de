"""Free-space (Friis) path loss."""

from __future__ import annotations

import numpy as np

from cosim.wireless.config import SPEED_OF_LIGHT_MPS
from cosim.wireless.pathloss.base import PathLossModel, log10


class FreeSpace(PathLossModel):
    """``PL = 20 log10(4 π d f_c / c)`` [dB], d [m], f_c [Hz], c = 299 792 458 m/s."""

    def __init__(self, carrier_hz: float) -> None:
        self.carrier_hz = carrier_hz

    def loss_db(
        self, d2d_m: np.ndarray, los: np.ndarray, env_height_m: np.ndarray | float = 1.0
    ) -> np.ndarray:
        return 20 * log10(4 * np.pi * np.asarray(d2d_m) * self.carrier_hz / SPEED_OF_LIGHT_MPS)
