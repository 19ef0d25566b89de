"""Amplitude distributions of small-scale fading, applied to a CN(0, 1) process."""

from __future__ import annotations

import numpy as np

from cosim.wireless.counter_rng import uniform


def power_gain(
    h: np.ndarray,
    distribution: str,
    k_db: float = 0.0,
    m: float = 1.0,
    los_key: int = 0,
) -> np.ndarray:
    """Power gain g = |channel|² with ``E[g] = 1`` from CN(0, 1) samples ``h`` ``[n, C, B]``.

    * ``rayleigh``: ``g = |h|²`` ~ Exp(1); outage ``P(g < x) = 1 − exp(−x)``.
    * ``rician``: ``g = |sqrt(K/(K+1)) e^{jθ} + sqrt(1/(K+1)) h|²``, K = 10^(k_db/10),
      a static LOS phase θ ~ U[0, 2π) per (client, subband) from ``los_key``;
      ``E[g²] = (2 + 4K + K²) / (K + 1)²``.
    * ``nakagami``: ``g = P⁻¹(m, 1 − exp(−|h|²)) / m`` (P⁻¹: inverse regularised lower
      incomplete gamma), which maps Exp(1) onto Gamma(m, 1/m) quantile by quantile
      and keeps the time correlation's ordering; ``E[g²] = 1 + 1/m``.
    * ``none``: ``g = 1``.
    """
    if distribution == "rayleigh":
        return h.real**2 + h.imag**2
    if distribution == "rician":
        k = 10 ** (k_db / 10)
        n_c, n_b = h.shape[1], h.shape[2]
        theta = 2 * np.pi * uniform(los_key, np.arange(n_c)[:, None], np.arange(n_b)[None, :])
        los = np.sqrt(k / (k + 1)) * np.exp(1j * theta)
        z = los[None] + np.sqrt(1 / (k + 1)) * h
        return z.real**2 + z.imag**2
    if distribution == "nakagami":
        from scipy.special import gammainccinv  # slow to import: only when needed

        p = h.real**2 + h.imag**2
        # Q⁻¹(m, e^{−p}) = P⁻¹(m, 1 − e^{−p}) without rounding 1 − e^{−p} to 1 in the tail
        return gammainccinv(m, np.exp(-p)) / m
    if distribution == "none":
        return np.ones(h.shape, dtype=np.float64)
    raise ValueError(f"unknown fading distribution {distribution!r}")
