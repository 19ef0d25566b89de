"""Hidden projection into a shared space, its anchor and alignment losses (DESIGN.md 1.5).

**The shared space.** Models of different widths have unrelated hidden
coordinates, so averaging raw projections would mean nothing. A fixed public
decoder ``E ∈ R^{V×r}`` (:func:`shared_decoder`: by default the top-r
principal directions of the shared tokenizer's (SmolLM2's) embedding table,
or a Gaussian matrix from a common seed) defines what an r-vector means: the
next-token distribution ``softmax(E z)``. Each client trains its projection
with the **anchor loss** ``CE(softmax(E z_i), y)`` (:func:`anchor_loss`) on the
true next tokens y, so every client's z lives in that one space. The server
merges z with the clients' quality weights (:func:`merge_hidden`), and
clients align to the merged z̄ with the scale-free loss below.

Each client projects a chosen hidden layer ``h ∈ R^{d_i}`` into a common
r-dimensional space, ``z = A_i h`` with a trainable ``A_i ∈ R^{r×d_i}``
(r ≪ d_i, so the map is low rank by construction). ``A_i`` starts like a LoRA
"A" matrix (Kaiming-uniform, a = √5), so z is informative from the first
round, and unlike a LoRA "B" matrix it is never zero.

The loss aligns a client's z with the aggregate target t (both [N, r] over N
public tokens) and is invariant to the scale of z, so shrinking z towards 0
cannot lower it:

* ``"nmse"`` (default), normalised MSE of per-dimension standardised values::

      ẑ_{nd} = (z_{nd} − mean_n z_{nd}) / std_n z_{nd}      (same for t̂)
      L = 1 − mean_{n,d} ẑ t̂  =  1 − mean_d corr_d(z, t)

  which equals ``mean (ẑ − t̂)² / 2`` whenever z varies over the tokens.
  Perfect (affine, per-dimension) agreement gives 0, uncorrelated z gives 1,
  and a constant or all-zero z (ẑ = 0) gives exactly 1 too: collapse is
  never better than an uninformative projection. With N < 2 tokens there are
  no statistics to align and the loss is 0.

* ``"cosine"``: ``L = mean_n (1 − cos(z_n, t_n))``; 0 when directions agree,
  1 for z = 0 (defined as cos = 0) or for orthogonal directions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional

DecoderSource = Literal["embedding", "seed"]

HiddenLossKind = Literal["nmse", "cosine"]

_EPS = 1e-8


class HiddenProjection(nn.Module):
    """``z = h @ Aᵀ`` with ``A`` [r, d_in] trainable, LoRA-A initialisation."""

    def __init__(self, d_in: int, r: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if d_in < 1 or r < 1:
            raise ValueError(f"d_in and r: must be >= 1, got d_in={d_in}, r={r}")
        self.d_in = d_in
        self.r = r
        self.weight = nn.Parameter(torch.empty(r, d_in))
        # LoRA's A init (kaiming_uniform_ with a=√5): U(−1/√d_in, 1/√d_in)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` [..., d_in] → z [..., r]."""
        return h.to(self.weight.dtype) @ self.weight.T

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, r={self.r}"


def _standardise(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=0, keepdim=True)
    std = centred.pow(2).mean(dim=0, keepdim=True).sqrt()
    return centred / (std + _EPS)


def hidden_alignment_loss(
    z: torch.Tensor, target: torch.Tensor, kind: HiddenLossKind = "nmse"
) -> torch.Tensor:
    """Scale-free alignment of projections ``z`` [N, r] to ``target`` [N, r] (scalar).

    The target is treated as a constant (detached).
    """
    if z.ndim != 2 or z.shape != target.shape:
        raise ValueError(
            f"z and target: must both be [N, r], got {tuple(z.shape)} and {tuple(target.shape)}"
        )
    t = target.detach().to(z.dtype)
    if kind == "nmse":
        if z.shape[0] < 2:  # no per-dimension statistics: no signal, no gradient
            return z.sum() * 0.0
        return 1.0 - (_standardise(z) * _standardise(t)).mean()
    if kind == "cosine":
        cos = (z * t).sum(dim=1) / (z.norm(dim=1) * t.norm(dim=1) + _EPS)
        return (1.0 - cos).mean()
    raise ValueError(f"kind: must be nmse or cosine, got {kind!r}")


def shared_decoder(
    vocab_size: int, r: int, source: DecoderSource = "embedding", seed: int = 0
) -> torch.Tensor:
    """The fixed public decoder ``E`` [V, r] that defines the shared z-space.

    ``"embedding"``: the top-r principal directions of the shared tokenizer's
    embedding table (SmolLM2's, V = 49152; rows of mean norm 0.6, see
    :func:`cosim.engine.model_loading.smollm2_embedding_basis`), so nearby z
    decode to related tokens. ``"seed"``: i.i.d. N(0, 1/r) entries from
    ``seed`` (any V; every client must use the same seed).
    """
    if vocab_size < 1 or r < 1:
        raise ValueError(f"vocab_size and r: must be >= 1, got {vocab_size}, {r}")
    if source == "embedding":
        from cosim.engine.model_loading import smollm2_embedding_basis

        decoder = smollm2_embedding_basis(r)
        if decoder.shape[0] != vocab_size:
            raise ValueError(
                f"vocab_size: the embedding decoder has V = {decoder.shape[0]}, got {vocab_size}"
            )
        return decoder
    if source == "seed":
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(vocab_size, r, generator=gen) / math.sqrt(r)
    raise ValueError(f"source: must be embedding or seed, got {source!r}")


def anchor_loss(z: torch.Tensor, decoder: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_n CE(softmax(E z_n), y_n)`` [nats]: z [N, r], E [V, r], y [N] token ids."""
    if z.ndim != 2 or decoder.ndim != 2 or z.shape[1] != decoder.shape[1]:
        raise ValueError(
            f"z [N, r] and decoder [V, r]: got {tuple(z.shape)} and {tuple(decoder.shape)}"
        )
    logits = z @ decoder.to(z.dtype).T
    return functional.cross_entropy(logits, targets.reshape(-1).to(z.device))


def merge_hidden(
    z_by_client: Mapping[str, np.ndarray], weights: Mapping[str, float | np.ndarray]
) -> np.ndarray:
    """Weighted mean z̄ [T, r] of the clients' projections (T: the longest upload).

    ``z_by_client[c]`` [T_c, r] covers the first T_c public tokens; ``weights[c]``
    is a scalar or per-token [T_c] weight (≥ 0), e.g. the quality weights of
    DESIGN 1.4. For each token, the weights of the clients that sent it are
    renormalised to sum to 1: ``z̄_j = Σ_c w_cj z_cj / Σ_c w_cj``. A token whose
    senders all have weight 0 gets z̄_j = 0 (no signal; the alignment loss is
    scale-free and treats it as uninformative).
    """
    names = list(z_by_client)
    if not names:
        raise ValueError("z_by_client: nothing to merge")
    if set(weights) != set(names):
        raise ValueError(f"weights: need one per client {sorted(names)}, got {sorted(weights)}")
    dims = {np.asarray(z_by_client[n]).shape[1] for n in names}
    if len(dims) != 1:
        raise ValueError(f"z_by_client: all projections must have one width r, got {dims}")
    T = max(np.asarray(z_by_client[n]).shape[0] for n in names)
    num = np.zeros((T, dims.pop()))
    den = np.zeros(T)
    for n in names:
        z = np.asarray(z_by_client[n], dtype=np.float64)
        w = np.broadcast_to(np.asarray(weights[n], dtype=np.float64), (z.shape[0],))
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights[{n!r}]: must be finite and >= 0")
        num[: z.shape[0]] += w[:, None] * z
        den[: z.shape[0]] += w
    return np.divide(num, den[:, None], out=np.zeros_like(num), where=den[:, None] > 0)
