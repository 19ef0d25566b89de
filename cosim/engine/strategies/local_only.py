"""``local_only``: nothing goes up or down; each client fine-tunes on its own shard."""

from __future__ import annotations

import torch

from cosim.engine.methods import KIND_NONE
from cosim.engine.strategies.base import (
    Decoded,
    EngineClient,
    MergeInputs,
    Strategy,
    UploadPayload,
)


class LocalOnly(Strategy):
    name = "local_only"
    uploads = False
    distils = False

    def encode(self, client: EngineClient, batch: torch.Tensor, *,
               budget_bits: float | None, k: int | None) -> UploadPayload:
        return UploadPayload(client.model.index, client.round, b"", 0, int(batch.numel()))

    def decode(self, payload: bytes) -> Decoded:
        return Decoded(None, 0, 0)

    def merge(self, decoded: dict[str, Decoded],
              inputs: MergeInputs) -> tuple[int, bytes, dict[str, float]]:
        return KIND_NONE, b"", {}
