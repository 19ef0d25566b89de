"""Hidden projection and its alignment loss: scale-free, and collapse does not pay."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from cosim.engine.hidden_loss import HiddenProjection, hidden_alignment_loss

KINDS = ["nmse", "cosine"]


def data(seed: int, n: int = 64, r: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, r, generator=gen, dtype=torch.float64), \
        torch.randn(n, r, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("kind", KINDS)
def test_scale_free_and_zero_at_agreement(kind: str) -> None:
    z, t = data(0)
    base = hidden_alignment_loss(z, t, kind)  # type: ignore[arg-type]
    for c in (1e-3, 0.5, 7.0, 1e3):
        assert hidden_alignment_loss(c * z, t, kind).item() == pytest.approx(base.item(), rel=1e-6)  # type: ignore[arg-type]
    assert hidden_alignment_loss(3.0 * t, t, kind).item() == pytest.approx(0.0, abs=1e-6)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_collapse_is_no_better_than_an_uninformative_projection(kind: str) -> None:
    z, t = data(1)
    zero = hidden_alignment_loss(torch.zeros_like(z), t, kind).item()  # type: ignore[arg-type]
    assert zero == pytest.approx(1.0)
    if kind == "nmse":  # a constant vector is a collapse too
        const = torch.ones_like(z) * torch.tensor([1.0, -2, 3, 0, 5, 1, 1, 2])
        assert hidden_alignment_loss(const, t, kind).item() == pytest.approx(1.0)  # type: ignore[arg-type]
    aligned = hidden_alignment_loss(t + 0.1 * z, t, kind).item()  # type: ignore[arg-type]
    assert aligned < 0.1 < zero


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_has_no_component_that_shrinks_z(kind: str) -> None:
    """Scale invariance ⇒ ⟨∇_z L, z⟩ = 0 (Euler), so gradient steps cannot shrink z to 0
    to first order."""
    z, t = data(2)
    z.requires_grad_()
    (grad,) = torch.autograd.grad(hidden_alignment_loss(z, t, kind), z)  # type: ignore[arg-type]
    assert abs((grad * z).sum().item()) < 1e-9 * grad.norm().item() * z.norm().item() + 1e-12


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny ops: intra-op threads only add contention on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind", KINDS)
def test_training_a_projection_aligns_without_collapse(kind: str, one_thread: None) -> None:
    gen = torch.Generator().manual_seed(3)
    d_in, r, n = 32, 6, 128
    h = torch.randn(n, d_in, generator=gen)
    target = h @ torch.randn(d_in, r, generator=gen)  # reachable by a linear map
    proj = HiddenProjection(d_in, r, generator=gen)
    opt = torch.optim.Adam(proj.parameters(), lr=0.05)
    first = hidden_alignment_loss(proj(h), target, kind).item()  # type: ignore[arg-type]
    for _ in range(150):
        opt.zero_grad()
        loss = hidden_alignment_loss(proj(h), target, kind)  # type: ignore[arg-type]
        loss.backward()
        opt.step()
    assert loss.item() < 0.02 < first
    assert proj(h).norm(dim=1).min().item() > 1e-2


def test_projection_init_is_lora_like_and_seeded() -> None:
    a = HiddenProjection(100, 4, generator=torch.Generator().manual_seed(0))
    b = HiddenProjection(100, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.weight, b.weight)
    bound = 1 / math.sqrt(100)  # kaiming_uniform(a=√5) on fan_in 100
    assert a.weight.abs().max().item() <= bound
    assert a.weight.abs().max().item() > 0.5 * bound  # not zero-initialised
    assert a(torch.randn(5, 100)).shape == (5, 4)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="d_in and r"):
        HiddenProjection(0, 4)
    with pytest.raises(ValueError, match="both be"):
        hidden_alignment_loss(torch.zeros(3, 2), torch.zeros(3, 3))
    single = torch.ones(1, 2, requires_grad=True)  # one token: no statistics, no signal
    loss = hidden_alignment_loss(single, torch.ones(1, 2), "nmse")
    loss.backward()
    assert loss.item() == 0.0 and single.grad is not None and single.grad.abs().sum() == 0
    with pytest.raises(ValueError, match="kind"):
        hidden_alignment_loss(torch.zeros(3, 2), torch.zeros(3, 2), "l2")  # type: ignore[arg-type]
