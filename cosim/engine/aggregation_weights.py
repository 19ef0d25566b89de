"""Client weights for aggregation, per client and token (DESIGN.md 1.4).

Raw weights w_ij ≥ 0 for client i and token j (the aggregator normalises them
over the clients that delivered token j):

* ``uniform``      w_ij = 1
* ``data_size``    w_ij = n_i, the client's private data size (e.g. tokens)
* ``reliability``  w_ij = ρ_i, a given link reliability (e.g. the delivery
                   ratio the server measured), ≥ 0
* ``confidence``   w_ij = 1 / (Ĥ_ij + ε), inverse entropy. Ĥ_ij [nats] is the
                   entropy of client i's *reconstructed* distribution for token
                   j (reported probabilities + residual spread uniformly,
                   :meth:`SparseLogits.entropy`): an upper bound on the
                   client's true entropy, tight when the residual is small.
                   ε [nats] (default 0.1) caps the weight of a near-certain
                   client at 1/ε.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from cosim.engine.codec_sparse import SparseLogits

Weighting = Literal["uniform", "data_size", "confidence", "reliability"]


def _per_client(name: str, values: Sequence[float] | None, n: int) -> np.ndarray:
    if values is None:
        raise ValueError(f"{name}: required by this weighting")
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: need one value per client ({n}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr >= 0)):
        raise ValueError(f"{name}: must be finite and >= 0, got {arr.tolist()}")
    return arr


def client_weights(
    clients: Sequence[SparseLogits],
    weighting: Weighting = "uniform",
    *,
    data_sizes: Sequence[float] | None = None,
    reliability: Sequence[float] | None = None,
    confidence_eps_nats: float = 0.1,
) -> list[np.ndarray]:
    """Raw weights w_ij, one array [T_i] per client (see module docstring)."""
    n = len(clients)
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
    raise ValueError(
        f"weighting: must be uniform, data_size, confidence or reliability, got {weighting!r}"
    )
