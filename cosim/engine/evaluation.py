"""Held-out evaluation: next-token loss, perplexity and top-1 accuracy.

For a batch of sequences x [n, L] the model predicts x[:, 1:] from x[:, :-1]::

    loss       = mean over the n·(L-1) positions of −log p(x_{t+1} | x_{≤t})   [nats/token]
    perplexity = exp(loss)
    accuracy   = mean of [argmax_v p(v | x_{≤t}) == x_{t+1}]

Splits: ``own`` (the client's own domain's test set) and ``union`` (equal
shares of every domain's test set).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional

from cosim.engine.models import ClientModel


@dataclass(frozen=True)
class MetricRow:
    """One evaluation result (a row of the trace's ``metrics`` table)."""

    client: str
    split: str
    loss: float
    perplexity: float
    accuracy: float
    tokens: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@torch.no_grad()
def evaluate_sequences(
    client: ClientModel, sequences: torch.Tensor, batch_size: int
) -> tuple[float, float, int]:
    """(mean loss [nats/token], top-1 accuracy, scored positions) on sequences [n, L]."""
    client.activate()
    client.model.eval()  # no dropout when measuring
    total_loss = 0.0
    correct = 0
    count = 0
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size].to(client.device)
        logits, _ = client.forward(batch[:, :-1])
        logits = logits.float()
        target = batch[:, 1:]
        total_loss += functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum"
        ).item()
        correct += int((logits.argmax(dim=-1) == target).sum().item())
        count += target.numel()
    return total_loss / count, correct / count, count


def evaluate_client(
    client: ClientModel,
    splits: dict[str, torch.Tensor],
    batch_size: int,
) -> list[MetricRow]:
    """One :class:`MetricRow` per split name in ``splits`` (sequences [n, L])."""
    rows = []
    for split, sequences in splits.items():
        loss, accuracy, count = evaluate_sequences(client, sequences, batch_size)
        perplexity = math.exp(min(loss, 700.0))  # exp overflows float64 past ~709
        rows.append(MetricRow(client.name, split, loss, perplexity, accuracy, count))
    return rows
