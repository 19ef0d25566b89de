"""Sparse KD loss: equals the dense KL on the reconstructed distribution, and its gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cosim.engine.codec_sparse import SparseLogits, sparse_from_rows
from cosim.engine.kd_loss import SparseTargets, dense_kd_loss, dense_targets, sparse_kd_loss


def make_targets(seed: int, T: int, V: int, k: np.ndarray | None = None) -> SparseLogits:
    rng = np.random.default_rng(seed)
    if k is None:
        k = rng.integers(0, V + 1, size=T)
    ids = np.stack([rng.permutation(V) for _ in range(T)])
    probs = rng.dirichlet(np.full(V, 0.3), size=T)
    return sparse_from_rows(ids, probs, k, V)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.7])
def test_sparse_equals_dense_on_reconstructed_distribution(temperature: float) -> None:
    V, T = 60, 9
    k = np.array([0, V, 1, 5, 17, 30, 59, 2, 8])  # k = 0 (all residual) and k = V (none)
    sl = make_targets(0, T, V, k)
    gen = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(T, V, generator=gen, dtype=torch.float64)).requires_grad_()
    sparse = sparse_kd_loss(z, SparseTargets.from_sparse(sl, dtype=torch.float64), temperature)
    dense = dense_kd_loss(z, dense_targets(sl, torch.float64), temperature)
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-5, abs=1e-12)
    (g_sparse,) = torch.autograd.grad(sparse, z)
    (g_dense,) = torch.autograd.grad(dense, z)
    torch.testing.assert_close(g_sparse, g_dense, rtol=1e-5, atol=1e-12)


def test_gradcheck() -> None:
    sl = make_targets(1, 4, 12)
    targets = SparseTargets.from_sparse(sl, dtype=torch.float64)
    z = torch.randn(4, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(
        lambda x: sparse_kd_loss(x, targets, 1.5), (z.requires_grad_(),)
    )


def test_zero_when_student_matches_teacher_and_positive_otherwise() -> None:
    sl = make_targets(2, 5, 30, k=np.array([3, 0, 10, 30, 7]))
    q = dense_targets(sl, torch.float64)
    tau = 2.0
    z = (tau * torch.log(q)).requires_grad_()  # softmax(z/τ) = q exactly
    loss = sparse_kd_loss(z, sl, tau)
    # q is stored in float32, so it sums to 1 only within ~1e-7
    assert abs(loss.item()) < 1e-6
    (grad,) = torch.autograd.grad(loss, z)
    assert grad.abs().max().item() < 1e-6
    other = torch.randn(5, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert sparse_kd_loss(other, sl, tau).item() > 0


def test_float32_close_to_float64_at_full_vocabulary() -> None:
    V, T, k = 49152, 8, 32
    rng = np.random.default_rng(3)
    ids = np.stack([rng.choice(V, k, replace=False) for _ in range(T)])
    sl = sparse_from_rows(ids, rng.dirichlet(np.ones(k), size=T) * 0.9, np.full(T, k), V)
    z = torch.randn(T, V, generator=torch.Generator().manual_seed(3)) * 4
    l32 = sparse_kd_loss(z, sl, 2.0).item()
    l64 = dense_kd_loss(z.double(), dense_targets(sl, torch.float64), 2.0).item()
    assert l32 == pytest.approx(l64, rel=1e-4)


def test_shape_mismatch_and_empty_targets() -> None:
    sl = make_targets(4, 3, 10)
    with pytest.raises(ValueError, match="expected shape"):
        sparse_kd_loss(torch.zeros(4, 10), sl)
    empty = sl.prefix(0)
    z = torch.zeros(0, 10, requires_grad=True)
    loss = sparse_kd_loss(z, empty)
    assert loss.item() == 0.0
    loss.backward()
