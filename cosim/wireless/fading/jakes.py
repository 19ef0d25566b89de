"""Clarke/Jakes time-correlated fading by a sum of sinusoids."""

from __future__ import annotations

import numpy as np

from cosim.wireless.counter_rng import uniform
from cosim.wireless.fading.base import GaussianProcess


class JakesFading(GaussianProcess):
    """Sum of N sinusoids with random arrival angles (Clarke's model):

    ``h(t) = N^(−1/2) Σ_n exp(j (2π f_d cos(α_n) t + φ_n))``, α_n, φ_n ~ U[0, 2π)
    i.i.d. per (client, subband). ``E|h|² = 1`` and the autocorrelation is
    ``E[h(t) h*(t + τ)] = J0(2π f_d τ)`` exactly, averaged over realisations;
    h is close to CN(0, 1) for N ≳ 16. f_d [Hz] is per client (``doppler_hz``
    ``[n_clients]``), t = slot · ``slot_s`` [s]. Values are a pure function of
    the slot, so idle gaps cost nothing.

    Per block, ``h[t0 + k] = Σ_n E[k, c, b, n] · w[c, b, n]`` with the step table
    ``E = exp(j ω k Δt)`` cached per block length and ``w = exp(j (ω t0 + φ))``,
    so the per-slot cost is one complex multiply–add per sinusoid.
    """

    #: Bound on the step table (complex entries; 2**21 = 32 MB); longer blocks go in parts.
    max_table_entries = 2**21

    def __init__(
        self,
        doppler_hz: np.ndarray,
        n_subbands: int,
        slot_s: float,
        key: int,
        num_sinusoids: int = 16,
    ) -> None:
        fd = np.asarray(doppler_hz, dtype=np.float64)
        self.n_clients = int(fd.shape[0])
        self.n_subbands = n_subbands
        self.slot_s = slot_s
        idx = (
            np.arange(self.n_clients)[:, None, None],
            np.arange(n_subbands)[None, :, None],
            np.arange(num_sinusoids)[None, None, :],
        )
        alpha = 2 * np.pi * uniform(key, *idx, 0)
        self.phi = 2 * np.pi * uniform(key, *idx, 1)
        # ω [rad/s], shape [n_clients, n_subbands, N]
        self.omega = 2 * np.pi * fd[:, None, None] * np.cos(alpha)
        self.scale = 1.0 / np.sqrt(num_sinusoids)
        self._table: np.ndarray | None = None

    def _steps(self, n_slots: int) -> np.ndarray:
        if self._table is None or self._table.shape[0] < n_slots:
            k = np.arange(n_slots, dtype=np.float64)[:, None, None, None]
            self._table = np.exp(1j * self.omega[None] * (k * self.slot_s))
        return self._table[:n_slots]

    def samples(self, first_slot: int, n_slots: int) -> np.ndarray:
        rows = max(1, self.max_table_entries // self.omega.size)
        if n_slots > rows:
            parts = [
                self.samples(first_slot + a, min(rows, n_slots - a))
                for a in range(0, n_slots, rows)
            ]
            return np.concatenate(parts)
        t0 = first_slot * self.slot_s
        w = self.scale * np.exp(1j * (self.omega * t0 + self.phi))
        if n_slots == 1:
            return w.sum(axis=-1)[None]
        return np.einsum("kcbn,cbn->kcb", self._steps(n_slots), w)
