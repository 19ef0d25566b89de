"""Held-out evaluation: next-token loss, perplexity and top-1 accuracy.

For a batch of sequences x [n, L] the model predicts x[:, 1:] from x[:, :-1]::

    loss       = mean over the n·(L-1) positions of −log p(x_{t+1} | x_{≤t})   [nats/token]
    perplexity = exp(loss)
    accuracy   = mean of [argmax_v p(v | x_{≤t}) == x_{t+1}]

Splits: ``own`` (the client's own domain's test set) and ``union`` (equal
shares of every domain's test set). Loss/perplexity are the primary metric,
accuracy secondary (DESIGN.md 1.7); ``DataConfig.eval_tokens`` (default 2048)
sets how many held-out tokens each split scores.

Learning check: a client whose own-domain loss after its first round is not
below ``log V − 2`` nats (perplexity above V/e² ≈ 6,650 at V = 49152) has
not learnt anything useful (uniform is log V); :func:`warn_if_not_learning`
logs a warning naming it on the ``cosim`` logger.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional

from cosim.engine.models import ClientModel

log = logging.getLogger("cosim")

UNIFORM_MARGIN_NATS = 2.0


@dataclass(frozen=True)
class MetricRow:
    """One evaluation result (a row of the trace's ``metrics`` table); ``client``: its index."""

    client: int
    split: str
    loss: float
    perplexity: float
    accuracy: float
    tokens: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


#: Scores of batches already run: batch content and shape → (summed loss [nats], correct,
#: positions).
BatchScores = dict[bytes, tuple[float, int, int]]


@torch.inference_mode()
def score_batch(client: ClientModel, batch: torch.Tensor) -> tuple[float, int, int]:
    """(summed loss [nats], correct top-1 predictions, scored positions) of one batch [b, L].

    The caller activates the client and switches dropout off.
    """
    batch = batch.to(client.device)
    logits, _ = client.forward(batch[:, :-1])
    logits = logits.float()
    target = batch[:, 1:]
    loss = functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum"
    ).item()
    correct = int((logits.argmax(dim=-1) == target).sum().item())
    return loss, correct, target.numel()


def evaluate_sequences(
    client: ClientModel, sequences: torch.Tensor, batch_size: int,
    scored: BatchScores | None = None,
) -> tuple[float, float, int]:
    """(mean loss [nats/token], top-1 accuracy, scored positions) on sequences [n, L].

    ``scored``: scores of batches run before with the same weights (e.g. for
    another split); a batch found there is not run again (same sequences, same
    batch, so the same numbers), and new batches are added to it.
    """
    client.activate()
    client.set_training(False)  # no dropout when measuring
    scored = {} if scored is None else scored
    total_loss = 0.0
    correct = 0
    count = 0
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size]
        key = batch.cpu().numpy().tobytes() + repr(tuple(batch.shape)).encode()
        if key not in scored:
            scored[key] = score_batch(client, batch)
        batch_loss, batch_correct, batch_count = scored[key]
        total_loss += batch_loss
        correct += batch_correct
        count += batch_count
    return total_loss / count, correct / count, count


def evaluate_client(
    client: ClientModel,
    splits: dict[str, torch.Tensor],
    batch_size: int,
) -> list[MetricRow]:
    """One :class:`MetricRow` per split name in ``splits`` (sequences [n, L]).

    A batch found in several splits is run once: the ``union`` split's share
    of the client's own domain is the ``own`` split's first batch whenever
    that share is ``batch_size`` sequences (the quickstart's: 1 of its 8 batches).
    """
    rows = []
    scored: BatchScores = {}
    for split, sequences in splits.items():
        loss, accuracy, count = evaluate_sequences(client, sequences, batch_size, scored)
        perplexity = math.exp(min(loss, 700.0))  # exp overflows float64 past ~709
        rows.append(MetricRow(client.index, split, loss, perplexity, accuracy, count))
    return rows


def beats_uniform(loss: float, vocab_size: int, margin_nats: float = UNIFORM_MARGIN_NATS) -> bool:
    """Whether a mean loss [nats/token] is below ``log V − margin`` (uniform: log V)."""
    return math.isfinite(loss) and loss < math.log(vocab_size) - margin_nats


def warn_if_not_learning(
    client: str, round_index: int, rows: list[MetricRow], vocab_size: int
) -> bool:
    """Log a warning naming ``client`` if its ``own`` loss does not beat uniform.

    Returns True when it warned. The caller decides when to ask (once, after
    the client's first round). Rows of other splits are ignored.
    """
    own = [r for r in rows if r.split == "own"]
    if not own or beats_uniform(own[0].loss, vocab_size):
        return False
    row = own[0]
    log.warning(
        "client %r cannot beat uniform after round %d: own-domain CE %.2f nats "
        "(perplexity %.3g) is not below log V - %.0f = %.2f (uniform: %.2f); its "
        "uploads carry no knowledge (check its model preset and learning rate)",
        client, round_index, row.loss, row.perplexity, UNIFORM_MARGIN_NATS,
        math.log(vocab_size) - UNIFORM_MARGIN_NATS, math.log(vocab_size),
    )
    return True
