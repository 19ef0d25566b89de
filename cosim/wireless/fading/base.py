"""Interface of the time processes behind small-scale fading."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class GaussianProcess(ABC):
    """A CN(0, 1) process per (client, subband), sampled once per slot.

    ``samples(first_slot, n_slots)`` returns complex128 ``[n_slots, n_clients,
    n_subbands]`` with ``E|h|² = 1``. The amplitude distribution (Rayleigh,
    Rician, Nakagami) is applied on top by :func:`~cosim.wireless.fading.power_gain`.
    """

    n_clients: int
    n_subbands: int

    @abstractmethod
    def samples(self, first_slot: int, n_slots: int) -> np.ndarray:
        """Complex gains for slots ``first_slot … first_slot + n_slots − 1``."""
