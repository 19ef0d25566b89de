"""Counter-based random numbers: a draw is a pure function of (key, indices).

Fading and transport-block error draws must not depend on which slots were
simulated before (idle time is skipped) nor on how slots are batched, so they
are hashed from their indices with the SplitMix64 finaliser (Steele, Lea &
Flood 2014), vectorised over numpy ``uint64`` arrays (wrapping arithmetic).
Keys come from the run's :class:`numpy.random.Generator`, so the scenario seed
still determines everything.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 2.0**-53


def new_key(rng: np.random.Generator) -> int:
    """A fresh 63-bit key drawn from ``rng``."""
    return int(rng.integers(0, 2**63 - 1))


def _mix(z: np.ndarray) -> np.ndarray:
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def hash_indices(key: int, *indices: np.ndarray | int) -> np.ndarray:
    """64-bit hashes of broadcast index arrays (non-negative ints) under ``key``."""
    arrays = np.broadcast_arrays(*[np.asarray(i, dtype=np.int64) for i in indices])
    with np.errstate(over="ignore"):
        z = np.full(arrays[0].shape, np.uint64(key & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
        for a in arrays:
            z = _mix(z ^ a.astype(np.uint64))
    return z


def uniform(key: int, *indices: np.ndarray | int) -> np.ndarray:
    """Uniform draws in the open interval (0, 1), shape = broadcast of ``indices``."""
    z = hash_indices(key, *indices)
    return ((z >> _S11).astype(np.float64) + 0.5) * _TWO_M53


def complex_normal(key: int, *indices: np.ndarray | int) -> np.ndarray:
    """Circularly-symmetric CN(0, 1) draws (E|z|² = 1) by Box–Muller."""
    u1 = uniform(key, *indices, 0)
    u2 = uniform(key, *indices, 1)
    radius = np.sqrt(-np.log(u1))
    return radius * np.exp(2j * np.pi * u2)
