"""Server-side merging of the clients' sparse knowledge (DESIGN.md 1.4).

Client i delivered tokens ``0..T_i−1`` (a prefix; partial uplinks are
shorter). For token j it reported the set S_ij with probabilities p_ij(v), the
residual r_ij and the floor ``f_ij = r_ij / (V − k_ij)``. Client weights w_ij
(:mod:`cosim.engine.aggregation_weights`) are normalised over the clients that
delivered token j: ``w̃_ij = w_ij / Σ_{i: T_i > j} w_ij``. U_j = ∪_i S_ij.

Policies (all computed on the union entries, never dense [T, V] per client):

* ``residual`` (default): each client's full distribution is its reported
  probabilities plus its floor elsewhere; the result is the weighted mean::

      Q_j(v) = F_j + Σ_{i: v ∈ S_ij} w̃_ij (p_ij(v) − f_ij),   v ∈ U_j
      Q_j(v) = F_j = Σ_i w̃_ij f_ij                           (shared floor), v ∉ U_j

* ``masked_mean``: for each v average only over the clients that reported it,
  then renormalise the union to the clients' mean reported mass::

      Q̃_j(v) = Σ_{i: v∈S_ij} w̃_ij p_ij(v) / Σ_{i: v∈S_ij} w̃_ij
      Q_j(v) = Q̃_j(v) · (1 − r̄_j) / Σ_{u∈U_j} Q̃_j(u),   r̄_j = Σ_i w̃_ij r_ij

* ``zero_pad`` (the paper's baseline): unreported *probabilities* are 0; the
  weighted mean over clients is renormalised over the union of reported
  tokens::

      Q̃_j(v) = Σ_{i: v∈S_ij} w̃_ij p_ij(v),    Q_j(v) = Q̃_j(v) / Σ_{u∈U_j} Q̃_j(u)

  (no mass off U_j: the clients' residuals are dropped).

* ``zero_pad_logits`` (illustration only, never a baseline): zero-pad
  *log*-probabilities, average and softmax over V::

      L_j(v) = Σ_{i: v∈S_ij} w̃_ij ℓ_ij(v)   (0 for v ∉ U_j),   Q_j = softmax(L_j)

  ``zero_pad_logits="log_prob"`` uses ``ℓ = log p`` (what the codec carries);
  since log p ≤ 0, the V − |U_j| zero-filled entries then *outrank* every
  reported one and invert the teacher (its argmax is an unreported token).
  ``"centered"`` subtracts the client's estimated vocabulary-mean log-prob
  ``m̂_ij = (Σ_S log p + (V − k) log f_ij) / V`` first, a proxy for raw
  (roughly zero-mean) LM logits.

Invariants (tested): merging one client returns that client's top entries and
argmax under every policy; with quality weights
(:mod:`cosim.engine.aggregation_weights`) a client no better than uniform
barely moves the merged cross-entropy on the true tokens.

The result goes down as the global top-``k_down`` of Q_j plus the residual
``1 − Σ top-k_down``: a :class:`SparseLogits` the codec encodes as is (tokens
whose union is smaller than k_down send the whole union). Hidden projections
are averaged with the same w̃_ij over the clients that delivered the token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import numpy as np

from cosim.engine.aggregation_weights import Weighting, client_weights
from cosim.engine.codec_sparse import SparseLogits, segment_sum
from cosim.engine.config import ResolvedAggregation as AggregationPolicy
from cosim.engine.config import ZeroPadLogits

POLICIES: tuple[str, ...] = get_args(AggregationPolicy)

_LOG_TINY = float(np.log(1e-30))
# top-k_down uses a padded matrix unless it would exceed 4·nnz + this many cells
_MATRIX_SLACK = 4096


def aggregate(
    clients: Sequence[SparseLogits],
    policy: AggregationPolicy = "residual",
    *,
    weighting: Weighting = "uniform",
    data_sizes: Sequence[float] | None = None,
    reliability: Sequence[float] | None = None,
    targets: np.ndarray | None = None,
    likelihood_temperature_nats: float = 1.0,
    k_down: int = 64,
    zero_pad_logits: ZeroPadLogits = "log_prob",
    confidence_eps_nats: float = 0.1,
) -> SparseLogits:
    """Merge what the clients delivered into the global top-``k_down`` + residual.

    ``targets`` [T] (true next token ids, −1 unknown) is required by the
    ``likelihood`` weighting.
    """
    weights = client_weights(clients, weighting, data_sizes=data_sizes,
                             reliability=reliability, targets=targets,
                             likelihood_temperature_nats=likelihood_temperature_nats,
                             confidence_eps_nats=confidence_eps_nats)
    return aggregate_weighted(clients, weights, policy, k_down=k_down,
                              zero_pad_logits=zero_pad_logits)


def aggregate_weighted(
    clients: Sequence[SparseLogits],
    weights: Sequence[np.ndarray],
    policy: AggregationPolicy = "residual",
    *,
    k_down: int = 64,
    zero_pad_logits: ZeroPadLogits = "log_prob",
) -> SparseLogits:
    """:func:`aggregate` with explicit per-token weights ``weights[i]`` [T_i] (≥ 0)."""
    if not clients:
        raise ValueError("clients: nothing to aggregate")
    if policy not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    if k_down < 1:
        raise ValueError(f"k_down: must be >= 1, got {k_down}")
    V = clients[0].vocab_size
    if any(c.vocab_size != V for c in clients):
        raise ValueError("clients: vocabulary sizes differ")
    T = max(c.n_tokens for c in clients)
    wn = _normalised_weights(clients, weights, T)

    rows = np.concatenate([c.rows() for c in clients])
    idx = np.concatenate([c.indices for c in clients])
    p = np.concatenate([c.probs for c in clients]).astype(np.float64)
    w_e = np.concatenate([w[c.rows()] for c, w in zip(clients, wn, strict=True)])
    f_tok = [c.floor() for c in clients]
    f_e = np.concatenate([f[c.rows()] for c, f in zip(clients, f_tok, strict=True)])
    live = w_e > 0  # zero-weight clients contribute nothing anywhere
    rows, idx, p, w_e, f_e = rows[live], idx[live], p[live], w_e[live], f_e[live]
    keys = rows * V + idx

    if policy == "residual":
        floor = _token_sum(T, clients, wn, f_tok)
        u_keys, (dev,) = _group_sum(keys, [w_e * (p - f_e)])
        u_rows = u_keys // V
        q = floor[u_rows] + dev
    elif policy == "masked_mean":
        u_keys, (num, den) = _group_sum(keys, [w_e * p, w_e])
        u_rows = u_keys // V
        q_tilde = num / den
        r_bar = _token_sum(T, clients, wn, [c.residual.astype(np.float64) for c in clients])
        union_mass = segment_sum(u_rows, q_tilde, T)
        scale = np.divide(1.0 - r_bar, union_mass, out=np.zeros(T), where=union_mass > 0)
        q = q_tilde * scale[u_rows]
    elif policy == "zero_pad":
        u_keys, (num,) = _group_sum(keys, [w_e * p])
        u_rows = u_keys // V
        union_mass = segment_sum(u_rows, num, T)
        q = num / np.maximum(union_mass, 1e-300)[u_rows]
    else:
        logit = _zero_pad_logits(clients, zero_pad_logits, f_tok)[live]
        u_keys, (lsum,) = _group_sum(keys, [w_e * logit])
        u_rows = u_keys // V
        q = _sparse_softmax(lsum, u_rows, T, V)
    out = _top_k(u_keys % V, u_rows, q, T, V, k_down)
    hidden = _mean_hidden(clients, wn, T)
    return SparseLogits(V, out[0], out[1], out[2], out[3], hidden)


def _normalised_weights(
    clients: Sequence[SparseLogits], weights: Sequence[np.ndarray], T: int
) -> list[np.ndarray]:
    """w̃_ij: weights normalised over the clients that delivered token j."""
    if len(weights) != len(clients):
        raise ValueError(f"weights: need one array per client ({len(clients)}), got {len(weights)}")
    ws = []
    for i, (c, w) in enumerate(zip(clients, weights, strict=True)):
        w = np.broadcast_to(np.asarray(w, dtype=np.float64), (c.n_tokens,))
        if not np.all(np.isfinite(w) & (w >= 0)):
            raise ValueError(f"weights[{i}]: must be finite and >= 0")
        ws.append(w)
    total = np.zeros(T)
    count = np.zeros(T)
    for w in ws:
        total[: w.size] += w
        count[: w.size] += 1
    # tokens whose deliverers all have weight 0 fall back to a uniform mean
    fallback = total <= 0
    return [
        np.where(fallback[: w.size], 1.0 / np.maximum(count[: w.size], 1),
                 w / np.where(fallback[: w.size], 1.0, total[: w.size]))
        for w in ws
    ]


def _token_sum(T: int, clients: Sequence[SparseLogits], wn: Sequence[np.ndarray],
               values: Sequence[np.ndarray]) -> np.ndarray:
    """Σ_i w̃_ij x_ij per token [T]."""
    out = np.zeros(T)
    for c, w, x in zip(clients, wn, values, strict=True):
        out[: c.n_tokens] += w * x
    return out


def _group_sum(keys: np.ndarray, values: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sum ``values`` over equal ``keys``; returns sorted unique keys and the sums.

    Each client's keys are already sorted, so a stable sort only merges N runs.
    """
    if keys.size == 0:
        return keys, [v[:0] for v in values]
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.concatenate([[0], np.flatnonzero(sk[1:] != sk[:-1]) + 1])
    return sk[starts], [np.add.reduceat(v[order], starts) for v in values]


def _zero_pad_logits(clients: Sequence[SparseLogits], mode: ZeroPadLogits,
                     f_tok: Sequence[np.ndarray]) -> np.ndarray:
    """ℓ_ij(v) per reported entry, concatenated over clients [Σ nnz]."""
    parts = []
    for c, f in zip(clients, f_tok, strict=True):
        with np.errstate(divide="ignore"):
            logp = np.log(c.probs.astype(np.float64))
        if mode == "centered":
            logp = np.maximum(logp, _LOG_TINY)
            free = c.vocab_size - c.k
            log_f = np.log(np.maximum(f, 1e-30))
            s = segment_sum(c.rows(), logp, c.n_tokens)
            mean = (s + free * log_f) / c.vocab_size
            logp = logp - mean[c.rows()]
        elif mode != "log_prob":
            raise ValueError(f"zero_pad_logits: must be log_prob or centered, got {mode!r}")
        parts.append(logp)
    return np.concatenate(parts)


def _sparse_softmax(logit: np.ndarray, rows: np.ndarray, T: int, V: int) -> np.ndarray:
    """softmax over V of a logit vector that is ``logit`` on the union and 0 elsewhere.

    ``rows`` [n] must be sorted (entries grouped by token).
    """
    top = np.zeros(T)  # max(0, max_U L): the zero-filled entries count too
    if rows.size:  # rows are sorted: one reduceat per run of equal rows
        heads = np.concatenate([[0], np.flatnonzero(rows[1:] != rows[:-1]) + 1])
        top[rows[heads]] = np.maximum(np.maximum.reduceat(logit, heads), 0.0)
    ex = np.exp(logit - top[rows])
    n_union = np.bincount(rows, minlength=T)
    z = segment_sum(rows, ex, T) + (V - n_union) * np.exp(-top)
    return ex / z[rows]


def _top_k(idx: np.ndarray, rows: np.ndarray, q: np.ndarray, T: int, V: int,
           k_down: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-token top-``k_down`` of union entries (sorted by (row, id)) → CSR + residual."""
    counts = np.bincount(rows, minlength=T)
    starts = np.cumsum(counts) - counts
    big = np.flatnonzero(counts > k_down)  # only these tokens need a selection
    keep = np.ones(rows.size, dtype=bool)
    if big.size:
        width = int(counts[big].max())
        if big.size * width <= 4 * rows.size + _MATRIX_SLACK:
            # padded [n_big, width] matrix: argpartition per row
            slot = np.full(T, -1)
            slot[big] = np.arange(big.size)
            in_big = slot[rows] >= 0
            local = np.arange(rows.size) - starts[rows]
            mat = np.full((big.size, width), -1.0)
            mat[slot[rows[in_big]], local[in_big]] = q[in_big]
            cols = np.argpartition(-mat, k_down - 1, axis=1)[:, :k_down]
            keep[in_big] = False
            keep[(starts[big][:, None] + cols).ravel()] = True
        else:
            # one very wide token would make the matrix huge: rank by a sort instead
            order = np.lexsort((-q, rows))
            rank = np.empty(rows.size, dtype=np.int64)
            rank[order] = np.arange(rows.size) - starts[rows[order]]
            keep = rank < k_down
    sel = np.flatnonzero(keep)
    k = np.bincount(rows[sel], minlength=T)
    offsets = np.zeros(T + 1, dtype=np.int64)
    np.cumsum(k, out=offsets[1:])
    probs = q[sel]
    mass = segment_sum(rows[sel], probs, T)
    residual = np.clip(1.0 - mass, 0.0, 1.0)
    return offsets, idx[sel].astype(np.int64), probs.astype(np.float32), residual.astype(np.float32)


def _mean_hidden(clients: Sequence[SparseLogits], wn: Sequence[np.ndarray],
                 T: int) -> np.ndarray | None:
    with_hidden = [c.hidden is not None for c in clients]
    if not any(with_hidden):
        return None
    if not all(with_hidden) or len({c.hidden_dim for c in clients}) != 1:
        raise ValueError("clients: all or none must carry hidden vectors of one width")
    out = np.zeros((T, clients[0].hidden_dim))
    for c, w in zip(clients, wn, strict=True):
        out[: c.n_tokens] += w[:, None] * c.hidden  # type: ignore[index]
    return out.astype(np.float32)
