"""Payload codec: round trips, prefix decoding, size accounting, corrupt input."""

from __future__ import annotations

import contextlib
import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosim.engine import codec
from cosim.engine.codec_sparse import DenseLogits, SparseLogits, sparse_from_rows
from cosim.errors import PayloadError


def random_sparse(
    rng: np.random.Generator, T: int, V: int, k_max: int, hidden_dim: int = 0,
    k: np.ndarray | None = None,
) -> SparseLogits:
    """T tokens with k_j ~ U{0..k_max} (or given), random ids and Dirichlet probabilities."""
    k_max = min(k_max, V)
    if k is None:
        k = rng.integers(0, k_max + 1, size=T)
    ids = np.stack([rng.choice(V, k_max, replace=False) for _ in range(T)]) if T else \
        np.zeros((0, k_max), np.int64)
    probs = rng.dirichlet(np.ones(k_max + 1), size=T)[:, :k_max] if T else np.zeros((0, k_max))
    hidden = rng.normal(size=(T, hidden_dim)).astype(np.float32) if hidden_dim else None
    return sparse_from_rows(ids, probs, k, V, hidden)


def assert_same_sparse(a: SparseLogits, b: SparseLogits, rtol: float, atol: float) -> None:
    assert a.vocab_size == b.vocab_size
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.probs, b.probs, rtol=rtol, atol=atol)
    np.testing.assert_allclose(a.residual, b.residual, rtol=rtol, atol=atol)


# fp16 log p has relative error ≤ 2^-11·|log p| (≤ 0.8% for p ≥ 1e-7's |log p| < 16,
# mostly far less); the joint renormalisation moves every value by the same factor.
FP16_RTOL = 1e-2
Q8_STEP = 1 / 16


@pytest.mark.parametrize("value_format", ["fp16", "q8"])
@pytest.mark.parametrize("hidden_dim", [0, 5])
def test_round_trip_variable_k(value_format: str, hidden_dim: int) -> None:
    rng = np.random.default_rng(1)
    k = rng.integers(0, 51, size=40)
    k[[0, 7, 39]] = 0
    sl = random_sparse(rng, T=40, V=3000, k_max=50, hidden_dim=hidden_dim, k=k)
    assert (k == 0).any() and len(set(k.tolist())) > 10  # variable k including k = 0
    payload = codec.encode(sl, value_format)  # type: ignore[arg-type]
    assert len(payload) == codec.encoded_size(sl, value_format)  # type: ignore[arg-type]
    out = codec.decode(payload, allow_partial=False)
    assert out.complete and out.n_tokens == 40 and out.value_format == value_format
    assert out.consumed_bytes == len(payload)
    dec = out.logits
    assert isinstance(dec, SparseLogits)
    if value_format == "fp16":
        assert_same_sparse(dec, sl, rtol=FP16_RTOL, atol=1e-6)
    else:
        np.testing.assert_array_equal(dec.indices, sl.indices)
        # each value within step/2 in log, renormalisation adds at most another step/2
        ratio = np.log(np.maximum(dec.probs, 1e-30) / np.maximum(sl.probs, 1e-30))
        assert np.all(np.abs(ratio[sl.probs > 1e-6]) <= Q8_STEP + 1e-3)
    total = np.bincount(dec.rows(), weights=dec.probs, minlength=40) + dec.residual
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    if hidden_dim:
        np.testing.assert_allclose(dec.hidden, sl.hidden, rtol=1e-3, atol=1e-3)
    else:
        assert dec.hidden is None


def test_extreme_k_records() -> None:
    V = 17
    rng = np.random.default_rng(2)
    sl = random_sparse(rng, T=5, V=V, k_max=V, k=np.array([0, V, 1, 0, V]))
    dec = codec.decode(codec.encode(sl)).logits
    assert isinstance(dec, SparseLogits)
    np.testing.assert_array_equal(dec.k, [0, V, 1, 0, V])
    np.testing.assert_array_equal(dec.indices, sl.indices)
    assert dec.residual[0] == pytest.approx(1.0)  # k = 0: everything is residual


@pytest.mark.parametrize("hidden_dim", [0, 4])
def test_empty_payload_round_trip(hidden_dim: int) -> None:
    sl = random_sparse(np.random.default_rng(3), T=0, V=100, k_max=4, hidden_dim=hidden_dim)
    payload = codec.encode(sl)
    assert len(payload) == codec.HEADER_BYTES
    out = codec.decode(payload, allow_partial=False)
    assert out.n_tokens == 0 and out.complete
    assert out.logits.hidden_dim == hidden_dim


@pytest.mark.parametrize("hidden_dim", [0, 3])
def test_prefix_decodes_whole_records_at_every_cut(hidden_dim: int) -> None:
    rng = np.random.default_rng(4)
    sl = random_sparse(rng, T=15, V=700, k_max=30, hidden_dim=hidden_dim)
    payload = codec.encode(sl, "q8")
    full = codec.decode(payload).logits
    ends = codec.HEADER_BYTES + np.cumsum(codec.record_sizes(sl, "q8"))
    for cut in range(codec.HEADER_BYTES, len(payload) + 1):
        out = codec.decode(payload[:cut])
        m = int(np.searchsorted(ends, cut, side="right"))
        assert out.n_tokens == m, cut
        assert out.consumed_bytes == (ends[m - 1] if m else codec.HEADER_BYTES)
        assert out.complete == (m == 15)
        assert_same_sparse(out.logits, full.prefix(m), rtol=0, atol=0)  # type: ignore[arg-type]
        if m < 15:
            with pytest.raises(PayloadError, match="truncated payload"):
                codec.decode(payload[:cut], allow_partial=False)


def test_truncated_header_raises() -> None:
    payload = codec.encode(random_sparse(np.random.default_rng(5), 3, 50, 5))
    for cut in range(codec.HEADER_BYTES):
        with pytest.raises(PayloadError, match="truncated header"):
            codec.decode(payload[:cut])


def test_every_header_byte_corruption_is_detected() -> None:
    payload = bytearray(codec.encode(random_sparse(np.random.default_rng(6), 3, 50, 5)))
    for i in range(codec.HEADER_BYTES):
        bad = bytearray(payload)
        bad[i] ^= 0x5A
        with pytest.raises(PayloadError):
            codec.decode(bytes(bad))


def _with_header(payload: bytes, **fields: int) -> bytes:
    """Rewrite header fields and re-seal the checksum (a forged but well-formed header)."""
    magic, version, flags, V, T, r, step, _ = codec.HEADER.unpack_from(payload)
    vals = {"flags": flags, "V": V, "T": T, "r": r} | fields
    head = codec.HEADER.pack(magic, version, vals["flags"], vals["V"], vals["T"], vals["r"],
                             step, 0)[:-4]
    return head + struct.pack("<I", zlib.crc32(head)) + payload[codec.HEADER_BYTES:]


def test_impossible_values_raise() -> None:
    rng = np.random.default_rng(7)
    sl = random_sparse(rng, 4, 1000, 20, k=np.array([20, 20, 20, 20]))
    payload = codec.encode(sl)
    with pytest.raises(PayloadError, match=r"exceeds vocabulary size|>= vocabulary size"):
        codec.decode(_with_header(payload, V=10))  # k = 20 > V, ids beyond V
    top = int(sl.indices.max())
    with pytest.raises(PayloadError, match="vocabulary"):
        codec.decode(_with_header(payload, V=top))  # largest id == V
    with pytest.raises(PayloadError, match="trailing bytes"):
        codec.decode(payload + b"\x00")
    with pytest.raises(PayloadError, match="trailing bytes"):
        codec.decode(_with_header(payload, T=3))
    with pytest.raises(PayloadError, match="unknown header flags"):
        codec.decode(_with_header(payload, flags=0x80))
    with pytest.raises(PayloadError, match="hidden"):
        codec.decode(_with_header(payload, r=4))
    # residual of record 0 (after its 1-byte varint) set to 1.5 and to NaN
    for bad_residual in (1.5, -0.25, float("nan")):
        bad = bytearray(payload)
        bad[codec.HEADER_BYTES + 1: codec.HEADER_BYTES + 3] = np.float16(bad_residual).tobytes()
        with pytest.raises(PayloadError, match="residual"):
            codec.decode(bytes(bad))
    # a positive log-probability in the last value of the last record
    bad = bytearray(payload)
    bad[-2:] = np.float16(0.5).tobytes()
    with pytest.raises(PayloadError, match="log-probability"):
        codec.decode(bytes(bad))


def test_decoding_never_trusts_declared_sizes() -> None:
    payload = codec.encode(random_sparse(np.random.default_rng(8), 2, 100, 5))
    # a header claiming 2^32 − 1 tokens over a tiny body decodes what is there, fast
    out = codec.decode(_with_header(payload, T=2**32 - 1))
    assert out.n_tokens == 2 and not out.complete
    # a record claiming k = 2^28 in a 30-byte body is an incomplete record, not an allocation
    huge = codec.encode(random_sparse(np.random.default_rng(8), 0, 2**31, 1))
    body = bytes([0x80, 0x80, 0x80, 0x80, 0x01]) + b"\x00" * 25
    out = codec.decode(_with_header(huge + body, T=1))
    assert out.n_tokens == 0


@pytest.mark.parametrize("value_format,value_bits", [("fp16", 16), ("q8", 8)])
def test_size_within_ten_percent_of_information_bound(value_format: str, value_bits: int) -> None:
    """V = 49152, k = 32, uniformly random id sets (the bound's worst case)."""
    rng = np.random.default_rng(9)
    V, k, T = 49152, 32, 256
    sl = random_sparse(rng, T, V, k, k=np.full(T, k))
    size = len(codec.encode(sl, value_format))  # type: ignore[arg-type]
    bound = codec.information_bound_bits(V, np.full(T, k), value_bits)
    assert bound / 8 / T == pytest.approx(
        (math.log2(math.comb(V, k)) + k * value_bits) / 8, rel=1e-9
    )
    assert 8 * size <= 1.10 * bound
    assert codec.overhead(size, V, np.full(T, k), value_format) < 0.10  # type: ignore[arg-type]
    # index coding beats ⌈log2 V⌉ = 16 bits per index
    naive = T * (k * (16 + value_bits) + 16)
    assert 8 * size < naive


@pytest.mark.parametrize("value_format", ["fp16", "q8"])
def test_dense_round_trip_and_prefix(value_format: str) -> None:
    rng = np.random.default_rng(10)
    logits = rng.normal(size=(6, 40)) * 3
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    dl = DenseLogits(logp.astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32))
    payload = codec.encode_dense(dl, value_format)  # type: ignore[arg-type]
    rec = 40 * codec.VALUE_BYTES[value_format] + 4
    assert len(payload) == codec.HEADER_BYTES + 6 * rec
    out = codec.decode(payload, allow_partial=False)
    assert isinstance(out.logits, DenseLogits) and out.complete
    tol = 1e-2 if value_format == "fp16" else Q8_STEP  # q8: step/2 rounding + renormalisation
    in_range = logp > -254 * Q8_STEP  # q8 clips log p below −255·step
    np.testing.assert_allclose(out.logits.log_probs[in_range], logp[in_range], atol=tol)
    np.testing.assert_allclose(np.exp(out.logits.log_probs).sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.logits.hidden, dl.hidden, atol=1e-2)
    part = codec.decode(payload[: codec.HEADER_BYTES + 2 * rec + 7])
    assert part.n_tokens == 2 and not part.complete
    with pytest.raises(PayloadError, match="trailing"):
        codec.decode(payload + b"\x01")


def test_encode_rejects_invalid_input() -> None:
    sl = random_sparse(np.random.default_rng(11), 3, 50, 5, k=np.array([2, 2, 2]))
    bad = SparseLogits(sl.vocab_size, sl.offsets, sl.indices[::-1].copy(), sl.probs, sl.residual)
    with pytest.raises(ValueError, match="increasing"):
        codec.encode(bad)
    with pytest.raises(ValueError, match="value_format"):
        codec.encode(sl, "bf16")  # type: ignore[arg-type]


# --- fuzzing: nothing but PayloadError may escape ----------------------------------------

_VALID = [
    codec.encode(random_sparse(np.random.default_rng(s), 6, 300, 12, hidden_dim=h), fmt)
    for s, h, fmt in [(20, 0, "fp16"), (21, 2, "q8"), (22, 0, "q8")]
] + [codec.encode_dense(DenseLogits(np.full((3, 8), -math.log(8), np.float32)))]


def _decode_or_payload_error(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        codec.decode(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_payload_error(data: bytes) -> None:
    _decode_or_payload_error(data)
    _decode_or_payload_error(_VALID[0][: codec.HEADER_BYTES] + data)


@settings(max_examples=400, deadline=None)
@given(
    which=st.integers(0, len(_VALID) - 1),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                   max_size=6),
    cut=st.integers(0, 10**6),
    reseal=st.booleans(),
)
def test_mutated_payloads_only_raise_payload_error(
    which: int, edits: list[tuple[int, int]], cut: int, reseal: bool
) -> None:
    data = bytearray(_VALID[which])
    for pos, val in edits:
        data[pos % len(data)] = val
    if reseal:  # forged header that passes the checksum: exercises the record checks
        head = bytes(data[: codec.HEADER_BYTES - 4])
        data[codec.HEADER_BYTES - 4: codec.HEADER_BYTES] = struct.pack("<I", zlib.crc32(head))
    data = data[: cut % (len(data) + 1)]
    _decode_or_payload_error(bytes(data))
