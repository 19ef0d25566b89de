"""What every method (DESIGN.md 1.6) is made of, and what the engine hands it.

A :class:`Strategy` decides, for one method, what a client uploads
(:meth:`Strategy.encode`), how the server reads and merges it
(:meth:`Strategy.decode`, :meth:`Strategy.merge`) and what a client does with
the downlink (:meth:`Strategy.apply`). The backend
(:class:`cosim.engine.backend.DistillationBackend`) owns clients, data and
the downlink envelope; strategies are small and built on the plain functions
of :mod:`cosim.engine.aggregation`, :mod:`cosim.engine.aggregation_weights`,
:mod:`cosim.engine.kpolicy`, :mod:`cosim.engine.codec` and
:mod:`cosim.engine.methods`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from cosim.engine import codec
from cosim.engine.aggregation_weights import likelihood_scores, likelihood_weights
from cosim.engine.codec_sparse import DenseLogits, SparseLogits
from cosim.engine.config import DistillationConfig, EngineClientSpec
from cosim.engine.methods import KIND_CODEC, dense_to_sparse
from cosim.engine.models import ClientModel
from cosim.engine.training import GlobalKnowledge, LocalTrainer


@dataclass
class EngineClient:
    """One client's model, trainer, generator and the knowledge it last applied."""

    spec: EngineClientSpec
    model: ClientModel
    trainer: LocalTrainer
    rng: np.random.Generator
    group: str
    knowledge: GlobalKnowledge | None = None
    round: int = 0


@dataclass(frozen=True)
class UploadPayload:
    """One client's uplink: real bytes plus what they contain.

    ``n_tokens`` of ``n_tokens_total`` public positions are carried (fewer when
    the budget cannot afford k_min everywhere); k statistics are over the sent
    tokens (0 for non-logit methods); ``flops`` [FLOP] is the encode forward pass.
    ``client`` is the client's index.
    """

    client: int
    round: int
    data: bytes
    n_tokens: int
    n_tokens_total: int
    k_mean: float = 0.0
    k_min: int = 0
    k_max: int = 0
    below_k_min: bool = False
    hidden_dim: int = 0
    flops: float = 0.0

    @property
    def n_bytes(self) -> int:
        return len(self.data)


@dataclass
class AggregationReport:
    """What one aggregation merged, excluded (client → reason) and with which weights;
    clients are indices (keys of ``excluded``, ``tokens``, ``weights``)."""

    round: int
    included: list[int]
    excluded: dict[int, str]
    tokens: dict[int, int]
    downlink_bytes: int
    weights: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Decoded:
    """A decoded upload: its knowledge, whole token records, records declared."""

    knowledge: Any
    n_tokens: int
    n_tokens_declared: int


@dataclass(frozen=True)
class MergeInputs:
    """What the server knows when it merges round ``round``'s uploads.

    ``targets`` [T]: the true next token of every public position (−1 where
    unknown, the last position of each sequence); ``data_sizes`` private
    tokens per client; ``reliability`` the fraction of its declared records
    that arrived, per client.
    """

    round: int
    targets: np.ndarray
    data_sizes: dict[str, float]
    reliability: dict[str, float]
    groups: dict[str, str]


def scalar_weights(
    config: DistillationConfig, names: list[str], knowledge: list[Any], inputs: MergeInputs
) -> np.ndarray:
    """One weight per client (DESIGN.md 1.4); per-token ``confidence`` is uniform here.

    ``likelihood`` needs token knowledge (:class:`SparseLogits` or
    :class:`DenseLogits`); for anything else (adapters) it is uniform.
    """
    weighting = config.client_weighting
    if weighting == "data_size":
        return np.array([inputs.data_sizes[n] for n in names], dtype=np.float64)
    if weighting == "reliability":
        return np.array([inputs.reliability[n] for n in names], dtype=np.float64)
    token_knowledge = all(isinstance(k, (SparseLogits, DenseLogits)) for k in knowledge)
    if weighting == "likelihood" and knowledge and token_knowledge:
        scores = likelihood_scores(knowledge, inputs.targets)
        return likelihood_weights(scores, knowledge[0].vocab_size,
                                  config.likelihood_temperature_nats)
    return np.ones(len(names))


@torch.no_grad()
def public_forward(
    client: EngineClient, batch: torch.Tensor, with_hidden: bool
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """The client's logits [T, V] (and hidden projection z [T, r]) on a public batch.

    Raises FloatingPointError when either is not finite (the caller drops the
    upload for the round). Returns the forward pass's FLOPs too.
    """
    model = client.model
    model.activate()
    model.set_training(False)  # the knowledge sent is the model's, not a dropout sample
    hidden_index = client.trainer.hidden_index if with_hidden else None
    logits, hidden = model.forward(batch, hidden_index)
    flops = model.forward_flops(batch.numel())
    logits = logits.reshape(-1, logits.shape[-1])
    z = None
    if hidden is not None and client.trainer.projection is not None:
        z = client.trainer.projection(hidden.reshape(-1, hidden.shape[-1]).float())
    if not torch.isfinite(logits).all() or (z is not None and not torch.isfinite(z).all()):
        raise FloatingPointError("non-finite logits or hidden projection at encode")
    return logits, z, flops


class Strategy(ABC):
    """One method: upload content, server merge, downlink use (see module docstring)."""

    name: ClassVar[str]
    uploads: ClassVar[bool] = True   # False: nothing goes up (or down)
    distils: ClassVar[bool] = True   # clients distil toward downlinked knowledge
    hidden: bool = False             # uploads carry the hidden projection z
    shared_init: ClassVar[bool] = False  # a group's clients start from one adapter

    def __init__(self, config: DistillationConfig) -> None:
        self.config = config

    @abstractmethod
    def encode(
        self, client: EngineClient, batch: torch.Tensor, *,
        budget_bits: float | None, k: int | None,
    ) -> UploadPayload:
        """The client's upload for public batch ``batch`` [n_seq, L]."""

    @abstractmethod
    def decode(self, payload: bytes) -> Decoded:
        """Parse an upload (or a prefix of one); :class:`PayloadError` when corrupt."""

    @abstractmethod
    def merge(
        self, decoded: dict[str, Decoded], inputs: MergeInputs
    ) -> tuple[int, bytes, dict[str, float]]:
        """(downlink kind, body, weight per merged client) from the usable uploads."""

    def apply(self, client: EngineClient, kind: int, body: bytes, round_index: int,
              device: torch.device) -> None:
        """Install a downlink body: codec knowledge becomes the client's KD target."""
        if kind != KIND_CODEC:
            return
        logits = codec.decode(body).logits
        if isinstance(logits, DenseLogits):
            logits = dense_to_sparse(logits)
        if logits.n_tokens == 0:
            return
        client.knowledge = GlobalKnowledge.from_sparse(round_index, logits, device)
