"""Small-scale fading: unit-power complex Gaussian processes and amplitude distributions."""

from cosim.wireless.fading.amplitude import power_gain
from cosim.wireless.fading.ar1 import GaussMarkovFading
from cosim.wireless.fading.base import GaussianProcess
from cosim.wireless.fading.block import BlockFading
from cosim.wireless.fading.clarke import ClarkeFading
from cosim.wireless.fading.sum_of_sinusoids import SumOfSinusoidsFading

__all__ = [
    "BlockFading",
    "ClarkeFading",
    "GaussMarkovFading",
    "GaussianProcess",
    "SumOfSinusoidsFading",
    "power_gain",
]
