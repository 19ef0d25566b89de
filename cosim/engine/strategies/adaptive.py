"""``adaptive``: coverage-and-channel k, ``residual`` aggregation, hidden projection.

Each part is switchable for ablations: ``adaptive_k`` (off: fixed k),
``residual_aggregation`` (off: ``masked_mean``), ``hidden_projection``
(off, or β = 0: no hidden vectors).
"""

from __future__ import annotations

from cosim.engine.config import DistillationConfig
from cosim.engine.strategies.sparse_logits import SparseLogitsStrategy


class Adaptive(SparseLogitsStrategy):
    name = "adaptive"

    def __init__(self, config: DistillationConfig) -> None:
        super().__init__(config)
        self.k_policy = config.k_policy if config.adaptive_k else "fixed"
        self.hidden = config.uses_hidden()
