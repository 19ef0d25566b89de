"""Client weights for aggregation, per client and token (DESIGN.md 1.4).

Raw weights w_ij ≥ 0 for client i and token j (the aggregator normalises them
over the clients that delivered token j):

* ``likelihood`` (default)  quality first. The server knows the public text,
                   so it knows the true next token y_j of every public
                   position. Each upload is scored by the mean log-probability
                   it gives them::

                       ℓ_i = mean_{j: y_j known} log p̂_ij(y_j)
                       p̂_ij(y) = p_ij(y) if y ∈ S_ij, else r_ij / (V − |S_ij|)

                   and ``w_ij = exp((ℓ_i − max_i ℓ_i) / T_w)`` (∝ exp(ℓ_i / T_w));
                   an upload with ``ℓ_i ≤ −log V + ε`` (no better than uniform)
                   gets weight 0. ε = 0.01 nats absorbs the payload's value
                   rounding (an fp16 residual near 1 is off by up to 5e-4).
                   T_w [nats] is ``likelihood_temperature_nats``.
* ``uniform``      w_ij = 1
* ``data_size``    w_ij = n_i, the client's private data size (e.g. tokens)
* ``reliability``  w_ij = ρ_i, a given link reliability (e.g. the delivery
                   ratio the server measured), ≥ 0
* ``confidence``   w_ij = 1 / (Ĥ_ij + ε), inverse entropy of the reconstructed
                   distribution (:meth:`SparseLogits.entropy`). Not a default:
                   confidently wrong models win it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import get_args

import numpy as np

from cosim.engine.codec_sparse import DenseLogits, SparseLogits
from cosim.engine.config import ClientWeighting as Weighting

WEIGHTINGS: tuple[str, ...] = get_args(Weighting)

# log-probability floor [nats] for a true token a client gave (numerically) zero mass
_LOG_FLOOR = math.log(1e-30)
# margin [nats] over −log V an upload must beat to count as better than uniform
UNIFORM_MARGIN_NATS = 0.01


def _per_client(name: str, values: Sequence[float] | None, n: int) -> np.ndarray:
    if values is None:
        raise ValueError(f"{name}: required by this weighting")
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: need one value per client ({n}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr >= 0)):
        raise ValueError(f"{name}: must be finite and >= 0, got {arr.tolist()}")
    return arr


def true_token_log_probs(client: SparseLogits | DenseLogits, targets: np.ndarray) -> np.ndarray:
    """``log p̂_ij(y_j)`` for the client's delivered tokens whose y_j is known (y_j ≥ 0).

    ``targets`` [≥ T_i] int: y_j, or −1 where the next token is unknown (the
    last position of a sequence). Returns the values of the known tokens only.
    """
    T = client.n_tokens
    y = np.asarray(targets, dtype=np.int64)[:T]
    if y.shape != (T,):
        raise ValueError(f"targets: need at least {T} entries, got {np.asarray(targets).shape}")
    known = np.flatnonzero(y >= 0)
    if isinstance(client, DenseLogits):
        return np.maximum(client.log_probs[known, y[known]].astype(np.float64), _LOG_FLOOR)
    p_hat = client.floor()[known]
    # y_j among the reported ids: ids are sorted within a token, so search each token's run
    rows = client.rows()
    hit = client.indices == y[rows]
    hit_rows = rows[hit]
    reported = np.zeros(T)
    has = np.zeros(T, dtype=bool)
    reported[hit_rows] = client.probs[hit].astype(np.float64)
    has[hit_rows] = True
    p_hat = np.where(has[known], reported[known], p_hat)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p_hat), _LOG_FLOOR)


def likelihood_scores(
    clients: Sequence[SparseLogits | DenseLogits], targets: np.ndarray
) -> np.ndarray:
    """ℓ_i [nats] per client (−inf for a client with no token of known y)."""
    out = np.full(len(clients), -np.inf)
    for i, c in enumerate(clients):
        lp = true_token_log_probs(c, targets)
        if lp.size:
            out[i] = float(lp.mean())
    return out


def likelihood_weights(
    scores: np.ndarray, vocab_size: int, temperature_nats: float = 1.0
) -> np.ndarray:
    """Per-client weights ``exp((ℓ_i − max ℓ) / T_w)``, 0 where ``ℓ_i ≤ −log V + ε`` [n]."""
    if not temperature_nats > 0:
        raise ValueError(f"temperature_nats: must be > 0, got {temperature_nats}")
    scores = np.asarray(scores, dtype=np.float64)
    useful = scores > -math.log(vocab_size) + UNIFORM_MARGIN_NATS
    w = np.zeros(scores.shape)
    if useful.any():
        top = scores[useful].max()
        w[useful] = np.exp((scores[useful] - top) / temperature_nats)
    return w


def client_weights(
    clients: Sequence[SparseLogits],
    weighting: Weighting = "uniform",
    *,
    data_sizes: Sequence[float] | None = None,
    reliability: Sequence[float] | None = None,
    targets: np.ndarray | None = None,
    likelihood_temperature_nats: float = 1.0,
    confidence_eps_nats: float = 0.1,
) -> list[np.ndarray]:
    """Raw weights w_ij, one array [T_i] per client (see module docstring)."""
    n = len(clients)
    if weighting == "likelihood":
        if targets is None:
            raise ValueError("targets: required by the likelihood weighting (true next tokens)")
        V = clients[0].vocab_size if clients else 1
        w = likelihood_weights(likelihood_scores(clients, targets), V,
                               likelihood_temperature_nats)
        return [np.full(c.n_tokens, wi) for c, wi in zip(clients, w, strict=True)]
    if weighting == "uniform":
        return [np.ones(c.n_tokens) for c in clients]
    if weighting == "data_size":
        sizes = _per_client("data_sizes", data_sizes, n)
        return [np.full(c.n_tokens, s) for c, s in zip(clients, sizes, strict=True)]
    if weighting == "reliability":
        rel = _per_client("reliability", reliability, n)
        return [np.full(c.n_tokens, r) for c, r in zip(clients, rel, strict=True)]
    if weighting == "confidence":
        if not confidence_eps_nats > 0:
            raise ValueError(f"confidence_eps_nats: must be > 0, got {confidence_eps_nats}")
        return [1.0 / (np.maximum(c.entropy(), 0.0) + confidence_eps_nats) for c in clients]
    raise ValueError(f"weighting: must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
