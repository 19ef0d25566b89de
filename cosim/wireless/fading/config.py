"""Configuration of small-scale fading (``wireless.fading`` in a scenario).

:func:`cosim.wireless.fading.make_process` builds the time process
``correlation`` names; :func:`cosim.wireless.fading.power_gain` applies the
amplitude ``distribution``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cosim.config.checks import (
    check_int_range,
    check_literals,
    check_non_negative,
    check_positive,
    check_range,
)


@dataclass(frozen=True)
class FadingConfig:
    """Small-scale fading: amplitude distribution and its evolution in time.

    ``distribution``: ``rayleigh``; ``rician`` with K factor ``k_db``;
    ``nakagami`` with shape ``m`` (>= 0.5); ``none`` (unit gain).
    ``correlation``: ``block`` (i.i.d. per block of ``block_s``, default one
    slot), ``jakes`` (Clarke/Jakes Doppler spectrum, exactly Gaussian: filtered
    noise with autocorrelation J0(2π f_d τ) under a 16-cycle Gaussian window,
    :class:`cosim.wireless.fading.ClarkeFading`), ``sum_of_sinusoids`` (the
    classic simulator with ``num_sinusoids`` sinusoids, odd N advised; E|h|⁴ = 2 − 1/N, not
    Rayleigh) or ``ar1`` (Gauss-Markov, ρ = J0(2π f_d Δt)). The maximum Doppler
    f_d [Hz] is ``doppler_hz`` if set, else per client
    ``f_d = sqrt((v · carrier_hz / c)² + environment_doppler_hz²)``: the
    client's own motion and the scatterers' (which keeps a client at speed 0
    from seeing a frozen channel; 0 turns it off). Root-sum-square because the
    Doppler spreads of independent motions add in variance.
    ``subbands`` splits the resource blocks into that many independently faded
    frequency blocks (1 = frequency-flat).
    """

    distribution: Literal["rayleigh", "rician", "nakagami", "none"] = "rayleigh"
    k_db: float = 6.0
    m: float = 2.0
    correlation: Literal["block", "jakes", "sum_of_sinusoids", "ar1"] = "jakes"
    block_s: float | None = None
    num_sinusoids: int = 17
    doppler_hz: float | None = None
    environment_doppler_hz: float = 3.0
    subbands: int = 1

    def __post_init__(self) -> None:
        check_literals(self)
        check_range("k_db", self.k_db, -40.0, 40.0)
        check_range("m", self.m, 0.5, 100.0)
        if self.block_s is not None:
            check_positive("block_s", self.block_s)
        check_int_range("num_sinusoids", self.num_sinusoids, 4, 256)
        if self.doppler_hz is not None:
            check_non_negative("doppler_hz", self.doppler_hz)
        check_range("environment_doppler_hz", self.environment_doppler_hz, 0.0, 1000.0)
        check_int_range("subbands", self.subbands, 1)
