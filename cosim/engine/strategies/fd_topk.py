"""``fd_topk``: fixed k per token, ``zero_pad`` (probability padding) aggregation."""

from __future__ import annotations

from cosim.engine.strategies.sparse_logits import SparseLogitsStrategy


class FdTopk(SparseLogitsStrategy):
    name = "fd_topk"
    k_policy = "fixed"
