"""Sparse KD loss: equals the dense KL on the reconstructed distribution, and its gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cosim.engine.codec_sparse import SparseLogits, sparse_from_rows
from cosim.engine.kd_loss import (
    SparseTargets,
    _tail_bucket_log_domain,
    dense_kd_loss,
    dense_tail_bucket_kl,
    dense_targets,
    kd_loss_tail_bucket,
    sparse_kd_loss,
)


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


# ---- k+1-bin tail-bucket KL (the default KD loss) ----------------------------


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.7])
def test_tail_bucket_equals_explicit_folding(temperature: float) -> None:
    V, T = 60, 9
    k = np.array([0, V, 1, 5, 17, 30, 59, 2, 8])  # k = 0 (all tail) and k = V (no tail)
    sl = make_targets(5, T, V, k)
    z = (3 * torch.randn(T, V, generator=torch.Generator().manual_seed(5),
                         dtype=torch.float64)).requires_grad_()
    fast = kd_loss_tail_bucket(z, SparseTargets.from_sparse(sl, dtype=torch.float64), temperature)
    ref = dense_tail_bucket_kl(z, sl, temperature)
    assert fast.item() == pytest.approx(ref.item(), rel=1e-6)
    (g_fast,) = torch.autograd.grad(fast, z)
    (g_ref,) = torch.autograd.grad(ref, z)
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-6, atol=1e-12)
    assert torch.isfinite(g_fast).all()


def test_tail_bucket_gradcheck() -> None:
    sl = make_targets(6, 4, 12, k=np.array([3, 0, 12, 5]))
    targets = SparseTargets.from_sparse(sl, dtype=torch.float64)
    z = torch.randn(4, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    assert torch.autograd.gradcheck(
        lambda x: kd_loss_tail_bucket(x, targets, 1.3), (z.requires_grad_(),)
    )


def test_tail_bucket_ignores_the_shape_of_the_students_tail() -> None:
    """Zero loss and gradient for any tail shape once S_j and the tail total agree;
    the flat-tail loss instead pulls such a student towards a flat tail."""
    V, k = 40, 5
    rng = np.random.default_rng(7)
    z = torch.as_tensor(rng.normal(0, 3, size=(3, V)))
    probs = torch.softmax(z, dim=1).numpy()
    ids = np.argsort(-probs, axis=1)
    sl = sparse_from_rows(ids, np.take_along_axis(probs, ids, 1), np.full(3, k), V)
    z = z.clone().requires_grad_()
    loss = kd_loss_tail_bucket(z, SparseTargets.from_sparse(sl, dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss, z)
    # the codec stores probabilities in float32: agreement within ~1e-7
    assert abs(loss.item()) < 1e-6 and grad.abs().max().item() < 1e-6
    flat = sparse_kd_loss(z, SparseTargets.from_sparse(sl, dtype=torch.float64))
    assert flat.item() > 0.1


def test_tail_bucket_float32_at_full_vocabulary_and_empty() -> None:
    V, T, k = 49152, 4, 32
    rng = np.random.default_rng(8)
    ids = np.stack([rng.choice(V, k, replace=False) for _ in range(T)])
    sl = sparse_from_rows(ids, rng.dirichlet(np.ones(k), size=T) * 0.9, np.full(T, k), V)
    z = torch.randn(T, V, generator=torch.Generator().manual_seed(8)) * 4
    l32 = kd_loss_tail_bucket(z, sl).item()
    l64 = kd_loss_tail_bucket(z.double(), SparseTargets.from_sparse(sl, dtype=torch.float64))
    assert l32 == pytest.approx(l64.item(), rel=1e-4)
    with pytest.raises(ValueError, match="expected shape"):
        kd_loss_tail_bucket(torch.zeros(T + 1, V), sl)
    empty = torch.zeros(0, V, requires_grad=True)
    assert kd_loss_tail_bucket(empty, sl.prefix(0)).item() == 0.0


def test_tail_bucket_fused_equals_the_log_domain_form_at_full_vocabulary() -> None:
    """The one-buffer forward/backward and plain autograd over log-sum-exps agree to
    float32 rounding (loss and gradient) on SmolLM2's vocabulary."""
    V, T = 49152, 6
    rng = np.random.default_rng(9)
    k = np.array([0, 1, 8, 32, 64, 64])
    ids = np.stack([rng.choice(V, 64, replace=False) for _ in range(T)])
    sl = sparse_from_rows(ids, rng.dirichlet(np.ones(64), size=T) * 0.8, k, V)
    targets = SparseTargets.from_sparse(sl)
    for tau in (1.0, 2.0):
        z = (torch.randn(T, V, generator=torch.Generator().manual_seed(9)) * 4).requires_grad_()
        fused = kd_loss_tail_bucket(z, targets, tau)
        plain = _tail_bucket_log_domain(z, targets, tau)
        assert fused.item() == pytest.approx(plain.item(), rel=1e-5)
        (g_fused,) = torch.autograd.grad(fused, z)
        (g_plain,) = torch.autograd.grad(plain, z)
        torch.testing.assert_close(g_fused, g_plain, rtol=1e-4, atol=1e-9)


def test_tail_bucket_underflowing_tail_falls_back_to_the_log_domain() -> None:
    """Unreported logits 200 nats below the reported ones: exp underflows in float32, the
    loss stays finite (log domain) and equals float64, where nothing underflows (the
    explicit folding cannot serve: its tail bin 1 − Σ_S σ is 1e-16 rounding, not 1e-85)."""
    V = 50
    z = torch.full((2, V), -200.0, dtype=torch.float32)
    z[:, :3] = torch.tensor([0.0, -1.0, -2.0])
    ids = np.tile(np.arange(V), (2, 1))
    probs = np.full((2, V), 0.1 / (V - 3))
    probs[:, :3] = [0.5, 0.3, 0.1]
    sl = sparse_from_rows(ids, probs, np.array([3, 3]), V)  # residual 0.1 on 47 tail tokens
    z.requires_grad_()
    loss = kd_loss_tail_bucket(z, sl)
    assert "TailBucketKD" not in type(loss.grad_fn).__name__  # the log-domain form served
    ref = kd_loss_tail_bucket(z.double(), SparseTargets.from_sparse(sl, dtype=torch.float64))
    assert "TailBucketKD" in type(ref.grad_fn).__name__
    assert torch.isfinite(loss) and loss.item() == pytest.approx(ref.item(), rel=1e-5)
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(grad).all()
