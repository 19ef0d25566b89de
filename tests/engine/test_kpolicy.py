"""k policies: the encoded payload respects the budget, and the policies' allocation rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.engine import codec
from cosim.engine.codec_sparse import TopKCandidates, candidates_from_logits
from cosim.engine.kpolicy import (
    KPlan,
    bit_budget,
    coverage_k,
    entropy_allocation,
    formula_k,
    plan_k,
)

V = 4096


def make_candidates(seed: int, T: int = 64, k_max: int = 48, hidden_dim: int = 0
                    ) -> TopKCandidates:
    """Logits with per-token temperature so entropies vary widely across tokens."""
    gen = torch.Generator().manual_seed(seed)
    scale = torch.rand(T, 1, generator=gen) * 8
    logits = torch.randn(T, V, generator=gen) * scale
    hidden = torch.randn(T, hidden_dim, generator=gen) if hidden_dim else None
    return candidates_from_logits(logits, k_max, hidden=hidden)


CANDS = make_candidates(0)
CANDS_HIDDEN = make_candidates(1, hidden_dim=4)


def encoded_len(cands: TopKCandidates, plan: KPlan, value_format: str) -> int:
    return len(codec.encode(cands.select(plan.k, plan.n_tokens), value_format))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    budget_bytes=st.integers(0, 12_000),
    policy=st.sampled_from(["channel_adaptive", "entropy_adaptive"]),
    value_format=st.sampled_from(["fp16", "q8"]),
    hidden=st.booleans(),
    k_min=st.integers(1, 8),
)
def test_encoded_bytes_never_exceed_budget(
    budget_bytes: int, policy: str, value_format: str, hidden: bool, k_min: int
) -> None:
    cands = CANDS_HIDDEN if hidden else CANDS
    plan = plan_k(cands, policy, k_min=k_min, k_max=40, budget_bits=8 * budget_bytes,  # type: ignore[arg-type]
                  value_format=value_format)  # type: ignore[arg-type]
    size = encoded_len(cands, plan, value_format)
    assert size == plan.n_bytes  # the plan's size is the real codec's size
    if plan.n_tokens > 0:  # k_min affordable on at least one token
        assert size <= budget_bytes
        assert plan.k.min() >= k_min and plan.k.max() <= 40
    else:
        assert size == codec.HEADER_BYTES


def test_channel_adaptive_picks_largest_fitting_uniform_k() -> None:
    # coverage ρ = 1: no stopping rule, the pure "fill the budget" k_cap
    for budget_bytes in (1_500, 4_000, 7_000):
        plan = plan_k(CANDS, "channel_adaptive", k_min=2, k_max=48, budget_bits=8 * budget_bytes,
                      coverage=1.0)
        k = int(plan.k[0])
        assert np.all(plan.k == k) and plan.n_tokens == 64 and not plan.below_k_min
        assert plan.n_bytes <= budget_bytes
        if k < 48:
            bigger = CANDS.select(k + 1)
            assert codec.encoded_size(bigger) > budget_bytes
        # Rice-coded ids cost less than ⌈log2 V⌉ bits, so beyond small k (where the
        # ~2.5 bytes of per-record framing dominate) the search affords the closed-form k
        if plan.formula_k >= 16:
            assert k >= min(48, plan.formula_k)


def test_below_k_min_sends_the_longest_fitting_prefix() -> None:
    k_min = 8
    full = codec.record_sizes(CANDS.select(k_min))
    budget_bytes = codec.HEADER_BYTES + int(full[:10].sum()) + 5  # 10 records and a bit
    for policy in ("channel_adaptive", "entropy_adaptive"):
        plan = plan_k(CANDS, policy, k_min=k_min, k_max=48,  # type: ignore[arg-type]
                      budget_bits=8 * budget_bytes)
        assert plan.below_k_min and plan.n_tokens == 10
        assert np.all(plan.k == k_min)
        assert plan.n_bytes == budget_bytes - 5
    # not even the header fits
    plan = plan_k(CANDS, "channel_adaptive", k_min=k_min, budget_bits=8 * 10)
    assert plan.n_tokens == 0 and plan.n_bytes == codec.HEADER_BYTES


def test_entropy_adaptive_gives_more_entries_to_uncertain_tokens() -> None:
    budget_bits = 8 * 5_000
    plan = plan_k(CANDS, "entropy_adaptive", k_min=2, k_max=48, budget_bits=budget_bits)
    uniform = plan_k(CANDS, "channel_adaptive", k_min=2, k_max=48, budget_bits=budget_bits,
                     coverage=1.0)
    H = CANDS.entropy
    order = np.argsort(H)
    assert np.all(np.diff(plan.k[order]) >= 0)  # k_j non-decreasing in H_j
    assert plan.k.min() < plan.k.max()
    assert plan.n_bytes <= budget_bits / 8
    # same total budget: spends it about as fully as the uniform policy
    assert plan.n_bytes >= 0.9 * uniform.n_bytes


def test_coverage_and_channel_k() -> None:
    # k_j = clip(min(k_cap, k_need,j), k_min, k_max), k_need,j the smallest k with top-k mass ≥ ρ
    rho = 0.9
    mass = np.cumsum(np.exp(CANDS.log_probs.astype(np.float64)), axis=1)
    need = np.array([int(np.argmax(row >= rho)) + 1 if row[-1] >= rho else CANDS.k_max
                     for row in mass])
    np.testing.assert_array_equal(coverage_k(CANDS, rho), need)
    for budget_bytes in (1_500, 7_000, 10**6):
        cap = plan_k(CANDS, "channel_adaptive", k_min=2, k_max=40,
                     budget_bits=8 * budget_bytes, coverage=1.0)
        plan = plan_k(CANDS, "channel_adaptive", k_min=2, k_max=40,
                      budget_bits=8 * budget_bytes, coverage=rho)
        k_cap = int(cap.k[0])
        np.testing.assert_array_equal(plan.k, np.clip(np.minimum(k_cap, need), 2, 40))
        assert plan.n_bytes <= cap.n_bytes <= budget_bytes
    # a generous budget: confident tokens stop early, so far fewer bytes than filling it
    rich = plan_k(CANDS, "channel_adaptive", k_min=2, k_max=40, budget_bits=8e6)
    assert rich.k.min() < 40 and rich.n_bytes < plan_k(
        CANDS, "channel_adaptive", k_min=2, k_max=40, budget_bits=8e6, coverage=1.0).n_bytes
    # a near-deterministic token needs one entry
    sharp = candidates_from_logits(torch.tensor([[20.0] + [0.0] * 99]), 8)
    assert coverage_k(sharp, 0.9).tolist() == [1]
    with pytest.raises(ValueError, match="coverage"):
        plan_k(CANDS, "channel_adaptive", budget_bits=1e6, coverage=0.0)


def test_entropy_allocation_formula() -> None:
    H = np.array([0.0, 0.5, 1.0, 3.0, 10.0])
    np.testing.assert_array_equal(entropy_allocation(H, 4.0, 2, 16), [2, 2, 4, 12, 16])


def test_fixed_ignores_budget() -> None:
    plan = plan_k(CANDS, "fixed", k=16, budget_bits=8.0)
    assert plan.n_tokens == 64 and np.all(plan.k == 16)
    assert plan.n_bytes == codec.encoded_size(CANDS.select(16))


def test_budget_helpers_and_errors() -> None:
    assert bit_budget(1e6, 0.5, 0.9) == pytest.approx(450_000)
    assert bit_budget(1e6, -1.0, 0.9) == 0.0
    # DESIGN.md 1.2: (B − header − T·b_res − H) / (T · (b_idx + b_val)), b_idx = ⌈log2 V⌉
    B = 1e6
    expected = math.floor((B - 8 * codec.HEADER_BYTES - 100 * 16) / (100 * (17 + 16)))
    assert formula_k(B, 100, 100_000, "fp16", 0) == expected
    with pytest.raises(ValueError, match="budget_bits"):
        plan_k(CANDS, "channel_adaptive")
    with pytest.raises(ValueError, match="policy"):
        plan_k(CANDS, "greedy", budget_bits=1e6)  # type: ignore[arg-type]
