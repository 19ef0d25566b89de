"""Non-codec payloads of the methods (DESIGN.md 1.6) and the downlink envelope.

The methods themselves are strategies (:mod:`cosim.engine.strategies`); this
module holds the plain functions they share: LoRA adapters as ``safetensors``
bytes (the real tensors, their own dtype) and their FedAvg mean, the
``fd_full`` dense mean, and the 10-byte envelope every downlink is wrapped in
so a client knows which round's public batch the knowledge refers to::

    magic "CSDL" | version u8 | kind u8 | round u32     (little-endian)
    kind: 0 nothing, 1 codec payload, 2 safetensors adapters
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from cosim.engine.codec_sparse import DenseLogits, SparseLogits
from cosim.errors import PayloadError

KIND_NONE, KIND_CODEC, KIND_ADAPTERS = 0, 1, 2
_ENVELOPE = struct.Struct("<4sBBI")
_MAGIC = b"CSDL"
_VERSION = 1


def pack_downlink(round_index: int, kind: int, body: bytes) -> bytes:
    """Wrap a downlink body in the envelope (see module docstring)."""
    return _ENVELOPE.pack(_MAGIC, _VERSION, kind, round_index) + body


def unpack_downlink(payload: bytes) -> tuple[int, int, bytes]:
    """(round, kind, body) of a downlink; :class:`PayloadError` if malformed."""
    if len(payload) < _ENVELOPE.size:
        raise PayloadError(f"downlink: {len(payload)} bytes is shorter than its envelope")
    magic, version, kind, round_index = _ENVELOPE.unpack_from(payload)
    if magic != _MAGIC:
        raise PayloadError(f"downlink: bad magic {magic!r}")
    if version != _VERSION:
        raise PayloadError(f"downlink: unknown version {version}")
    if kind not in (KIND_NONE, KIND_CODEC, KIND_ADAPTERS):
        raise PayloadError(f"downlink: unknown kind {kind}")
    return round_index, kind, payload[_ENVELOPE.size :]


def adapters_to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """LoRA tensors as safetensors bytes (the fedavg_lora payload)."""
    return save_safetensors({k: v.detach().contiguous().cpu() for k, v in state.items()})


def adapters_from_bytes(payload: bytes) -> dict[str, torch.Tensor]:
    """Inverse of :func:`adapters_to_bytes`; :class:`PayloadError` when corrupt."""
    try:
        state = load_safetensors(bytes(payload))
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise PayloadError(f"adapter payload: cannot parse safetensors ({exc})") from exc
    for key, value in state.items():
        if not torch.isfinite(value).all():
            raise PayloadError(f"adapter payload: tensor {key!r} has non-finite values")
    return state


def average_adapters(
    states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]
) -> dict[str, torch.Tensor]:
    """``Σ_i w̃_i θ_i`` per tensor with ``w̃ = w / Σ w`` (FedAvg of LoRA weights).

    All states must have the same keys and shapes (one architecture group).
    """
    w = np.asarray(weights, dtype=np.float64)
    if len(states) == 0 or w.shape != (len(states),) or not np.all(w >= 0) or w.sum() <= 0:
        raise ValueError("average_adapters: need one non-negative weight per state, sum > 0")
    w = w / w.sum()
    keys = states[0].keys()
    for state in states[1:]:
        if state.keys() != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise ValueError("average_adapters: states differ in keys or shapes")
    return {
        k: sum(float(wi) * s[k].double() for wi, s in zip(w, states, strict=True)).to(
            states[0][k].dtype
        )
        for k in keys
    }


def mean_dense(
    clients: Sequence[DenseLogits], weights: Sequence[float]
) -> DenseLogits:
    """fd_full server: ``Q_j = Σ_i w̃_ij softmax_i,j`` over the clients that sent token j.

    Clients may have delivered different prefixes; w̃ is renormalised per token.
    Returns log Q [T_max, V] (float32; the payload carries fp16 or 8 bits).
    """
    T = max(c.n_tokens for c in clients)
    V = clients[0].vocab_size
    w = np.asarray(weights, dtype=np.float64)
    total = np.zeros(T)
    for c, wi in zip(clients, w, strict=True):
        total[: c.n_tokens] += wi
    if len(clients) == 1:
        return DenseLogits(np.asarray(clients[0].log_probs, dtype=np.float32))
    acc = np.zeros((T, V), dtype=np.float32)
    for c, wi in zip(clients, w, strict=True):
        n = c.n_tokens
        share = (wi / np.maximum(total[:n], 1e-300)).astype(np.float32)[:, None]
        acc[:n] += share * np.exp(np.asarray(c.log_probs, dtype=np.float32))
    np.maximum(acc, np.float32(1e-30), out=acc)
    return DenseLogits(np.log(acc, out=acc))


def dense_to_sparse(dense: DenseLogits) -> SparseLogits:
    """Full distributions as k = V records with zero residual (KD targets)."""
    T, V = dense.n_tokens, dense.vocab_size
    probs = np.exp(dense.log_probs.astype(np.float64))
    probs /= probs.sum(axis=1, keepdims=True)
    return SparseLogits(
        vocab_size=V,
        offsets=np.arange(T + 1, dtype=np.int64) * V,
        indices=np.tile(np.arange(V, dtype=np.int64), T),
        probs=probs.astype(np.float32).ravel(),
        residual=np.zeros(T, dtype=np.float32),
        hidden=dense.hidden,
    )
