"""Common interface of the large-scale path-loss models and the pieces their configs share.

Each model file (``free_space.py``, ``log_distance.py``, ``uma.py``, ``umi.py``,
``rma.py``) holds the model's config dataclass (the scenario's
``wireless.path_loss`` mapping, with ``model:`` naming it), its formulas and its
registration: the config's ``build(carrier_hz)`` returns the model, and
:mod:`cosim.wireless.pathloss` lists the configs in ``PATH_LOSS_MODELS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

#: Speed of light in vacuum c [m/s] (exact by the SI definition of the metre).
SPEED_OF_LIGHT_MPS = 299_792_458.0


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


def need_carrier(model: str, carrier_hz: float | None) -> float:
    """``carrier_hz``, or ValueError when a carrier-dependent model has none.

    Scenario validation (``WirelessConfig``) reports this first, naming the field.
    """
    if carrier_hz is None:
        raise ValueError(f"path loss model {model!r} needs carrier_hz")
    return carrier_hz


def log10(x: np.ndarray | float) -> np.ndarray:
    """``numpy.log10`` on float64 arrays (short alias for the formulas)."""
    return np.log10(np.asarray(x, dtype=np.float64))


def d3d(d2d_m: np.ndarray, h_bs_m: float, h_ut_m: float) -> np.ndarray:
    """3-D distance ``sqrt(d2D² + (h_BS − h_UT)²)`` [m]."""
    d = np.asarray(d2d_m, dtype=np.float64)
    return np.sqrt(d**2 + (h_bs_m - h_ut_m) ** 2)
