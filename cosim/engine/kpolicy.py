"""k policies: how many top-k entries each token's record carries (DESIGN.md 1.2).

Given a client's :class:`TopKCandidates` and an uplink budget, a policy returns
a :class:`KPlan`: k_j per token, how many leading token positions are sent and
the exact payload size. Sizes come from the real codec
(:func:`cosim.engine.codec.record_sizes_of`), never from an estimate, so

    len(encode(cands.select(plan.k, plan.n_tokens))) == plan.n_bytes ≤ budget

whenever the budget affords k_min on at least one token.

* ``fixed`` — k_j = k for all T tokens; the budget is ignored (baseline).
* ``channel_adaptive`` — coverage and channel. The channel sets a cap, the
  knowledge a need, and each token sends the smaller::

      B        = η · R̂ · (deadline − t0)                 (:func:`bit_budget`) [bits]
      k_cap    = largest uniform k whose *encoded* size fits B
      k_need,j = smallest k with Σ_{top-k} p_j ≥ ρ        (:func:`coverage_k`)
      k_j      = clip(min(k_cap, k_need,j), k_min, k_max)

  ρ = ``coverage`` (default 0.9) is the stopping rule; ρ = 1 is the pure
  "fill the budget" rule (k_j = k_cap). DESIGN.md's closed form
  ``k = ⌊(B − header − T·b_res − H)/(T·(b_idx + b_val))⌋`` with
  ``b_idx = ⌈log2 V⌉`` is reported as ``formula_k``. Rice-coded indices cost
  less than b_idx, so for moderate k the exact search affords a larger k; at
  very small k the per-record framing the formula omits (k varint, Rice
  parameter, padding: about 2.5 bytes) makes it a little smaller.
* ``entropy_adaptive`` — the same budget spread unevenly:
  ``k_j = clip(⌊λ · H_j⌋, k_min, k_max)`` with H_j the token's entropy [nats]
  and λ ≥ 0 the largest value (bisection) whose encoded size fits. Tokens the
  client is unsure about get more entries; a near-deterministic token keeps
  k_min.

If k_min on all T tokens does not fit, both adaptive policies send the longest
prefix of token positions that fits at k_min (``below_k_min``). If not even
the header fits, ``n_tokens`` is 0 and ``n_bytes`` is the header alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cosim.engine.codec import HEADER_BYTES, VALUE_BYTES, ValueFormat, record_sizes_of
from cosim.engine.codec_sparse import TopKCandidates
from cosim.engine.config import KPolicyName

_BISECTION_STEPS = 30


@dataclass(frozen=True, eq=False)
class KPlan:
    """A policy's decision for one upload."""

    k: np.ndarray        # [n_tokens] int64, entries per sent token
    n_tokens: int        # leading token positions sent
    n_bytes: int         # exact encoded payload size [bytes]
    below_k_min: bool    # the budget could not afford k_min on every token
    formula_k: int       # DESIGN.md 1.2 closed-form k (before clipping), for the log


def bit_budget(rate_bps: float, time_left_s: float, safety_factor: float) -> float:
    """``B = η · R̂ · (deadline − t0)`` [bits]; 0 when the deadline has passed."""
    return max(0.0, safety_factor * rate_bps * time_left_s)


def formula_k(budget_bits: float, n_tokens: int, vocab_size: int,
              value_format: ValueFormat, hidden_dim: int) -> int:
    """DESIGN.md 1.2 closed form with ``b_idx = ⌈log2 V⌉`` and a 16-bit residual field."""
    if n_tokens == 0:
        return 0
    b_idx = max(1, math.ceil(math.log2(vocab_size)))
    b_val = 8 * VALUE_BYTES[value_format]
    fixed = 8 * HEADER_BYTES + n_tokens * 16 + n_tokens * 16 * hidden_dim
    return math.floor((budget_bits - fixed) / (n_tokens * (b_idx + b_val)))


class _Sizer:
    """Exact record sizes of the first k_j candidates of each token."""

    def __init__(self, cands: TopKCandidates, value_format: ValueFormat, hidden_dim: int):
        self.cands = cands
        self.value_format = value_format
        self.hidden_dim = hidden_dim

    def record_sizes(self, k: np.ndarray) -> np.ndarray:
        T = self.cands.n_tokens
        width = int(k.max()) if k.size else 0
        cols = self.cands.indices[:, :width]
        keep = np.arange(width)[None, :] < k[:, None]
        ids = np.sort(np.where(keep, cols, np.iinfo(np.int64).max), axis=1)[keep]
        offsets = np.zeros(T + 1, dtype=np.int64)
        np.cumsum(k, out=offsets[1:])
        return record_sizes_of(ids, offsets, self.value_format, self.hidden_dim)

    def total(self, k: np.ndarray) -> int:
        return HEADER_BYTES + int(self.record_sizes(k).sum())


def plan_k(
    cands: TopKCandidates,
    policy: KPolicyName,
    *,
    k: int = 32,
    k_min: int = 4,
    k_max: int = 64,
    budget_bits: float | None = None,
    value_format: ValueFormat = "fp16",
    include_hidden: bool = True,
    coverage: float = 0.9,
) -> KPlan:
    """Choose k_j per token and the number of tokens sent (see module docstring).

    ``budget_bits`` is required by the adaptive policies (apply the safety
    factor first, e.g. with :func:`bit_budget`).
    """
    T, V = cands.n_tokens, cands.vocab_size
    hidden_dim = cands.hidden.shape[1] if (include_hidden and cands.hidden is not None) else 0
    sizer = _Sizer(cands, value_format, hidden_dim)
    hi = max(0, min(k_max, cands.k_max, V))
    lo = min(k_min, hi)
    f_k = formula_k(budget_bits or 0.0, T, V, value_format, hidden_dim)
    if policy == "fixed":
        kk = np.full(T, min(k, hi), dtype=np.int64)
        return KPlan(kk, T, sizer.total(kk), False, f_k)
    if policy not in ("channel_adaptive", "entropy_adaptive"):
        raise ValueError(f"policy: must be one of fixed, channel_adaptive, "
                         f"entropy_adaptive, got {policy!r}")
    if budget_bits is None:
        raise ValueError(f"budget_bits: required by the {policy} policy")
    budget = math.floor(budget_bits / 8.0)
    k_lo = np.full(T, lo, dtype=np.int64)
    sizes_lo = sizer.record_sizes(k_lo)
    if HEADER_BYTES + int(sizes_lo.sum()) > budget:
        # longest prefix of token positions that fits at k_min
        m = int(np.searchsorted(HEADER_BYTES + np.cumsum(sizes_lo), budget, side="right"))
        return KPlan(k_lo[:m], m, HEADER_BYTES + int(sizes_lo[:m].sum()), True, f_k)
    if policy == "channel_adaptive":
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"coverage: must be in (0, 1], got {coverage!r}")
        best = lo
        a, b = lo + 1, hi  # invariant: size(best) fits; search the largest fitting k in [a, b]
        while a <= b:
            mid = (a + b) // 2
            if sizer.total(np.full(T, mid, dtype=np.int64)) <= budget:
                best, a = mid, mid + 1
            else:
                b = mid - 1
        # min(k_cap, k_need) ≤ k_cap on every token, so the plan still fits the budget
        kk = np.clip(np.minimum(best, coverage_k(cands, coverage)), lo, hi).astype(np.int64)
        return KPlan(kk, T, sizer.total(kk), False, f_k)
    return _entropy_plan(cands, sizer, lo, hi, budget, f_k)


def coverage_k(cands: TopKCandidates, coverage: float) -> np.ndarray:
    """``k_need,j`` = smallest k with ``Σ_{top-k} p_j ≥ ρ`` [T] int64.

    Tokens whose K_max candidates hold less than ρ need all K_max of them.
    ρ ≥ 1 returns K_max everywhere (no stopping rule).
    """
    if coverage >= 1.0:
        return np.full(cands.n_tokens, cands.k_max, dtype=np.int64)
    mass = np.cumsum(np.exp(cands.log_probs.astype(np.float64)), axis=1)
    # count of prefixes still below ρ, plus the one that reaches it
    need = (mass < coverage).sum(axis=1) + 1
    return np.minimum(need, cands.k_max).astype(np.int64)


def entropy_allocation(entropy: np.ndarray, lam: float, k_min: int, k_max: int) -> np.ndarray:
    """``k_j = clip(⌊λ · H_j⌋, k_min, k_max)`` [T] int64."""
    raw = np.floor(lam * np.maximum(entropy, 0.0))
    return np.clip(raw, k_min, k_max).astype(np.int64)


def _entropy_plan(cands: TopKCandidates, sizer: _Sizer, lo: int, hi: int,
                  budget: int, f_k: int) -> KPlan:
    T = cands.n_tokens
    H = np.asarray(cands.entropy, dtype=np.float64)
    positive = H[H > 0]
    best = np.full(T, lo, dtype=np.int64)
    if positive.size and hi > lo:
        lam_top = (hi + 1) / positive.min()  # every token with H > 0 at k_max
        if sizer.total(entropy_allocation(H, lam_top, lo, hi)) <= budget:
            best = entropy_allocation(H, lam_top, lo, hi)
        else:
            a, b = 0.0, lam_top  # size(alloc(a)) fits, size(alloc(b)) does not
            for _ in range(_BISECTION_STEPS):
                mid = 0.5 * (a + b)
                if sizer.total(entropy_allocation(H, mid, lo, hi)) <= budget:
                    a = mid
                else:
                    b = mid
            best = entropy_allocation(H, a, lo, hi)
    return KPlan(best, T, sizer.total(best), False, f_k)
