"""Top-k knowledge uploads, shared by ``fd_topk`` and ``adaptive``.

Encode: the client's top-``k_max`` candidates on the public batch
(:func:`cosim.engine.codec_sparse.candidates_from_logits`), a k per token from
the k policy (:func:`cosim.engine.kpolicy.plan_k`) and the codec's real bytes.
Merge: quality weights (:func:`cosim.engine.strategies.base.scalar_weights`,
or per-token inverse entropy for ``confidence``), uploads with weight 0 left
out, then the configured aggregation
(:func:`cosim.engine.aggregation.aggregate_weighted`) down to the global
top-``downlink_k`` plus tail mass; hidden projections are merged with the same
weights (:func:`cosim.engine.hidden_loss.merge_hidden`).
"""

from __future__ import annotations

import numpy as np
import torch

from cosim.engine import codec
from cosim.engine.aggregation import aggregate_weighted
from cosim.engine.aggregation_weights import client_weights
from cosim.engine.codec_sparse import SparseLogits, candidates_from_logits
from cosim.engine.config import DistillationConfig
from cosim.engine.hidden_loss import merge_hidden
from cosim.engine.kpolicy import plan_k
from cosim.engine.methods import KIND_CODEC, KIND_NONE
from cosim.engine.strategies.base import (
    Decoded,
    EngineClient,
    MergeInputs,
    Strategy,
    UploadPayload,
    public_forward,
    scalar_weights,
)


class SparseLogitsStrategy(Strategy):
    """Top-k uploads with a k policy, an aggregation policy and optional hidden vectors."""

    k_policy: str = "fixed"

    def __init__(self, config: DistillationConfig) -> None:
        super().__init__(config)
        self.aggregation = config.resolved_aggregation()

    def encode(self, client: EngineClient, batch: torch.Tensor, *,
               budget_bits: float | None, k: int | None) -> UploadPayload:
        cfg = self.config
        logits, z, flops = public_forward(client, batch, with_hidden=self.hidden)
        T = int(batch.numel())
        k_fixed = cfg.k if k is None else int(k)
        k_top = max(cfg.k_max, k_fixed)
        cands = candidates_from_logits(logits, k_top, cfg.temperature, hidden=z)
        policy = "fixed" if k is not None else self.k_policy
        budget = budget_bits if budget_bits is not None else 8.0 * cfg.default_budget_bytes
        kplan = plan_k(
            cands, policy, k=k_fixed, k_min=cfg.k_min, k_max=k_top,  # type: ignore[arg-type]
            budget_bits=budget, value_format=cfg.value_format, include_hidden=z is not None,
            coverage=cfg.coverage,
        )
        sparse = cands.select(kplan.k, kplan.n_tokens)
        # A budget that affords no whole token record sends nothing rather than a bare header.
        data = codec.encode(sparse, cfg.value_format) if kplan.n_tokens else b""
        ks = kplan.k
        return UploadPayload(
            client.model.index, client.round, data, kplan.n_tokens, T,
            float(ks.mean()) if ks.size else 0.0,
            int(ks.min()) if ks.size else 0, int(ks.max()) if ks.size else 0,
            kplan.below_k_min, sparse.hidden_dim, flops,
        )

    def decode(self, payload: bytes) -> Decoded:
        result = codec.decode(payload)
        return Decoded(result.logits, result.n_tokens, result.n_tokens_declared)

    def merge(self, decoded: dict[str, Decoded],
              inputs: MergeInputs) -> tuple[int, bytes, dict[str, float]]:
        cfg = self.config
        names = list(decoded)
        sparse: list[SparseLogits] = [decoded[n].knowledge for n in names]
        w = scalar_weights(cfg, names, sparse, inputs)
        weight = dict(zip(names, w.tolist(), strict=True))
        live = [i for i in range(len(names)) if w[i] > 0]
        if not live:
            return KIND_NONE, b"", weight
        clients = [sparse[i] for i in live]
        if cfg.client_weighting == "confidence":
            per_token = client_weights(clients, "confidence")
        else:
            per_token = [np.full(c.n_tokens, w[i]) for c, i in zip(clients, live, strict=True)]
        merged = aggregate_weighted(clients, per_token, self.aggregation,  # type: ignore[arg-type]
                                    k_down=cfg.downlink_k, zero_pad_logits=cfg.zero_pad_logits)
        hidden = None
        if self.hidden and all(c.hidden is not None for c in clients):
            # z lives in the shared decoder's space, so the quality-weighted mean means
            # something (DESIGN.md 1.5)
            hidden = merge_hidden(
                {names[i]: c.hidden for c, i in zip(clients, live, strict=True)},
                {names[i]: w_i for w_i, i in zip(per_token, live, strict=True)},
            ).astype(np.float32)
        merged = SparseLogits(merged.vocab_size, merged.offsets, merged.indices,
                              merged.probs, merged.residual, hidden)
        return KIND_CODEC, codec.encode(merged, cfg.value_format), weight
