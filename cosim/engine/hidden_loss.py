"""LoRA-style hidden-layer projection and its scale-free alignment loss (DESIGN.md 1.5).

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
from typing import Literal

import torch
from torch import nn

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
