"""Block fading: independent CN(0, 1) gains, constant over blocks of slots."""

from __future__ import annotations

import numpy as np

from cosim.wireless.counter_rng import complex_normal
from cosim.wireless.fading.base import GaussianProcess


class BlockFading(GaussianProcess):
    """``h[s, c, b] = z[⌊s / L⌋, c, b]`` with z i.i.d. CN(0, 1); L = ``block_slots``.

    The draws are a pure function of (key, block index, client, subband).
    """

    def __init__(self, n_clients: int, n_subbands: int, block_slots: int, key: int) -> None:
        self.n_clients = n_clients
        self.n_subbands = n_subbands
        self.block_slots = max(1, int(block_slots))
        self.key = key

    def samples(self, first_slot: int, n_slots: int) -> np.ndarray:
        blocks = (first_slot + np.arange(n_slots)) // self.block_slots
        return complex_normal(
            self.key,
            blocks[:, None, None],
            np.arange(self.n_clients)[None, :, None],
            np.arange(self.n_subbands)[None, None, :],
        )
