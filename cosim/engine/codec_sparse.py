"""In-memory knowledge representations that the payload codec carries.

:class:`SparseLogits` is one party's knowledge about T public token positions:
for token j a set S_j of k_j vocabulary entries with probabilities p_j(v), the
residual mass ``r_j = 1 − Σ_{v∈S_j} p_j(v)`` and optionally a hidden
projection z_j ∈ R^r. The ragged sets are stored CSR style::

    offsets  [T+1] int64     entries of token j are offsets[j]:offsets[j+1]
    indices  [nnz] int64     vocabulary ids, strictly increasing within a token
    probs    [nnz] float32   p_j(v) in [0, 1]
    residual [T]   float32   r_j in [0, 1]
    hidden   [T, r] float32  optional

Record j always refers to public position j of the round's batch (the batch
is agreed on the downlink), so positions are implicit and cost no bytes; a
partial delivery is a prefix ``0..m−1``.

The *reconstructed distribution* of token j spreads the residual uniformly over
the V − k_j unreported entries::

    q_j(v) = p_j(v)               v ∈ S_j
    q_j(v) = r_j / (V − k_j)      otherwise      (0 when k_j = V)

:class:`DenseLogits` holds full log-probabilities [T, V] for the ``fd_full``
baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def segment_sum(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``out[j] = Σ_{e: rows[e] = j} values[e]`` [n] float64 (float even when empty)."""
    return np.bincount(rows, weights=np.asarray(values, dtype=np.float64),
                       minlength=n).astype(np.float64, copy=False)


@dataclass(frozen=True, eq=False)
class SparseLogits:
    """Per-token top-k probabilities + residual mass (+ hidden vectors), CSR layout."""

    vocab_size: int
    offsets: np.ndarray
    indices: np.ndarray
    probs: np.ndarray
    residual: np.ndarray
    hidden: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size: must be >= 1, got {self.vocab_size}")
        off = self.offsets
        if off.ndim != 1 or off.size < 1 or off[0] != 0:
            raise ValueError("offsets: must be a 1-D array [T+1] starting at 0")
        if np.any(np.diff(off) < 0):
            raise ValueError("offsets: must be non-decreasing")
        nnz = int(off[-1])
        if self.indices.shape != (nnz,) or self.probs.shape != (nnz,):
            raise ValueError(
                f"indices/probs: must have shape ({nnz},), got "
                f"{self.indices.shape} and {self.probs.shape}"
            )
        if self.residual.shape != (off.size - 1,):
            raise ValueError(f"residual: must have shape ({off.size - 1},)")
        if self.hidden is not None and (
            self.hidden.ndim != 2 or self.hidden.shape[0] != off.size - 1
        ):
            raise ValueError(f"hidden: must have shape ({off.size - 1}, r)")

    @property
    def n_tokens(self) -> int:
        """T, the number of token records."""
        return int(self.offsets.size - 1)

    @property
    def k(self) -> np.ndarray:
        """k_j per token [T] int64."""
        return np.diff(self.offsets)

    @property
    def hidden_dim(self) -> int:
        """r, the hidden-projection width (0 without hidden vectors)."""
        return 0 if self.hidden is None else int(self.hidden.shape[1])

    def rows(self) -> np.ndarray:
        """Token index of every entry [nnz] int64."""
        return np.repeat(np.arange(self.n_tokens, dtype=np.int64), self.k)

    def floor(self) -> np.ndarray:
        """Per-token probability of an unreported entry, r_j / (V − k_j) [T] float64."""
        free = (self.vocab_size - self.k).astype(np.float64)
        res = self.residual.astype(np.float64)
        return np.divide(res, free, out=np.zeros_like(res), where=free > 0)

    def prefix(self, m: int) -> SparseLogits:
        """The first ``m`` token records (what a partial delivery carries)."""
        m = max(0, min(int(m), self.n_tokens))
        end = int(self.offsets[m])
        return SparseLogits(
            vocab_size=self.vocab_size,
            offsets=self.offsets[: m + 1].copy(),
            indices=self.indices[:end].copy(),
            probs=self.probs[:end].copy(),
            residual=self.residual[:m].copy(),
            hidden=None if self.hidden is None else self.hidden[:m].copy(),
        )

    def check(self) -> None:
        """Validate values (not just shapes); raise ValueError naming the first problem."""
        V = self.vocab_size
        if self.indices.size:
            if self.indices.min() < 0 or self.indices.max() >= V:
                raise ValueError(f"indices: must be in [0, {V}), got range "
                                 f"[{self.indices.min()}, {self.indices.max()}]")
            inner = np.ones(self.indices.size, dtype=bool)
            inner[self.offsets[:-1][self.k > 0]] = False  # first entry of each token
            if np.any(np.diff(self.indices)[inner[1:]] <= 0):
                raise ValueError("indices: must be strictly increasing within each token")
        if not np.all((self.probs >= 0) & (self.probs <= 1)):
            raise ValueError("probs: must be finite and in [0, 1]")
        if not np.all((self.residual >= 0) & (self.residual <= 1)):
            raise ValueError("residual: must be finite and in [0, 1]")
        total = segment_sum(self.rows(), self.probs, self.n_tokens) + self.residual
        if np.any(total <= 0):
            raise ValueError("probs + residual: every token needs positive total mass")
        if self.hidden is not None and not np.all(np.isfinite(self.hidden)):
            raise ValueError("hidden: must be finite")

    def dense_probs(self) -> np.ndarray:
        """The reconstructed distribution q [T, V] float64 (tests and small V only)."""
        q = np.repeat(self.floor()[:, None], self.vocab_size, axis=1)
        q[self.rows(), self.indices] = self.probs
        return q

    def entropy(self) -> np.ndarray:
        """Entropy [nats] of the reconstructed distribution per token [T] float64.

        ``H_j = −Σ_{S_j} p log p − r_j log(r_j / (V − k_j))``. Spreading the
        residual uniformly maximises entropy given the reported entries, so this
        is an upper bound on the sender's true entropy (tight when k_j is large).
        """
        p = self.probs.astype(np.float64)
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        h = -segment_sum(self.rows(), plogp, self.n_tokens)
        f = self.floor()
        r = self.residual.astype(np.float64)
        h -= np.where(f > 0, r * np.log(np.where(f > 0, f, 1.0)), 0.0)
        return h


@dataclass(frozen=True, eq=False)
class DenseLogits:
    """Full log-probabilities over V for every token (the ``fd_full`` baseline).

    ``log_probs`` [T, V] float32 (natural log), ``hidden`` [T, r] or None.
    """

    log_probs: np.ndarray
    hidden: np.ndarray | None = None

    @property
    def n_tokens(self) -> int:
        return int(self.log_probs.shape[0])

    @property
    def vocab_size(self) -> int:
        return int(self.log_probs.shape[1])

    @property
    def hidden_dim(self) -> int:
        return 0 if self.hidden is None else int(self.hidden.shape[1])


def sparse_from_rows(
    indices: np.ndarray,
    probs: np.ndarray,
    k: np.ndarray,
    vocab_size: int,
    hidden: np.ndarray | None = None,
) -> SparseLogits:
    """Build canonical :class:`SparseLogits` from per-row candidate lists.

    ``indices``/``probs`` [T, K]: candidates of each token (any order, distinct
    per row); token j keeps its first ``k[j]`` columns (``0 <= k[j] <= K``).
    Entries are re-sorted by vocabulary id; ``r_j = max(0, 1 − Σ kept probs)``.
    """
    indices = np.asarray(indices, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    T, K = indices.shape
    k = np.asarray(k, dtype=np.int64)
    if k.shape != (T,) or np.any(k < 0) or np.any(k > K):
        raise ValueError(f"k: must be [T] with 0 <= k <= {K}")
    keep = np.arange(K)[None, :] < k[:, None]
    # sort kept entries by id; dropped ones go last via a sentinel key
    key = np.where(keep, indices, np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    idx_sorted = np.take_along_axis(indices, order, axis=1)[keep]
    p_sorted = np.take_along_axis(probs, order, axis=1)[keep]
    kept_mass = np.where(keep, probs, 0.0).sum(axis=1)
    offsets = np.zeros(T + 1, dtype=np.int64)
    np.cumsum(k, out=offsets[1:])
    return SparseLogits(
        vocab_size=int(vocab_size),
        offsets=offsets,
        indices=idx_sorted,
        probs=p_sorted.astype(np.float32),
        residual=np.clip(1.0 - kept_mass, 0.0, 1.0).astype(np.float32),
        hidden=None if hidden is None else np.asarray(hidden, dtype=np.float32),
    )


@dataclass(frozen=True, eq=False)
class TopKCandidates:
    """A client's top-``K_max`` entries per token, most probable first.

    ``indices`` [T, K_max] int64, ``log_probs`` [T, K_max] float32 (descending
    along each row), ``entropy`` [T] float64 exact entropy [nats] of the full
    distribution, ``hidden`` [T, r] or None. k policies pick a k_j per token
    and keep the first k_j columns.
    """

    vocab_size: int
    indices: np.ndarray
    log_probs: np.ndarray
    entropy: np.ndarray
    hidden: np.ndarray | None = None

    @property
    def n_tokens(self) -> int:
        return int(self.indices.shape[0])

    @property
    def k_max(self) -> int:
        return int(self.indices.shape[1])

    def select(self, k: np.ndarray | int, n_tokens: int | None = None) -> SparseLogits:
        """Keep the first ``k[j]`` candidates of tokens ``0..n_tokens−1``."""
        m = self.n_tokens if n_tokens is None else int(n_tokens)
        kk = np.asarray(k, dtype=np.int64)
        kk = np.full(m, int(kk)) if kk.ndim == 0 else kk[:m]
        if kk.shape != (m,):
            raise ValueError(f"k: need one value per sent token ({m}), got {kk.shape}")
        hidden = None if self.hidden is None else self.hidden[:m]
        return sparse_from_rows(
            self.indices[:m], np.exp(self.log_probs[:m].astype(np.float64)), kk,
            self.vocab_size, hidden,
        )


@torch.no_grad()
def candidates_from_logits(
    logits: torch.Tensor,
    k_max: int,
    temperature: float = 1.0,
    hidden: torch.Tensor | None = None,
) -> TopKCandidates:
    """Top-``k_max`` candidates of ``softmax(logits / temperature)``.

    ``logits`` [T, V] (any float dtype, any device); ``hidden`` [T, r] or None.
    The exact entropy ``H = −Σ_v p log p`` [nats] is computed from the dense
    logits here, where they exist anyway.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits: must be [T, V], got shape {tuple(logits.shape)}")
    V = int(logits.shape[1])
    k_max = min(int(k_max), V)
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    entropy = torch.special.entr(logp.exp()).sum(dim=-1)
    top_lp, top_idx = torch.topk(logp, k_max, dim=-1, sorted=True)
    return TopKCandidates(
        vocab_size=V,
        indices=top_idx.cpu().numpy().astype(np.int64),
        log_probs=top_lp.cpu().numpy().astype(np.float32),
        entropy=entropy.cpu().double().numpy(),
        hidden=None if hidden is None else hidden.detach().float().cpu().numpy(),
    )
