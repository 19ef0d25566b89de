"""Resource-block allocation for one slot: shares (OFDMA), TDMA, FDMA.

The scheduler is a decision (which link gets which RBs); the arithmetic is
vectorised over links. Metrics per (link, subband), from the bits a link
would send per RB ``r[l, b]``:

* ``round_robin``: the link served longest ago first (ties: lowest index),
  independent of the channel; over time every backlogged link gets an equal
  share of the slots.
* ``proportional_fair``: ``r[l, b] / T[l]`` with T the EWMA of the bits the link
  sent per slot (:class:`PfAverage`; ``avg`` below is its scaled form, which
  ranks the same); maximises Σ log(throughput) in the long run.
* ``max_rate``: ``r[l, b]``; the best link always wins.

* ``equal_share``: as round robin; shares are never topped up.

OFDMA (:func:`allocate_shares`): K links get contiguous shares of ⌊free / K⌋
RBs, ranked by the metric with ``r`` the bits a link sends on its share (its
uplink power split over those RBs). TDMA (:func:`allocate`): the best link (by
summed metric) takes every RB of the slot. FDMA (:func:`allocate_fdma`): fixed
sub-bands.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


class PfAverage:
    """Per-link EWMA ``T ← (1 − β) T + β · bits`` [bit/slot], kept in scaled form.

    ``T[l](s) = scaled[l] · (1 − β)^(s − s0)``: the decay common to every link is
    not applied slot by slot (nor over idle gaps), and the PF ranking
    ``r / T`` equals the ranking of ``r / scaled``. ``s0`` moves forward (and
    ``scaled`` is rescaled) when ``(1 − β)^−(s − s0)`` would exceed 1e100.
    """

    def __init__(self, n_links: int, beta: float) -> None:
        self.beta = beta
        self.decay = 1.0 - beta
        self.scaled = np.ones(n_links)  # 1 bit/slot, so a new link is served first
        self.s0 = 0
        # slots after which (1 − β)^−n would pass 1e100
        self.max_span = max(1, int(230.0 / -math.log(self.decay)))

    def gain(self, s: int) -> float:
        """Weight ``β (1 − β)^−(s + 1 − s0)`` of bits sent in slot ``s`` (rebases when large)."""
        if s + 1 - self.s0 > self.max_span:
            # in place: callers may hold ``scaled`` (e.g. ``pf.scaled[c] += pf.gain(s) * x``
            # fetches the array before calling gain)
            self.scaled *= self.decay ** (s - self.s0)
            np.maximum(self.scaled, 1e-300, out=self.scaled)
            self.s0 = s
        return self.beta * self.decay ** -(s + 1 - self.s0)

    def value(self, s: int) -> np.ndarray:
        """T at the start of slot ``s`` [bit/slot]."""
        return self.scaled * self.decay ** (s - self.s0)


def metric(scheduler: str, bpr: np.ndarray, avg: np.ndarray, rr_key: np.ndarray) -> np.ndarray:
    """Scheduler metric ``[L, B]`` (larger is served first)."""
    if scheduler == "proportional_fair":
        return bpr / avg[:, None]
    if scheduler == "max_rate":
        return bpr.copy()
    if scheduler in ("round_robin", "equal_share"):
        key = -rr_key.astype(np.float64)
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
    rr_key: np.ndarray,
) -> np.ndarray:
    """RBs per (link, subband) for this slot, int64 ``[L, B]``.

    ``eligible`` [L] bool: links that may get new RBs; ``need_bits`` [L]: bits
    waiting; ``bpr`` [L, B]: bits per RB; ``free_rbs`` [B]: RBs left per subband;
    ``avg`` [L]: scaled PF averages; ``rr_key`` [L]: ``last_served_slot · L + link``
    (round robin serves the smallest first).
    """
    L, B = bpr.shape
    m = metric(scheduler, bpr, avg, rr_key)
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


def _layout(order: np.ndarray, n: np.ndarray, free_rbs: np.ndarray, L: int) -> np.ndarray:
    """Lay contiguous runs of ``n[i]`` free RBs for links ``order[i]`` across the subbands.

    Free RBs are numbered subband by subband; link i gets positions
    ``[a_i, a_i + n_i)``, a = cumsum(n) − n; per subband b the count is the
    overlap with ``[E_b, E_b+1)``, E = cumsum of free RBs.
    """
    if free_rbs.shape[0] == 1:  # one subband: the runs just add up
        alloc = np.zeros((L, 1), dtype=np.int64)
        alloc[order, 0] = n
        return alloc
    edges = np.concatenate([[0], np.cumsum(free_rbs)])
    a = np.cumsum(n) - n
    lo = np.maximum(a[:, None], edges[None, :-1])
    hi = np.minimum((a + n)[:, None], edges[None, 1:])
    alloc = np.zeros((L, free_rbs.shape[0]), dtype=np.int64)
    alloc[order] = np.maximum(hi - lo, 0)
    return alloc


def allocate_shares(
    scheduler: str,
    eligible: np.ndarray,
    need_bits: np.ndarray,
    rate: Callable[[np.ndarray, int], np.ndarray],
    free_rbs: np.ndarray,
    avg: np.ndarray,
    rr_key: np.ndarray,
    min_rbs: int,
    max_ues: int,
) -> np.ndarray:
    """OFDMA shares for this slot, int64 ``[L, B]``.

    ``rate(links, n)`` [bit]: what each link would send on n RBs. With F free RBs
    and E eligible links, K = min(E, max_ues, ⌊F / min_rbs⌋) links ranked first by
    the metric get ``min(⌊F / K⌋, ⌈need / (r / ⌊F / K⌋)⌉)`` RBs each (r: rate on
    the share). Except with ``equal_share``, RBs left over are dealt one at a time,
    in round-robin order (``rr_key mod L``: cyclic position), to the served links
    still short of their need (:func:`deal`).
    """
    L = eligible.shape[0]
    total = int(free_rbs.sum())
    links = np.flatnonzero(eligible)
    k = min(links.size, max_ues, total // min_rbs)
    if k == 0:
        return np.zeros((L, free_rbs.shape[0]), dtype=np.int64)
    share = total // k
    r = rate(links, share)
    ok = r > 0
    links, r = links[ok], r[ok]
    k = min(k, links.size)
    if k == 0:
        return np.zeros((L, free_rbs.shape[0]), dtype=np.int64)
    if scheduler == "proportional_fair":
        m = r / avg[links]
    elif scheduler == "max_rate":
        m = r
    else:
        m = -rr_key[links].astype(np.float64)
    pick = np.argsort(-m, kind="stable")[:k]
    order, r = links[pick], r[pick]
    want = np.ceil(need_bits[order] * share / r).astype(np.int64)
    n = np.minimum(share, want)
    if scheduler != "equal_share":
        left = total - int(n.sum())
        if left > 0:
            n += deal(left, want - n, rr_key[order] % L)
    return _layout(order, n, free_rbs, L)


def deal(left: int, short: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Spare RBs dealt one per round to the links still short, in order of ``position``.

    Each round gives one RB to every link with ``short > 0`` (the first ones by
    position when fewer RBs than such links are left). Returns the extra RBs per link.
    """
    extra = np.zeros(short.shape[0], dtype=np.int64)
    rank = np.argsort(np.argsort(position, kind="stable"), kind="stable")
    while left > 0:
        open_ = extra < short
        cnt = int(open_.sum())
        if cnt == 0:
            break
        if cnt <= left:
            extra[open_] += 1
            left -= cnt
        else:
            r = rank[open_]
            cut = np.sort(r)[left - 1]
            extra[open_ & (rank <= cut)] += 1
            left = 0
    return extra


def allocate_fdma(
    eligible: np.ndarray, n_links: int, num_rbs: int, rbs_per_subband: np.ndarray
) -> np.ndarray:
    """Link l's fixed RBs ``[l·m, (l+1)·m)``, m = ⌊num_rbs / n_links⌋, when it is eligible."""
    m = num_rbs // n_links
    order = np.flatnonzero(eligible)
    edges = np.concatenate([[0], np.cumsum(rbs_per_subband)])
    a = order * m
    lo = np.maximum(a[:, None], edges[None, :-1])
    hi = np.minimum((a + m)[:, None], edges[None, 1:])
    alloc = np.zeros((eligible.shape[0], rbs_per_subband.shape[0]), dtype=np.int64)
    alloc[order] = np.maximum(hi - lo, 0)
    return alloc
