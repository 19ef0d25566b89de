"""Channel contract: a slot's fading value never depends on how slots are requested.

Common random numbers across methods, exact record/replay and exact resume
all rest on it: runs that ask for different slot ranges (different transfers,
idle gaps) must see bit-identical values wherever they overlap.
"""

from __future__ import annotations

import numpy as np
import pytest

from cosim.wireless.fading.ar1 import GaussMarkovFading
from cosim.wireless.fading.clarke import ClarkeFading
from cosim.wireless.fading.sum_of_sinusoids import SumOfSinusoidsFading


def _chunked(model, total: int, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts, slot = {}, 0
    while slot < total:
        n = min(int(rng.integers(1, 700)), total - slot)
        parts[slot] = model.samples(slot, n)
        slot += n + int(rng.integers(0, 900))  # idle gaps are skipped
    return parts


@pytest.mark.parametrize(
    "make",
    [
        lambda: ClarkeFading(np.array([2.0, 90.0, 400.0, 0.0, 3000.0]), 2, 1e-3, key=11),
        lambda: SumOfSinusoidsFading(np.array([2.0, 90.0, 400.0]), 2, 1e-3, key=11),
        lambda: GaussMarkovFading(np.array([2.0, 90.0, 400.0]), 2, 1e-3, key=11),
    ],
    ids=["jakes", "sum_of_sinusoids", "ar1"],
)
def test_values_are_a_pure_function_of_the_slot(make) -> None:
    reference = make().samples(0, 6000)
    for seed in range(3):
        for first, values in _chunked(make(), 6000, seed).items():
            np.testing.assert_array_equal(values, reference[first : first + len(values)])
