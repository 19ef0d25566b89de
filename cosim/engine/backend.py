"""The distillation engine behind the co-simulator (DESIGN.md section 4).

:class:`DistillationBackend` implements :class:`cosim.sim.backend.Backend`.
One round, as the simulator calls it::

    backend.local_update(c, t)         -> UpdateReport (flops for the compute model)
    backend.encode_upload(c, budget_bits=B | k=k) -> UploadPayload (real bytes)
    backend.aggregate({c: bytes, ...}, t) -> (downlink bytes, AggregationReport)
    backend.apply_downlink(c, bytes)
    backend.evaluate(c)                -> [MetricRow(own), MetricRow(union)]

``c`` is a client's index (its position in ``clients``).

What a method uploads, how it is merged and how the downlink is used is the
method's :class:`cosim.engine.strategies.Strategy` (one class per method in
:data:`cosim.engine.strategies.METHODS`); this class owns the clients, the
data, the public batches and the downlink envelope.

Clients are int indices (positions in ``clients``, the scenario's expanded
client list), as everywhere at the :class:`Backend` seam; the engine maps an
index to its client's name, and keeps names for its own state (per-client
state dicts, checkpoints, logs, the data shards).

Round t's local update distils toward the knowledge of the last downlink the
client applied (which names its public batch), then ``encode_upload`` runs
round t's public batch: ``public_batch_tokens`` positions, the same for
every client. A payload that does not decode is excluded from aggregation and
listed in the report; it is not an error. The engine never reads a clock to
advance time and does not import simpy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from cosim.engine.config import (
    DataConfig,
    DistillationConfig,
    EngineClientSpec,
    architecture_group,
    check_method_clients,
)
from cosim.engine.data import build_federated_data
from cosim.engine.evaluation import MetricRow, evaluate_client
from cosim.engine.hidden_loss import HiddenProjection
from cosim.engine.host_memory import keep_freed_memory
from cosim.engine.methods import KIND_NONE, pack_downlink, unpack_downlink
from cosim.engine.model_loading import load_tokenizer
from cosim.engine.models import ClientModel, ModelPool, hidden_layer_index, resolve_device
from cosim.engine.strategies import build_strategy
from cosim.engine.strategies.base import (
    AggregationReport,
    Decoded,
    EngineClient,
    MergeInputs,
    UploadPayload,
)
from cosim.engine.training import LocalTrainer, LossWeights, UpdateReport
from cosim.errors import ConfigFieldError, PayloadError, ScenarioError
from cosim.sim.backend import Backend

__all__ = ["AggregationReport", "DistillationBackend", "UpdateReport", "UploadPayload"]


class DistillationBackend(Backend):
    """The federated distillation engine behind the co-simulator (see module docstring)."""

    def __init__(
        self,
        clients: list[EngineClientSpec],
        data: DataConfig,
        distillation: DistillationConfig,
        seed: int,
        owned: Collection[str] | None = None,
        hold_updates: bool = False,
    ) -> None:
        """``owned``: build only these clients' models (None: all). Data, seeds and
        adapter initialisations are those of the full engine, so an engine per
        worker of :mod:`cosim.engine.parallel` computes bit for bit what the
        full engine would; with ``owned=()`` it only aggregates.

        ``hold_updates``: until :meth:`commit_update`, :meth:`evaluate` scores a
        client's weights from before its last update (the co-simulation's causal
        evaluation; the weights before are kept for that time only).
        """
        if not clients:
            raise ScenarioError("clients: the engine needs at least one client")
        names = [c.name for c in clients]
        if len(set(names)) != len(names):
            raise ScenarioError(f"clients: names must be unique, got {names}")
        try:
            check_method_clients(distillation.method, clients)
        except ConfigFieldError as exc:
            raise ScenarioError(str(exc)) from None
        #: Client i's name (the engine's own key for its state, data and checkpoints).
        self._names = names
        self._index = {name: i for i, name in enumerate(names)}
        self.config = distillation
        self.data_config = data
        self.seed = seed
        self.strategy = build_strategy(distillation)
        self.device = resolve_device(distillation.device)
        if self.device.type == "cpu":
            # Cheap on CPU and makes repeated runs bit-identical.
            torch.use_deterministic_algorithms(True, warn_only=True)
            # Freed [positions, V] tensors serve the next ones instead of fresh,
            # kernel-zeroed pages (a quarter of the engine's time; see host_memory).
            keep_freed_memory()
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
        self._clients: dict[str, EngineClient] = {}
        self._groups = {spec.name: architecture_group(spec.model) for spec in clients}
        # Methods that average adapters start each architecture group from one
        # initial adapter (FedAvg's broadcast global model): averaging LoRA's A and
        # B separately is only meaningful when they share their starting point.
        first_of_group: dict[str, int] = {}
        for index, spec in enumerate(clients):
            first_of_group.setdefault(self._groups[spec.name], index)
        for index, (spec, seq) in enumerate(zip(clients, client_seqs, strict=True)):
            if owned is None or spec.name in owned:
                init_index = (first_of_group[self._groups[spec.name]]
                              if self.strategy.shared_init else index)
                self._clients[spec.name] = self._make_client(spec, index, init_index, seq)
        self.round = 0
        self.hold_updates = hold_updates
        #: Client name → its trainable weights before an update not yet committed.
        self.held: dict[str, list[torch.Tensor]] = {}
        #: Client name → (the trainable weights it was last scored with, the rows).
        self.scored: dict[str, tuple[list[torch.Tensor], list[MetricRow]]] = {}

    # ---- construction -------------------------------------------------
    def _make_client(
        self, spec: EngineClientSpec, index: int, init_index: int, seq: np.random.SeedSequence
    ) -> EngineClient:
        cfg = self.config
        model = self.pool.add_client(spec.name, spec.model, index=index, init_index=init_index)
        hidden_index = None
        projection = None
        if self.strategy.hidden:
            hidden_index = hidden_layer_index(cfg.hidden_layer, model.n_layers)
            gen = torch.Generator().manual_seed(int(seq.generate_state(1)[0]))
            projection = HiddenProjection(model.hidden_size, cfg.hidden_rank, generator=gen)
            projection.to(self.device)
        trainer = LocalTrainer(
            model, self.data.shards[spec.name],
            lr=cfg.lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
            batch_size=cfg.batch_size, projection=projection, hidden_index=hidden_index,
        )
        return EngineClient(spec, model, trainer, np.random.default_rng(seq),
                            architecture_group(spec.model))

    # ---- what the caller may ask ------------------------------------------
    @property
    def client_names(self) -> list[str]:
        """Every client's name, by index (client ``i`` is ``client_names[i]``)."""
        return list(self._names)

    @property
    def clients(self) -> Mapping[str, EngineClient]:
        """The state of every client this engine holds, by name (read-only view)."""
        return MappingProxyType(self._clients)

    @property
    def public_batch_tokens(self) -> int:
        """Public token positions each client encodes per round (T)."""
        return self._n_public_seq * self.data_config.seq_len

    def data_size(self, client: int) -> int:
        """Tokens in ``client``'s private shard."""
        return int(self.data.shards[self._name(client)].numel())

    def client_model(self, client: int) -> ClientModel:
        return self._state(client).model

    def model_size(self, client: int) -> tuple[int, int]:
        model = self._state(client).model
        return int(model.n_params()), int(model.n_trainable())

    def public_batch(self, round_index: int) -> torch.Tensor:
        """The public sequences of round ``round_index`` [n_seq, L] (seeded by the round)."""
        rng = np.random.default_rng([*self._public_seed.generate_state(2), round_index])
        rows = rng.choice(len(self.data.public), size=self._n_public_seq, replace=False)
        return self.data.public[torch.from_numpy(np.sort(rows))]

    def public_targets(self, round_index: int) -> np.ndarray:
        """True next token of every public position of round ``round_index`` [T] (−1: unknown).

        Positions are row-major over the batch [n_seq, L]; the last position
        of each sequence has no next token in the batch.
        """
        batch = self.public_batch(round_index).cpu().numpy().astype(np.int64)
        y = np.full(batch.shape, -1, dtype=np.int64)
        y[:, :-1] = batch[:, 1:]
        return y.reshape(-1)

    def _name(self, client: int) -> str:
        """The name of client index ``client``; ScenarioError for no such index."""
        if isinstance(client, bool) or not isinstance(client, (int, np.integer)) or not (
                0 <= client < len(self._names)):
            raise ScenarioError(f"unknown client {client!r}: clients are indices 0 to "
                                f"{len(self._names) - 1}")
        return self._names[int(client)]

    def _state(self, client: int) -> EngineClient:
        name = self._name(client)
        try:
            return self._clients[name]
        except KeyError:
            raise ScenarioError(f"client {client} ({name}) is not held by this engine") from None

    # ---- the interface ------------------------------------------------
    def local_update(self, client: int, round_index: int) -> UpdateReport:
        """Distil toward the last applied knowledge and fine-tune on the private shard."""
        state = self._state(client)
        state.round = round_index
        self.round = max(self.round, round_index)
        cfg = self.config
        knowledge = state.knowledge if self.strategy.distils else None
        public = self.public_batch(knowledge.public_round) if knowledge is not None else None
        name = state.spec.name
        self.held.pop(name, None)  # a new update starts after the last one finished
        before = state.trainer.weights() if self.hold_updates else None
        report = state.trainer.update(
            round_index, cfg.local_steps, state.rng,
            LossWeights(cfg.alpha, cfg.beta, cfg.temperature), knowledge, public,
        )
        if before is not None and not report.skipped:  # a skipped update changed nothing
            self.held[name] = before
        return report

    def commit_update(self, client: int) -> None:
        """From now on :meth:`evaluate` scores ``client``'s updated weights."""
        self.held.pop(self._state(client).spec.name, None)

    @torch.no_grad()
    def encode_upload(
        self, client: int, *, budget_bits: float | None = None, k: int | None = None
    ) -> UploadPayload:
        """Run the round's public batch and encode what the method uploads.

        ``budget_bits`` feeds the adaptive k policies (default: the config's
        ``default_budget_bytes``); ``k`` forces a fixed k. Methods without a
        logit payload ignore both. Raises FloatingPointError when the
        client's logits (or hidden projection) are not finite.
        """
        state = self._state(client)
        return self.strategy.encode(state, self.public_batch(state.round),
                                    budget_bits=budget_bits, k=k)

    def aggregate(
        self, received: dict[int, bytes], round_index: int
    ) -> tuple[bytes, AggregationReport]:
        """Merge the payloads that arrived (client index → whole payload or prefix)
        into downlink bytes.

        Payloads of no client index, that fail to decode, carry no whole token
        record, or score no better than uniform (``likelihood`` weighting) are
        excluded and listed in the report (by client index). With nothing
        usable the downlink says so (kind 0) and clients keep their previous
        knowledge; ``local_only`` sends nothing.
        """
        round_index = int(round_index)
        if not self.strategy.uploads:
            return b"", AggregationReport(round_index, [], {}, {}, 0)
        excluded: dict[int, str] = {}
        # The strategies merge by name, in arrival order.
        decoded: dict[str, Decoded] = {}
        for client, payload in received.items():
            try:
                name = self._name(client)
            except ScenarioError:
                excluded[client] = "unknown client"
                continue
            try:
                result = self.strategy.decode(payload)
            except PayloadError as exc:
                excluded[client] = str(exc)
                continue
            if result.n_tokens_declared and not result.n_tokens:
                excluded[client] = "no whole token record arrived"
                continue
            decoded[name] = result
        index = self._index
        tokens = {index[n]: d.n_tokens for n, d in decoded.items()}
        weights: dict[str, float] = {}
        kind, body = KIND_NONE, b""
        if decoded:
            inputs = self._merge_inputs(round_index, decoded)
            kind, body, weights = self.strategy.merge(decoded, inputs)
        for name, w in weights.items():
            if w <= 0:
                excluded[index[name]] = "no better than uniform on the public text (weight 0)"
        included = sorted(index[n] for n in decoded if index[n] not in excluded)
        downlink = pack_downlink(round_index, kind, body)
        return downlink, AggregationReport(round_index, included, excluded, tokens, len(downlink),
                                           {index[n]: w for n, w in weights.items()})

    def _merge_inputs(self, round_index: int, decoded: dict[str, Decoded]) -> MergeInputs:
        return MergeInputs(
            round=round_index,
            targets=self.public_targets(round_index),
            data_sizes={n: float(self.data.shards[n].numel()) for n in decoded},
            reliability={
                n: (d.n_tokens / d.n_tokens_declared if d.n_tokens_declared else 1.0)
                for n, d in decoded.items()
            },
            groups={n: self._groups[n] for n in decoded},
        )

    def apply_downlink(self, client: int, payload: bytes) -> None:
        """Install the downlink's knowledge (or averaged adapters) on ``client``.

        A corrupt downlink raises :class:`PayloadError`; an empty one is ignored.
        """
        state = self._state(client)
        if not payload:
            return
        round_index, kind, body = unpack_downlink(payload)
        if kind == KIND_NONE:
            return
        self.strategy.apply(state, kind, body, round_index, self.device)

    def evaluate(self, client: int) -> list[MetricRow]:
        """Loss, perplexity and top-1 accuracy on the own-domain and union test splits.

        The score is a function of the client's trainable weights alone (the base is
        frozen, the splits fixed): when they equal, element for element, the weights
        it was last scored with (no update committed since, e.g. one still running
        in simulated time), that score's rows are returned without a forward pass.
        """
        state = self._state(client)
        name = state.spec.name
        before = self.held.get(name)
        # an update still running in simulated time: score the weights before it
        weights = before if before is not None else state.trainer.weights()
        last = self.scored.get(name)
        if last is not None and all(
            torch.equal(a, b) for a, b in zip(last[0], weights, strict=True)
        ):
            rows = list(last[1])
        else:
            rows = self._score(state, before)
            self.scored[name] = (weights, rows)
        state.trainer.check_learning(rows)  # warns once if the client cannot beat uniform
        return list(rows)

    def _score(self, state: EngineClient, before: list[torch.Tensor] | None) -> list[MetricRow]:
        """Evaluate ``state``'s model, with the weights ``before`` loaded if given."""
        budget = self.data_config.eval_tokens
        L = self.data_config.seq_len
        own = self.data.tests[self.data.own_domain[state.spec.name]][: max(1, budget // L)]
        splits = {"own": own, "union": self.data.union_test(budget)}
        batch = self.config.batch_size * 2
        if before is None:
            return evaluate_client(state.model, splits, batch)
        after = state.trainer.weights()
        state.trainer.load_weights(before)
        try:
            return evaluate_client(state.model, splits, batch)
        finally:
            state.trainer.load_weights(after)

    # ---- checkpoints --------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """See :func:`cosim.engine.state.engine_state`."""
        from cosim.engine.state import engine_state

        return engine_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :func:`cosim.engine.state.load_engine_state`."""
        from cosim.engine.state import load_engine_state

        load_engine_state(self, state)
