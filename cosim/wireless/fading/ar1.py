"""Gauss–Markov (AR(1)) time-correlated fading."""

from __future__ import annotations

import numpy as np
from scipy.special import j0

from cosim.wireless.counter_rng import complex_normal
from cosim.wireless.fading.base import GaussianProcess


class GaussMarkovFading(GaussianProcess):
    """``h[s] = ρ h[s − 1] + sqrt(1 − ρ²) w[s]``, ρ = J0(2π f_d Δt), w ~ CN(0, 1) i.i.d.

    Δt = ``slot_s`` [s], f_d [Hz] per client. The lag-1 correlation equals the
    Clarke value; longer lags decay as ρ^τ rather than J0. Stationary: h[first]
    ~ CN(0, 1). A gap of n unsimulated slots uses the exact n-step transition
    ``h[s + n] = ρ^n h[s] + sqrt(1 − ρ^(2n)) w[s + n]``, so idle time costs
    nothing; innovations are a pure function of (key, slot, client, subband).
    Blocks must be requested in increasing slot order.
    """

    def __init__(self, doppler_hz: np.ndarray, n_subbands: int, slot_s: float, key: int) -> None:
        fd = np.asarray(doppler_hz, dtype=np.float64)
        self.n_clients = int(fd.shape[0])
        self.n_subbands = n_subbands
        self.rho = j0(2 * np.pi * fd * slot_s)[:, None]
        self.key = key
        self._last_slot: int | None = None
        self._last: np.ndarray | None = None

    def _innovations(self, first_slot: int, n_slots: int) -> np.ndarray:
        return complex_normal(
            self.key,
            (first_slot + np.arange(n_slots))[:, None, None],
            np.arange(self.n_clients)[None, :, None],
            np.arange(self.n_subbands)[None, None, :],
        )

    def samples(self, first_slot: int, n_slots: int) -> np.ndarray:
        w = self._innovations(first_slot, n_slots)
        out = np.empty_like(w)
        if self._last is None or self._last_slot is None:
            out[0] = w[0]
        else:
            gap = first_slot - self._last_slot
            if gap < 1:
                raise ValueError(
                    f"AR(1) fading asked for slot {first_slot} after {self._last_slot}"
                )
            rho_n = self.rho**gap
            out[0] = rho_n * self._last + np.sqrt(np.maximum(1 - rho_n**2, 0.0)) * w[0]
        innov = np.sqrt(np.maximum(1 - self.rho**2, 0.0))
        for k in range(1, n_slots):
            out[k] = self.rho * out[k - 1] + innov * w[k]
        self._last_slot = first_slot + n_slots - 1
        self._last = out[-1].copy()
        return out
