"""Resource-block allocation for one slot: round robin, proportional fair, max rate.

The scheduler is a decision (which link gets which RBs); the arithmetic is
vectorised over links. Metrics per (link, subband), from the bits a link
would send per RB ``r[l, b]``:

* ``round_robin``: the link served longest ago first (ties: lowest index),
  independent of the channel; over time every backlogged link gets an equal
  share of the slots.
* ``proportional_fair``: ``r[l, b] / T[l]`` with T the EWMA of the bits the link
  sent per slot; maximises Σ log(throughput) in the long run.
* ``max_rate``: ``r[l, b]``; the best link always wins.

OFDMA: in each subband, links in descending metric order take the RBs they
need, ``⌈need_bits / r⌉``, until the subband is full. TDMA: the best link
(by summed metric) takes every RB of the slot.
"""

from __future__ import annotations

import numpy as np


def metric(scheduler: str, bpr: np.ndarray, avg: np.ndarray, last_served: np.ndarray) -> np.ndarray:
    """Scheduler metric ``[L, B]`` (larger is served first)."""
    if scheduler == "proportional_fair":
        # floor T: after long idle spells (1 − β)^n underflows to 0
        return bpr / np.maximum(avg, 1e-30)[:, None]
    if scheduler == "max_rate":
        return bpr.copy()
    if scheduler == "round_robin":
        n = last_served.shape[0]
        key = -(last_served.astype(np.float64) * n + np.arange(n))
        return np.repeat(key[:, None], bpr.shape[1], axis=1)
    raise ValueError(f"unknown scheduler {scheduler!r}")


def allocate(
    scheduler: str,
    tdma: bool,
    eligible: np.ndarray,
    need_bits: np.ndarray,
    bpr: np.ndarray,
    free_rbs: np.ndarray,
    avg: np.ndarray,
    last_served: np.ndarray,
) -> np.ndarray:
    """RBs per (link, subband) for this slot, int64 ``[L, B]``.

    ``eligible`` [L] bool: links that may get new RBs; ``need_bits`` [L]: bits
    waiting; ``bpr`` [L, B]: bits per RB; ``free_rbs`` [B]: RBs left per subband.
    """
    L, B = bpr.shape
    m = metric(scheduler, bpr, avg, last_served)
    m[~eligible] = -np.inf
    m[bpr <= 0] = -np.inf
    alloc = np.zeros((L, B), dtype=np.int64)
    if tdma:
        usable = np.where(np.isfinite(m), m, 0.0).sum(axis=1)
        usable[~np.isfinite(m).any(axis=1)] = -np.inf
        best = int(np.argmax(usable))
        if np.isfinite(usable[best]):
            alloc[best] = np.where(bpr[best] > 0, free_rbs, 0)
        return alloc
    need = need_bits.astype(np.float64)
    for b in range(B):
        room = int(free_rbs[b])
        if room <= 0:
            continue
        col = m[:, b]
        best = int(np.argmax(col))
        if not np.isfinite(col[best]):
            continue
        rate = bpr[:, b]
        if need[best] >= room * rate[best]:  # one link fills the subband (common case)
            alloc[best, b] = room
            need[best] -= room * rate[best]
        else:
            order = np.argsort(-col, kind="stable")
            order = order[np.isfinite(col[order])]
            want = np.ceil(need[order] / rate[order]).astype(np.int64)
            before = np.cumsum(want) - want
            give = np.clip(room - before, 0, want)
            alloc[order, b] = give
            need[order] -= give * rate[order]
        if B > 1:
            done = need <= 0
            m[done] = -np.inf
    return alloc
