"""The in-memory sparse representation: construction, validation, entropy estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cosim.engine.codec_sparse import SparseLogits, candidates_from_logits, sparse_from_rows


def test_candidates_and_select() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 100, generator=gen) * 3
    cands = candidates_from_logits(logits, 10, temperature=2.0)
    p = torch.softmax(logits.double() / 2.0, dim=-1).numpy()
    exact_h = -(p * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(cands.entropy, exact_h, rtol=1e-5)
    assert np.all(np.diff(cands.log_probs, axis=1) <= 0)  # most probable first
    np.testing.assert_allclose(np.exp(cands.log_probs), np.take_along_axis(p, cands.indices, 1),
                               rtol=1e-5)
    k = np.array([0, 1, 10, 5, 3])
    sl = cands.select(k, n_tokens=5)
    assert sl.n_tokens == 5 and list(sl.k) == list(k)
    for j in range(5):
        lo, hi = sl.offsets[j], sl.offsets[j + 1]
        assert np.all(np.diff(sl.indices[lo:hi]) > 0)
        assert set(sl.indices[lo:hi]) == set(cands.indices[j, : k[j]])
        np.testing.assert_allclose(sl.probs[lo:hi], p[j, sl.indices[lo:hi]], rtol=1e-5)
        assert sl.residual[j] == pytest.approx(1 - p[j, sl.indices[lo:hi]].sum(), abs=1e-6)
    sl.check()
    with pytest.raises(ValueError, match="one value per sent token"):
        cands.select(np.array([1, 2]), n_tokens=5)


def test_sparse_entropy_is_an_upper_bound_and_exact_for_uniform_tails() -> None:
    rng = np.random.default_rng(1)
    V = 50
    p = rng.dirichlet(np.full(V, 0.3), size=4)
    order = np.argsort(-p, axis=1)
    sl = sparse_from_rows(order, np.take_along_axis(p, order, 1), np.array([0, 3, 10, 50]), V)
    true_h = -(p * np.log(p)).sum(axis=1)
    est = sl.entropy()
    assert np.all(est >= true_h - 1e-6)
    assert est[0] == pytest.approx(np.log(V))   # k = 0: uniform
    assert est[3] == pytest.approx(true_h[3], rel=1e-5)  # k = V: exact
    # a distribution whose tail really is uniform is recovered exactly
    q = np.array([[0.5, 0.2] + [0.3 / 8] * 8])
    tail = sparse_from_rows(np.arange(10)[None], q, np.array([2]), 10)
    assert tail.entropy()[0] == pytest.approx(-(q * np.log(q)).sum(), rel=1e-6)


def test_dense_probs_and_prefix() -> None:
    sl = sparse_from_rows(np.array([[3, 1], [0, 2]]), np.array([[0.5, 0.25], [0.9, 0.1]]),
                          np.array([2, 1]), 4)
    np.testing.assert_allclose(sl.dense_probs(), [[0.125, 0.25, 0.125, 0.5],
                                                  [0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3]])
    first = sl.prefix(1)
    assert first.n_tokens == 1 and list(first.indices) == [1, 3]
    assert sl.prefix(0).n_tokens == 0 and sl.prefix(99).n_tokens == 2


def test_validation_errors() -> None:
    good = sparse_from_rows(np.array([[1, 2]]), np.array([[0.5, 0.3]]), np.array([2]), 5)

    def variant(**kw: object) -> SparseLogits:
        fields = {"vocab_size": 5, "offsets": good.offsets, "indices": good.indices,
                  "probs": good.probs, "residual": good.residual} | kw
        return SparseLogits(**fields)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="offsets"):
        variant(offsets=np.array([1, 2]))
    with pytest.raises(ValueError, match="indices/probs"):
        variant(indices=np.array([1]))
    with pytest.raises(ValueError, match="residual"):
        variant(residual=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="hidden"):
        variant(hidden=np.zeros((2, 3), np.float32))
    for kw, msg in [
        ({"indices": np.array([1, 5])}, "must be in"),
        ({"indices": np.array([2, 1])}, "increasing"),
        ({"probs": np.array([0.5, 1.5], np.float32)}, "probs"),
        ({"residual": np.array([np.nan], np.float32)}, "residual"),
        ({"probs": np.zeros(2, np.float32), "residual": np.zeros(1, np.float32)}, "mass"),
    ]:
        with pytest.raises(ValueError, match=msg):
            variant(**kw).check()
