"""``fd_full``: dense log-probabilities over V for every public token.

Upload: :func:`cosim.engine.codec.encode_dense` of ``log_softmax(z/τ)``.
Server: ``Q_j = Σ_i w̃_ij p_ij`` over the clients that delivered token j
(:func:`cosim.engine.methods.mean_dense`) with quality weights
(:func:`cosim.engine.strategies.base.scalar_weights`); clients whose upload is
no better than uniform get weight 0 and are left out. A client distils toward
the dense teacher with the plain dense KL (``GlobalKnowledge.dense``), never
through a k = V sparse expansion (25 M entries at T = 512: that was most of a
slow fd_full round).
"""

from __future__ import annotations

import numpy as np
import torch

from cosim.engine import codec
from cosim.engine.codec_sparse import DenseLogits
from cosim.engine.methods import KIND_CODEC, KIND_NONE, mean_dense
from cosim.engine.strategies.base import (
    Decoded,
    EngineClient,
    MergeInputs,
    Strategy,
    UploadPayload,
    public_forward,
    scalar_weights,
)
from cosim.engine.training import GlobalKnowledge


class FdFull(Strategy):
    name = "fd_full"

    def encode(self, client: EngineClient, batch: torch.Tensor, *,
               budget_bits: float | None, k: int | None) -> UploadPayload:
        logits, _, flops = public_forward(client, batch, with_hidden=False)
        tau = self.config.temperature
        log_probs = torch.log_softmax(logits.float() / tau, dim=-1).cpu().numpy()
        data = codec.encode_dense(DenseLogits(log_probs), self.config.value_format)
        T, V = log_probs.shape
        return UploadPayload(client.model.index, client.round, data, T, T, float(V), V, V,
                             flops=flops)

    def decode(self, payload: bytes) -> Decoded:
        result = codec.decode(payload)
        return Decoded(result.logits, result.n_tokens, result.n_tokens_declared)

    def merge(self, decoded: dict[str, Decoded],
              inputs: MergeInputs) -> tuple[int, bytes, dict[str, float]]:
        names = list(decoded)
        dense = [decoded[n].knowledge for n in names]
        w = scalar_weights(self.config, names, dense, inputs)
        weight = dict(zip(names, w.tolist(), strict=True))
        live = np.flatnonzero(w > 0)
        if live.size == 0:
            return KIND_NONE, b"", weight
        merged = mean_dense([dense[i] for i in live], [float(w[i]) for i in live])
        return KIND_CODEC, codec.encode_dense(merged, self.config.value_format), weight

    def apply(self, client: EngineClient, kind: int, body: bytes, round_index: int,
              device: torch.device) -> None:
        if kind != KIND_CODEC:
            return
        dense = codec.decode(body).logits
        if not isinstance(dense, DenseLogits):  # a sparse downlink: the generic path
            super().apply(client, kind, body, round_index, device)
            return
        if dense.n_tokens == 0:
            return
        probs = torch.from_numpy(dense.log_probs).to(device).exp_()
        client.knowledge = GlobalKnowledge(round_index, dense=probs)
