"""Common interface of the large-scale path-loss models."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class PathLossModel(ABC):
    """Distance-dependent loss, LOS probability and shadowing spread of one model.

    All methods take 2-D base-station–client distances ``d2d_m`` [m], shape
    ``[n_clients]``, and return arrays of the same shape.
    """

    @abstractmethod
    def loss_db(
        self, d2d_m: np.ndarray, los: np.ndarray, env_height_m: np.ndarray | float = 1.0
    ) -> np.ndarray:
        """Path loss [dB] for each client in LOS (``los`` True) or NLOS.

        ``env_height_m`` is TR 38.901's effective environment height h_E [m] per
        client; only UMa uses it (the other models ignore it).
        """

    def los_probability(self, d2d_m: np.ndarray) -> np.ndarray:
        """Probability that a client at ``d2d_m`` is in line of sight (1 by default)."""
        return np.ones_like(np.asarray(d2d_m, dtype=np.float64))

    def draw_environment_height_m(self, d2d_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Effective environment height h_E [m] per client: 1 m, drawing nothing (UMa overrides)."""
        return np.ones(np.shape(d2d_m))

    def shadowing_std_db(self, los: np.ndarray) -> np.ndarray:
        """Default log-normal shadowing standard deviation [dB] (0 by default)."""
        return np.zeros(np.shape(los))


def log10(x: np.ndarray | float) -> np.ndarray:
    """``numpy.log10`` on float64 arrays (short alias for the formulas)."""
    return np.log10(np.asarray(x, dtype=np.float64))


def d3d(d2d_m: np.ndarray, h_bs_m: float, h_ut_m: float) -> np.ndarray:
    """3-D distance ``sqrt(d2D² + (h_BS − h_UT)²)`` [m]."""
    d = np.asarray(d2d_m, dtype=np.float64)
    return np.sqrt(d**2 + (h_bs_m - h_ut_m) ** 2)
