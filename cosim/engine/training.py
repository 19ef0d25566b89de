"""A client's local update: distil toward the global knowledge, fine-tune LoRA.

Each of the ``local_steps`` AdamW steps minimises (DESIGN.md 1.5)::

    L = L_CE(private minibatch)
        + α · τ² · KL_{k+1}(q_global ‖ softmax(z_student / τ)) (public batch, k+1 bins)
        + β · L_hidden(A_i h_student, z_global)               (public batch, scale-free)
        + β · CE(softmax(E · A_i sg(h_private)), y_private)    (anchor, private batch)

- The private minibatch is ``batch_size`` sequences drawn from the shard with
  the client's numpy generator; L_CE is the mean next-token cross-entropy.
- The public batch is the one the global knowledge refers to (the previous
  round's); every step uses all of its delivered token positions. The KD term
  is the tail-bucket KL :func:`cosim.engine.kd_loss.kd_loss_tail_bucket`
  (which includes τ²); ``LossWeights.kd_tail="flat"`` selects the flat-tail
  :func:`cosim.engine.kd_loss.sparse_kd_loss` instead (a labelled ablation).
- Terms without a target (first round, ``local_only``, ``fedavg_lora``) are 0.
- The anchor (DESIGN 1.5) ties the projection A_i to the shared space of the
  public decoder E (:func:`cosim.engine.hidden_loss.shared_decoder`); it runs
  whenever the client has a projection and β > 0, from the first round, so
  the first uploaded z already means something. ``sg``: the hidden state is
  detached, so the anchor trains A_i only and never bends the model towards a
  rank-r decoder.

A non-finite loss or gradient restores the trainable weights and optimizer
state from before the update and reports the update as skipped.

FLOPs reported: :meth:`ClientModel.train_flops` of the token positions
trained on (private + public), see :mod:`cosim.engine.models`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional

from cosim.engine.codec_sparse import SparseLogits
from cosim.engine.evaluation import MetricRow, warn_if_not_learning
from cosim.engine.hidden_loss import anchor_loss, hidden_alignment_loss, shared_decoder
from cosim.engine.kd_loss import (
    SparseTargets,
    dense_kd_loss,
    kd_loss_tail_bucket,
    sparse_kd_loss,
)
from cosim.engine.models import ClientModel


@dataclass
class GlobalKnowledge:
    """What a client holds from the last downlink.

    ``public_round``: the round whose public batch the targets describe;
    ``targets`` covers its first ``targets.n_tokens`` positions (row-major
    over the batch's [n_seq, L] positions); ``hidden`` [m, r] or None.
    ``dense`` [m, V]: full teacher probabilities instead of ``targets``
    (``fd_full``; the KD loss is then the plain dense KL, k = V, no tail bin).
    """

    public_round: int
    targets: SparseTargets | None = None
    hidden: torch.Tensor | None = None
    dense: torch.Tensor | None = None

    @classmethod
    def from_sparse(
        cls, public_round: int, sl: SparseLogits, device: torch.device
    ) -> GlobalKnowledge:
        hidden = None
        if sl.hidden is not None:
            hidden = torch.as_tensor(sl.hidden, dtype=torch.float32, device=device)
        return cls(public_round, SparseTargets.from_sparse(sl, device), hidden)


@dataclass
class UpdateReport:
    """Outcome of one local update (what the co-simulator's compute model reads).

    ``flops`` [FLOP] of the work done; ``tokens`` trained on; ``loss`` the mean
    total loss over the steps (NaN when skipped); component means alongside;
    ``wall_s`` [s] measured, for information only (simulated time comes from flops).
    ``client`` is the client's index.
    """

    client: int
    round: int
    flops: float
    tokens: int
    steps: int
    loss: float
    ce_loss: float
    kd_loss: float
    hidden_loss: float
    skipped: bool = False
    reason: str = ""
    wall_s: float = 0.0


@dataclass(frozen=True)
class LossWeights:
    """α (KD), β (hidden) and the temperature τ of the local objective.

    ``kd_tail``: ``"bucket"`` (default) folds the student's unreported mass
    into one bin; ``"flat"`` matches a target whose residual is spread
    uniformly over the unreported tokens (teaches a flat tail; ablation only).
    """

    alpha: float
    beta: float
    temperature: float
    kd_tail: Literal["bucket", "flat"] = "bucket"

    def __post_init__(self) -> None:
        if self.kd_tail not in ("bucket", "flat"):
            raise ValueError(f"kd_tail: must be bucket or flat, got {self.kd_tail!r}")


class LocalTrainer:
    """Per-client optimizer and update loop (one per client, kept across rounds)."""

    def __init__(
        self,
        client: ClientModel,
        shard: torch.Tensor,
        *,
        lr: float,
        weight_decay: float,
        grad_clip: float,
        batch_size: int,
        projection: torch.nn.Module | None,
        hidden_index: int | None,
        decoder: torch.Tensor | None = None,
    ) -> None:
        """``decoder`` [V, r]: the shared public decoder of the anchor loss
        (default, when there is a projection: :func:`shared_decoder` from the
        embedding table)."""
        self.client = client
        self.shard = shard
        self.batch_size = batch_size
        self.grad_clip = grad_clip
        self.projection = projection
        self.hidden_index = hidden_index
        self.decoder: torch.Tensor | None = None
        if projection is not None:
            client.extra_modules.append(projection)
            if decoder is None:
                vocab = int(client.model.get_output_embeddings().weight.shape[0])
                decoder = shared_decoder(vocab, int(projection.weight.shape[0]))
            self.decoder = decoder.to(client.device)
        client.activate()
        self.params = client.trainable_parameters()
        self.updates_done = 0  # completed (not skipped) calls of update()
        self.client_round = 0  # round index of the last update
        self._learning_checked = False
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)

    def check_learning(self, rows: list[MetricRow]) -> bool:
        """Warn (once, after the first completed update) if the client's own-domain
        loss in ``rows`` does not beat uniform by 2 nats; see
        :func:`cosim.engine.evaluation.warn_if_not_learning`. True if it warned."""
        if self._learning_checked or self.updates_done == 0:
            return False
        self._learning_checked = True
        vocab = int(self.client.model.get_output_embeddings().weight.shape[0])
        return warn_if_not_learning(self.client.name, self.client_round, rows, vocab)

    def weights(self) -> list[torch.Tensor]:
        """A copy of the trainable weights."""
        return [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def load_weights(self, weights: list[torch.Tensor]) -> None:
        """Copy ``weights`` (as :meth:`weights` gave them) into the trainable weights."""
        for p, w in zip(self.params, weights, strict=True):
            p.copy_(w)

    def _snapshot(self) -> tuple[list[torch.Tensor], dict]:
        return self.weights(), copy.deepcopy(self.optimizer.state_dict())

    def _restore(self, snapshot: tuple[list[torch.Tensor], dict]) -> None:
        weights, opt_state = snapshot
        self.load_weights(weights)
        self.optimizer.load_state_dict(opt_state)

    def update(
        self,
        round_index: int,
        steps: int,
        rng: np.random.Generator,
        weights: LossWeights,
        knowledge: GlobalKnowledge | None,
        public_batch: torch.Tensor | None,
    ) -> UpdateReport:
        """Run ``steps`` steps of the local objective; see the module docstring.

        ``public_batch`` [n_seq, L]: the batch ``knowledge`` refers to (or None).
        """
        client = self.client
        client.activate()
        self.client_round = round_index
        use_kd = (knowledge is not None and weights.alpha > 0
                  and (knowledge.targets is not None or knowledge.dense is not None))
        use_hidden = (
            knowledge is not None
            and knowledge.hidden is not None
            and knowledge.hidden.shape[0] >= 2  # the scale-free loss needs 2 tokens
            and self.projection is not None
            and weights.beta > 0
        )
        public_tokens = 0
        if (use_kd or use_hidden) and public_batch is not None:
            covered = knowledge.targets.n_tokens if knowledge.targets is not None else 0
            covered = max(covered, 0 if knowledge.dense is None else knowledge.dense.shape[0])
            covered = max(covered, 0 if knowledge.hidden is None else knowledge.hidden.shape[0])
            public_tokens = min(covered, public_batch.numel())
        if public_tokens == 0:
            use_kd = use_hidden = False
        snapshot = self._snapshot()
        start = time.perf_counter()
        tokens = [0]
        # Dropout (LoRA's, or a base model's) draws from torch's global RNG:
        # fork it and seed from the client's generator, so updates are
        # reproducible and the caller's RNG state is untouched.
        devices = [client.device] if client.device.type == "cuda" else []
        was_training = client.training
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(rng.integers(2**63)))
                client.set_training(True)
                sums = self._run_steps(
                    steps, rng, weights, knowledge, public_batch, public_tokens,
                    use_kd, use_hidden, tokens,
                )
        except FloatingPointError as exc:
            self._restore(snapshot)
            return UpdateReport(
                client.index, round_index, client.train_flops(tokens[0]), tokens[0], steps,
                float("nan"), float("nan"), float("nan"), float("nan"),
                skipped=True, reason=str(exc), wall_s=time.perf_counter() - start,
            )
        finally:
            client.set_training(was_training)  # shared base: restore for the other adapters
            self.optimizer.zero_grad(set_to_none=True)
        means = sums / max(steps, 1)
        self.updates_done += 1
        return UpdateReport(
            client.index, round_index, client.train_flops(tokens[0]), tokens[0], steps,
            float(means[0]), float(means[1]), float(means[2]), float(means[3]),
            wall_s=time.perf_counter() - start,
        )

    def _run_steps(
        self,
        steps: int,
        rng: np.random.Generator,
        weights: LossWeights,
        knowledge: GlobalKnowledge | None,
        public_batch: torch.Tensor | None,
        public_tokens: int,
        use_kd: bool,
        use_hidden: bool,
        tokens: list[int],
    ) -> np.ndarray:
        """The optimisation loop; sums of (total, CE, KD, hidden) losses [4].

        ``tokens[0]`` is advanced as work is done, so a failure still reports it.
        Raises FloatingPointError on a non-finite loss or gradient norm.
        """
        client = self.client
        sums = np.zeros(4)
        for _ in range(steps):
            rows = rng.integers(0, len(self.shard), size=min(self.batch_size, len(self.shard)))
            private = self.shard[torch.from_numpy(rows)].to(client.device)
            use_anchor = self.decoder is not None and weights.beta > 0
            logits, hidden = client.forward(
                private[:, :-1], self.hidden_index if use_anchor else None
            )
            ce = functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), private[:, 1:].reshape(-1)
            )
            total = ce
            kd = hid = torch.zeros((), device=client.device)
            if use_anchor:
                h = hidden.detach().float().reshape(-1, hidden.shape[-1])
                hid = anchor_loss(self.projection(h), self.decoder, private[:, 1:])
                total = total + weights.beta * hid
            tokens[0] += private.numel()
            if use_kd or use_hidden:
                kd, align = self._public_losses(
                    public_batch, public_tokens, knowledge, weights, use_kd, use_hidden
                )
                total = total + weights.alpha * kd + weights.beta * align
                hid = hid + align
                tokens[0] += public_batch.numel()
            if not torch.isfinite(total):
                raise FloatingPointError(f"non-finite loss {total.item()}")
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
            if not torch.isfinite(norm):
                raise FloatingPointError("non-finite gradient")
            self.optimizer.step()
            sums += [total.item(), ce.item(), kd.item(), hid.item()]
        return sums

    def _public_losses(
        self,
        public_batch: torch.Tensor,
        n_tokens: int,
        knowledge: GlobalKnowledge,
        weights: LossWeights,
        use_kd: bool,
        use_hidden: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        client = self.client
        logits, hidden = client.forward(
            public_batch.to(client.device), self.hidden_index if use_hidden else None
        )
        zero = torch.zeros((), device=client.device)
        kd = hid = zero
        if use_kd and knowledge.dense is not None:
            flat = logits.float().reshape(-1, logits.shape[-1])[: knowledge.dense.shape[0]]
            kd = dense_kd_loss(flat, knowledge.dense, weights.temperature)
        elif use_kd:
            targets = knowledge.targets
            flat = logits.float().reshape(-1, logits.shape[-1])[: targets.n_tokens]
            loss_fn = kd_loss_tail_bucket if weights.kd_tail == "bucket" else sparse_kd_loss
            kd = loss_fn(flat, targets, weights.temperature)
        if use_hidden:
            z_target = knowledge.hidden
            h = hidden.float().reshape(-1, hidden.shape[-1])[: z_target.shape[0]]
            hid = hidden_alignment_loss(self.projection(h), z_target)
        return kd, hid
