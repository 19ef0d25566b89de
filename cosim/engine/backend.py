"""The narrow interface the co-simulator drives (DESIGN.md section 4).

One round, as the simulator calls it::

    backend.local_update(c, t)         -> UpdateReport (flops for the compute model)
    backend.encode_upload(c, budget_bits=B | k=k) -> UploadPayload (real bytes)
    backend.aggregate({c: bytes, ...}) -> downlink bytes (prefixes allowed)
    backend.apply_downlink(c, bytes)
    backend.evaluate(c)                -> [MetricRow(own), MetricRow(union)]

Round t's local update distils toward the knowledge of the last downlink the
client applied (which names its public batch), then ``encode_upload`` runs
round t's public batch: ``public_batch_tokens`` positions, the same for
every client. A payload that does not decode is excluded from aggregation and
listed in :attr:`DistillationBackend.last_aggregation`; it is not an error.
The engine never reads a clock to advance time and does not import simpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cosim.engine import codec
from cosim.engine.aggregation import aggregate as aggregate_sparse
from cosim.engine.codec_sparse import DenseLogits, SparseLogits, candidates_from_logits
from cosim.engine.config import DataConfig, DistillationConfig, EngineClientSpec
from cosim.engine.data import build_federated_data
from cosim.engine.evaluation import MetricRow, evaluate_client
from cosim.engine.hidden_loss import HiddenProjection
from cosim.engine.kpolicy import plan_k
from cosim.engine.methods import (
    KIND_ADAPTERS,
    KIND_CODEC,
    KIND_NONE,
    adapters_from_bytes,
    adapters_to_bytes,
    average_adapters,
    dense_to_sparse,
    mean_dense,
    pack_downlink,
    plan_for,
    unpack_downlink,
)
from cosim.engine.model_loading import load_tokenizer
from cosim.engine.models import ClientModel, ModelPool, hidden_layer_index, resolve_device
from cosim.engine.training import GlobalKnowledge, LocalTrainer, LossWeights, UpdateReport
from cosim.errors import PayloadError, ScenarioError

__all__ = ["AggregationReport", "DistillationBackend", "UpdateReport", "UploadPayload"]


@dataclass(frozen=True)
class UploadPayload:
    """One client's uplink: real bytes plus what they contain.

    ``n_tokens`` of ``n_tokens_total`` public positions are carried (fewer when
    the budget cannot afford k_min everywhere); k statistics are over the sent
    tokens (0 for non-logit methods); ``flops`` [FLOP] is the encode forward pass.
    """

    client: str
    round: int
    data: bytes
    n_tokens: int
    n_tokens_total: int
    k_mean: float
    k_min: int
    k_max: int
    below_k_min: bool
    hidden_dim: int
    flops: float

    @property
    def n_bytes(self) -> int:
        return len(self.data)


@dataclass
class AggregationReport:
    """What the last :meth:`DistillationBackend.aggregate` merged and excluded."""

    round: int
    included: list[str]
    excluded: dict[str, str]
    tokens: dict[str, int]
    downlink_bytes: int


@dataclass
class _ClientState:
    spec: EngineClientSpec
    model: ClientModel
    trainer: LocalTrainer
    rng: np.random.Generator
    group: str
    knowledge: GlobalKnowledge | None = None
    round: int = 0


class DistillationBackend:
    """The federated distillation engine behind the co-simulator (see module docstring)."""

    def __init__(
        self,
        clients: list[EngineClientSpec],
        data: DataConfig,
        distillation: DistillationConfig,
        seed: int,
    ) -> None:
        if not clients:
            raise ScenarioError("clients: the engine needs at least one client")
        names = [c.name for c in clients]
        if len(set(names)) != len(names):
            raise ScenarioError(f"clients: names must be unique, got {names}")
        self.config = distillation
        self.data_config = data
        self.seed = seed
        self.plan = plan_for(distillation)
        self.device = resolve_device(distillation.device)
        if self.device.type == "cpu":
            # Cheap on CPU and makes repeated runs bit-identical.
            torch.use_deterministic_algorithms(True, warn_only=True)
        root = np.random.SeedSequence(seed)
        data_seq, public_seq, *client_seqs = root.spawn(2 + len(clients))
        self._public_seed = public_seq
        self.tokenizer = load_tokenizer()
        self.data = build_federated_data(
            data, [(c.name, c.domain) for c in clients], self.tokenizer,
            np.random.default_rng(data_seq),
        )
        seq_len = data.seq_len
        self._n_public_seq = min(
            len(self.data.public), max(1, -(-distillation.public_tokens_per_round // seq_len))
        )
        self.pool = ModelPool(seed, self.device)
        self._clients: dict[str, _ClientState] = {}
        for index, (spec, seq) in enumerate(zip(clients, client_seqs, strict=True)):
            self._clients[spec.name] = self._make_client(spec, index, seq)
        self._round = 0
        self.last_aggregation: AggregationReport | None = None
        self.last_downlink: bytes = b""

    # ---- construction -------------------------------------------------
    def _make_client(
        self, spec: EngineClientSpec, index: int, seq: np.random.SeedSequence
    ) -> _ClientState:
        cfg = self.config
        model = self.pool.add_client(spec.name, spec.model)
        hidden_index = None
        projection = None
        if self.plan.hidden:
            hidden_index = hidden_layer_index(cfg.hidden_layer, model.n_layers)
            gen = torch.Generator().manual_seed(int(seq.generate_state(1)[0]))
            projection = HiddenProjection(model.hidden_size, cfg.hidden_rank, generator=gen)
            projection.to(self.device)
        trainer = LocalTrainer(
            model, self.data.shards[spec.name],
            lr=cfg.lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
            batch_size=cfg.batch_size, projection=projection, hidden_index=hidden_index,
        )
        m = spec.model
        group = f"{m.preset}|{m.dtype}|r{m.lora_rank}|a{m.lora_alpha}|{m.lora_targets}"
        return _ClientState(spec, model, trainer, np.random.default_rng(seq), group)

    # ---- what the caller may ask ------------------------------------------
    @property
    def client_names(self) -> list[str]:
        return list(self._clients)

    @property
    def public_batch_tokens(self) -> int:
        """Public token positions each client encodes per round (T)."""
        return self._n_public_seq * self.data_config.seq_len

    @property
    def last_downlink_bytes(self) -> int:
        """Size of the last downlink payload [bytes]."""
        return len(self.last_downlink)

    def data_size(self, client: str) -> int:
        """Tokens in ``client``'s private shard."""
        return int(self.data.shards[client].numel())

    def client_model(self, client: str) -> ClientModel:
        return self._state(client).model

    def public_batch(self, round_index: int) -> torch.Tensor:
        """The public sequences of round ``round_index`` [n_seq, L] (seeded by the round)."""
        rng = np.random.default_rng([*self._public_seed.generate_state(2), round_index])
        rows = rng.choice(len(self.data.public), size=self._n_public_seq, replace=False)
        return self.data.public[torch.from_numpy(np.sort(rows))]

    def _state(self, client: str) -> _ClientState:
        try:
            return self._clients[client]
        except KeyError:
            raise ScenarioError(f"unknown client {client!r}") from None

    # ---- the interface ------------------------------------------------
    def local_update(self, client: str, round_index: int) -> UpdateReport:
        """Distil toward the last applied knowledge and fine-tune on the private shard."""
        state = self._state(client)
        state.round = round_index
        self._round = max(self._round, round_index)
        cfg = self.config
        knowledge = state.knowledge if self.plan.distils else None
        public = self.public_batch(knowledge.public_round) if knowledge is not None else None
        return state.trainer.update(
            round_index, cfg.local_steps, state.rng,
            LossWeights(cfg.alpha, cfg.beta, cfg.temperature), knowledge, public,
        )

    @torch.no_grad()
    def encode_upload(
        self, client: str, *, budget_bits: float | None = None, k: int | None = None
    ) -> UploadPayload:
        """Run the round's public batch and encode what the method uploads.

        ``budget_bits`` feeds the adaptive k policies (default: the config's
        ``default_budget_bytes``); ``k`` forces a fixed k. Methods without a
        logit payload ignore both. Raises FloatingPointError when the
        client's logits (or hidden projection) are not finite.
        """
        state = self._state(client)
        T = self.public_batch_tokens
        plan = self.plan
        if plan.upload == "none":
            return UploadPayload(client, state.round, b"", 0, T, 0.0, 0, 0, False, 0, 0.0)
        if plan.upload == "adapters":
            data = adapters_to_bytes(state.model.adapter_state())
            return UploadPayload(client, state.round, data, 0, T, 0.0, 0, 0, False, 0, 0.0)
        model = state.model
        model.activate()
        model.model.eval()  # the knowledge sent is the model's, not a dropout sample
        batch = self.public_batch(state.round)
        hidden_index = state.trainer.hidden_index if plan.hidden else None
        logits, hidden = model.forward(batch, hidden_index)
        flops = model.forward_flops(batch.numel())
        logits = logits.reshape(-1, logits.shape[-1])
        z = None
        if hidden is not None and state.trainer.projection is not None:
            z = state.trainer.projection(hidden.reshape(-1, hidden.shape[-1]).float())
        if not torch.isfinite(logits).all() or (z is not None and not torch.isfinite(z).all()):
            # The caller drops this client's upload for the round (update_skipped).
            raise FloatingPointError("non-finite logits or hidden projection at encode")
        tau = self.config.temperature
        if plan.upload == "dense":
            log_probs = torch.log_softmax(logits.float() / tau, dim=-1).cpu().numpy()
            data = codec.encode_dense(DenseLogits(log_probs), self.config.value_format)
            V = log_probs.shape[1]
            return UploadPayload(client, state.round, data, T, T, V, V, V, False, 0, flops)
        cfg = self.config
        k_fixed = cfg.k if k is None else int(k)
        k_top = max(cfg.k_max, k_fixed)
        cands = candidates_from_logits(logits, k_top, tau, hidden=z)
        policy = "fixed" if k is not None else plan.k_policy
        budget = budget_bits if budget_bits is not None else 8.0 * cfg.default_budget_bytes
        kplan = plan_k(
            cands, policy, k=k_fixed, k_min=cfg.k_min, k_max=k_top, budget_bits=budget,
            value_format=cfg.value_format, include_hidden=z is not None,
        )
        sparse = cands.select(kplan.k, kplan.n_tokens)
        # A budget that affords no whole token record sends nothing rather than a bare header.
        data = codec.encode(sparse, cfg.value_format) if kplan.n_tokens else b""
        ks = kplan.k
        return UploadPayload(
            client, state.round, data, kplan.n_tokens, T,
            float(ks.mean()) if ks.size else 0.0,
            int(ks.min()) if ks.size else 0, int(ks.max()) if ks.size else 0,
            kplan.below_k_min, sparse.hidden_dim, flops,
        )

    def aggregate(self, received: dict[str, bytes], round_index: int | None = None) -> bytes:
        """Merge the payloads that arrived (whole or prefixes) into downlink bytes.

        Payloads that fail to decode are excluded and listed in
        :attr:`last_aggregation`. With nothing usable the downlink says so
        (kind 0) and clients keep their previous knowledge.
        """
        rnd = self._round if round_index is None else round_index
        if self.plan.upload == "none":
            self.last_downlink = b""
            self.last_aggregation = AggregationReport(rnd, [], {}, {}, 0)
            return b""
        excluded: dict[str, str] = {}
        tokens: dict[str, int] = {}
        decoded: dict[str, object] = {}
        for name, payload in received.items():
            if name not in self._clients:
                excluded[name] = "unknown client"
                continue
            try:
                decoded[name], tokens[name] = self._decode_upload(payload)
            except PayloadError as exc:
                excluded[name] = str(exc)
        if self.plan.upload != "adapters":
            decoded = {n: d for n, d in decoded.items() if tokens[n] > 0}
        for name in set(received) - set(decoded) - set(excluded):
            excluded[name] = "no whole token record arrived"
        kind, body = self._merge(decoded, rnd) if decoded else (KIND_NONE, b"")
        self.last_downlink = pack_downlink(rnd, kind, body)
        self.last_aggregation = AggregationReport(
            rnd, sorted(decoded), excluded, tokens, len(self.last_downlink)
        )
        return self.last_downlink

    def _decode_upload(self, payload: bytes) -> tuple[object, int]:
        if self.plan.upload == "adapters":
            return adapters_from_bytes(payload), 0
        result = codec.decode(payload)
        return result.logits, result.n_tokens

    def _weights(self, names: list[str]) -> list[float]:
        # Per-client weights for the dense and adapter paths; confidence
        # weighting is per token and exists only for sparse logits (uniform here).
        if self.config.client_weighting == "data_size":
            return [float(self.data_size(n)) for n in names]
        return [1.0] * len(names)

    def _merge(self, decoded: dict[str, object], rnd: int) -> tuple[int, bytes]:
        names = list(decoded)
        cfg = self.config
        if self.plan.upload == "adapters":
            groups: dict[str, list[str]] = {}
            for name in names:
                groups.setdefault(self._clients[name].group, []).append(name)
            merged: dict[str, torch.Tensor] = {}
            for group, members in sorted(groups.items()):
                avg = average_adapters([decoded[n] for n in members], self._weights(members))
                merged.update({f"{group}//{k}": v for k, v in avg.items()})
            return KIND_ADAPTERS, adapters_to_bytes(merged)
        if self.plan.upload == "dense":
            dense = mean_dense([decoded[n] for n in names], self._weights(names))
            return KIND_CODEC, codec.encode_dense(dense, cfg.value_format)
        sparse: list[SparseLogits] = [decoded[n] for n in names]  # type: ignore[misc]
        weighting = cfg.client_weighting
        merged_sparse = aggregate_sparse(
            sparse, self.plan.aggregation, weighting=weighting,
            data_sizes=[self.data_size(n) for n in names], k_down=cfg.downlink_k,
            zero_pad_logits=cfg.zero_pad_logits,
        )
        if not self.plan.hidden:
            merged_sparse = SparseLogits(
                merged_sparse.vocab_size, merged_sparse.offsets, merged_sparse.indices,
                merged_sparse.probs, merged_sparse.residual, None,
            )
        return KIND_CODEC, codec.encode(merged_sparse, cfg.value_format)

    def apply_downlink(self, client: str, payload: bytes) -> None:
        """Install the downlink's knowledge (or averaged adapters) on ``client``.

        A corrupt downlink raises :class:`PayloadError`; an empty one is ignored.
        """
        state = self._state(client)
        if not payload:
            return
        rnd, kind, body = unpack_downlink(payload)
        if kind == KIND_NONE:
            return
        if kind == KIND_ADAPTERS:
            tensors = adapters_from_bytes(body)
            prefix = f"{state.group}//"
            mine = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if mine:
                state.model.load_adapter_state(mine)
            return
        result = codec.decode(body)
        logits = result.logits
        if isinstance(logits, DenseLogits):
            logits = dense_to_sparse(logits)
        if logits.n_tokens == 0:
            return
        state.knowledge = GlobalKnowledge.from_sparse(rnd, logits, self.device)

    def evaluate(self, client: str) -> list[MetricRow]:
        """Loss, perplexity and top-1 accuracy on the own-domain and union test splits."""
        state = self._state(client)
        budget = self.data_config.eval_tokens
        L = self.data_config.seq_len
        own = self.data.tests[self.data.own_domain[client]][: max(1, budget // L)]
        splits = {"own": own, "union": self.data.union_test(budget)}
        return evaluate_client(state.model, splits, self.config.batch_size * 2)
