"""Hidden projection and its alignment loss: scale-free, and collapse does not pay."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from cosim.engine.hidden_loss import (
    HiddenProjection,
    anchor_loss,
    hidden_alignment_loss,
    merge_hidden,
    shared_decoder,
)

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


# ---- the shared space: public decoder, anchor loss, merge -------------------


def test_seed_decoder_is_common_and_anchor_loss_is_cross_entropy() -> None:
    E = shared_decoder(50, 8, source="seed", seed=4)
    torch.testing.assert_close(E, shared_decoder(50, 8, source="seed", seed=4))
    assert not torch.equal(E, shared_decoder(50, 8, source="seed", seed=5))
    # N(0, 1/r) entries: the sample variance of 400 entries is within ~4 standard
    # errors (√(2/400) relative) of 1/8
    assert E.var().item() == pytest.approx(1 / 8, rel=4 * math.sqrt(2 / 400))
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3, 49, 7, 7])
    ref = -torch.log_softmax(z @ E.T, dim=1)[torch.arange(5), y].mean()
    assert anchor_loss(z, E, y).item() == pytest.approx(ref.item(), rel=1e-6)
    with pytest.raises(ValueError, match="decoder"):
        anchor_loss(z, E[:, :4], y)
    with pytest.raises(ValueError, match="source"):
        shared_decoder(50, 8, source="other")  # type: ignore[arg-type]


def test_embedding_decoder_is_the_shared_tokenizers_table() -> None:
    E = shared_decoder(49152, 16)
    assert E.shape == (49152, 16) and torch.isfinite(E).all()
    assert E.norm(dim=1).mean().item() == pytest.approx(0.6, rel=1e-4)
    with pytest.raises(ValueError, match="vocab_size"):
        shared_decoder(1000, 16)


def test_anchor_puts_clients_of_different_widths_in_one_space() -> None:
    """Two clients know the next token through unrelated hidden bases of widths
    48 and 64 (both > V, so each can tell the tokens apart). Trained only with
    the anchor loss towards one public decoder, their projections of the same
    token decode to the same argmax and point the same way (mean cosine > 0.6;
    measured 0.79), and their merged z̄ decodes the next token far better than
    uniform. Independent random projections (the old design) have cosine ≈ 0
    (|cos| ≲ 3/√r for r = 8)."""
    V, r, n = 40, 8, 400
    gen = torch.Generator().manual_seed(11)
    E = shared_decoder(V, r, source="seed", seed=1)
    y = torch.randint(0, V, (n,), generator=gen)
    signal = torch.nn.functional.one_hot(y, V).float()  # what a good model "knows"
    h1 = signal @ torch.randn(V, 48, generator=gen)
    h2 = signal @ torch.randn(V, 64, generator=gen)
    p1, p2 = HiddenProjection(48, r, generator=gen), HiddenProjection(64, r, generator=gen)
    cos_before = torch.nn.functional.cosine_similarity(p1(h1), p2(h2)).mean().item()
    opt = torch.optim.Adam([*p1.parameters(), *p2.parameters()], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        (anchor_loss(p1(h1), E, y) + anchor_loss(p2(h2), E, y)).backward()
        opt.step()
    with torch.no_grad():
        z1, z2 = p1(h1), p2(h2)
        cos_after = torch.nn.functional.cosine_similarity(z1, z2).mean().item()
        agree = ((z1 @ E.T).argmax(1) == (z2 @ E.T).argmax(1)).float().mean().item()
        merged = torch.as_tensor(
            merge_hidden({"a": z1.numpy(), "b": z2.numpy()}, {"a": 0.7, "b": 0.3}),
            dtype=torch.float32,
        )
        ce_merged = anchor_loss(merged, E, y).item()
    assert abs(cos_before) < 3 / math.sqrt(r)
    assert cos_after > 0.6 and agree > 0.95
    assert ce_merged < math.log(V) - 2.0


def test_merge_hidden_weighted_mean_per_token() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(merge_hidden({"a": a}, {"a": 2.5}), a)
    merged = merge_hidden({"a": a, "b": b}, {"a": 1.0, "b": 3.0})
    np.testing.assert_allclose(merged[:4], 0.25 * a[:4] + 0.75 * b)
    np.testing.assert_allclose(merged[4:], a[4:])  # only a sent tokens 4-5
    per_token = merge_hidden({"a": a, "b": b}, {"a": np.r_[0.0, np.ones(5)], "b": 0.0})
    np.testing.assert_allclose(per_token[0], 0.0)  # every sender has weight 0
    np.testing.assert_allclose(per_token[1:], a[1:])
    with pytest.raises(ValueError, match="weights"):
        merge_hidden({"a": a}, {"b": 1.0})
    with pytest.raises(ValueError, match="width"):
        merge_hidden({"a": a, "b": b[:, :2]}, {"a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        merge_hidden({"a": a}, {"a": -1.0})
