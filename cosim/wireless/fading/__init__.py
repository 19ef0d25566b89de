"""Small-scale fading: unit-power complex Gaussian processes and amplitude distributions."""

from cosim.wireless.fading.amplitude import power_gain
from cosim.wireless.fading.ar1 import GaussMarkovFading
from cosim.wireless.fading.base import GaussianProcess
from cosim.wireless.fading.block import BlockFading
from cosim.wireless.fading.jakes import JakesFading

__all__ = ["BlockFading", "GaussMarkovFading", "GaussianProcess", "JakesFading", "power_gain"]
