"""Gauss–Markov (AR(1)) time-correlated fading."""

from __future__ import annotations

import numpy as np

from cosim.wireless.counter_rng import complex_normal
from cosim.wireless.fading.base import GaussianProcess


class GaussMarkovFading(GaussianProcess):
    """``h[s] = ρ h[s − 1] + sqrt(1 − ρ²) w[s]``, ρ = J0(2π f_d Δt), w ~ CN(0, 1) i.i.d.

    Δt = ``slot_s`` [s], f_d [Hz] per client. The lag-1 correlation equals the
    Clarke value; longer lags decay as ρ^τ rather than J0. Stationary: h[0] ~ CN(0, 1).

    Values are a pure function of (key, slot, client, subband), whatever slots
    are asked for and in what batches — needed for common random numbers
    across methods, exact record/replay and exact resume — while idle time
    stays cheap. The process is built on a grid of ``G = grid_slots`` slots:

    * grid states follow the exact G-step chain
      ``h[G(m+1)] = ρ^G h[Gm] + sqrt(1 − ρ^(2G)) u[m]`` (one step per G slots of
      idle time);
    * inside block m a forward AR(1) path x from ``h[Gm]`` is drawn with
      per-slot innovations and bridged to the next grid state (Gaussian
      conditioning, exact): ``h[Gm + k] = x[k] + ρ^(G−k) (1 − ρ^(2k)) /
      (1 − ρ^(2G)) · (h[G(m+1)] − x[G])``, since Cov(x[k], x[G] | x[0]) =
      ρ^(G−k)(1 − ρ^(2k)) and Var(x[G] | x[0]) = 1 − ρ^(2G).

    The joint law is that of the AR(1) process above.
    """

    grid_slots = 256

    def __init__(self, doppler_hz: np.ndarray, n_subbands: int, slot_s: float, key: int) -> None:
        fd = np.asarray(doppler_hz, dtype=np.float64)
        self.n_clients = int(fd.shape[0])
        self.n_subbands = n_subbands
        from scipy.special import j0  # slow to import: only when this model is used

        self.rho = j0(2 * np.pi * fd * slot_s)[:, None]
        self.key = key
        G = self.grid_slots
        # Integer exponents: ρ = J0(·) is negative for f_d Δt > 0.383.
        k = np.arange(G + 1)[:, None, None]
        rho = self.rho[None]
        rho_g = self.rho**G
        denom = np.maximum(1 - rho_g**2, 1e-300)
        # Bridge weights [G + 1, n_clients, 1]; zero at k = 0, one at k = G.
        self._bridge = rho ** (G - k) * (1 - rho ** (2 * k)) / denom
        self._rho_g = rho_g
        self._grid_innov = np.sqrt(np.maximum(1 - rho_g**2, 0.0))
        self._grid_m = -1
        self._grid_state: np.ndarray | None = None
        self._blocks: dict[int, np.ndarray] = {}

    def _normals(self, stream: int, slots: np.ndarray) -> np.ndarray:
        return complex_normal(
            self.key,
            slots[:, None, None],
            np.arange(self.n_clients)[None, :, None],
            np.arange(self.n_subbands)[None, None, :],
            stream,
        )

    def _grid(self, m: int) -> np.ndarray:
        """``h[G m]`` [n_clients, n_subbands], stepping the grid chain forward (or restarting)."""
        if self._grid_state is None or m < self._grid_m:
            self._grid_m = 0
            self._grid_state = self._normals(1, np.array([0]))[0]
        while self._grid_m < m:
            u = self._normals(2, np.array([self._grid_m]))[0]
            self._grid_state = self._rho_g * self._grid_state + self._grid_innov * u
            self._grid_m += 1
        return self._grid_state

    def _block(self, m: int) -> np.ndarray:
        """``h[Gm … Gm + G − 1]`` [G, n_clients, n_subbands] (cached)."""
        if m in self._blocks:
            return self._blocks[m]
        G = self.grid_slots
        start = self._grid(m).copy()
        end = self._grid(m + 1)
        w = self._normals(0, G * m + np.arange(1, G + 1))
        innov = np.sqrt(np.maximum(1 - self.rho**2, 0.0))
        x = np.empty((G + 1, *start.shape), dtype=np.complex128)
        x[0] = start
        for k in range(1, G + 1):
            x[k] = self.rho * x[k - 1] + innov * w[k - 1]
        h = x + self._bridge * (end - x[G])[None]
        if len(self._blocks) >= 4:
            self._blocks.pop(next(iter(self._blocks)))
        self._blocks[m] = h[:G]
        return self._blocks[m]

    def samples(self, first_slot: int, n_slots: int) -> np.ndarray:
        G = self.grid_slots
        stop = first_slot + n_slots
        blocks = [self._block(m) for m in range(first_slot // G, (stop - 1) // G + 1)]
        out = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        offset = (first_slot // G) * G
        return out[first_slot - offset : stop - offset]
