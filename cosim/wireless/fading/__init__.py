"""Small-scale fading: unit-power complex Gaussian processes and amplitude distributions.

One process per file (``block.py``, ``clarke.py``, ``sum_of_sinusoids.py``,
``ar1.py``), the amplitude distributions in ``amplitude.py``, the scenario's
``wireless.fading`` section in ``config.py`` (:class:`FadingConfig`), and
:func:`make_process`, which builds the process its ``correlation`` names.
"""

from __future__ import annotations

import numpy as np

from cosim.wireless.fading.amplitude import power_gain
from cosim.wireless.fading.ar1 import GaussMarkovFading
from cosim.wireless.fading.base import GaussianProcess
from cosim.wireless.fading.block import BlockFading
from cosim.wireless.fading.clarke import ClarkeFading
from cosim.wireless.fading.config import FadingConfig
from cosim.wireless.fading.sum_of_sinusoids import SumOfSinusoidsFading

__all__ = [
    "BlockFading",
    "ClarkeFading",
    "FadingConfig",
    "GaussMarkovFading",
    "GaussianProcess",
    "SumOfSinusoidsFading",
    "make_process",
    "power_gain",
]


def make_process(
    fading: FadingConfig, fd_hz: np.ndarray, slot_s: float, key: int
) -> GaussianProcess:
    """The time process ``fading.correlation`` names, for maximum Dopplers ``fd_hz`` [Hz]
    per client, slots of ``slot_s`` [s] and counter-RNG ``key``."""
    n_c, n_b = int(fd_hz.shape[0]), fading.subbands
    if fading.correlation == "jakes":
        return ClarkeFading(fd_hz, n_b, slot_s, key)
    if fading.correlation == "sum_of_sinusoids":
        return SumOfSinusoidsFading(fd_hz, n_b, slot_s, key, fading.num_sinusoids)
    if fading.correlation == "ar1":
        return GaussMarkovFading(fd_hz, n_b, slot_s, key)
    block_slots = 1 if fading.block_s is None else max(1, round(fading.block_s / slot_s))
    return BlockFading(n_c, n_b, block_slots, key)
