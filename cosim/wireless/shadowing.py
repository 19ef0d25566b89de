"""Log-normal shadowing."""

from __future__ import annotations

import numpy as np


class LogNormalShadowing:
    """Shadow fading ``X [dB] ~ N(0, σ²)``, one draw per client for the whole run.

    The linear gain ``10^(−X/10)`` is log-normal. σ [dB] is per client (it may
    depend on the client's LOS state, as in TR 38.901 Table 7.4.1-1); σ = 0
    disables shadowing. Clients are independent (no spatial correlation).
    """

    def __init__(self, std_db: np.ndarray) -> None:
        self.std_db = np.asarray(std_db, dtype=np.float64)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """Shadowing loss per client [dB], shape ``[n_clients]``."""
        return self.std_db * rng.standard_normal(self.std_db.shape)
