"""The payload codec: :class:`SparseLogits` / :class:`DenseLogits` ↔ real bytes.

Layout (all integers little-endian)::

    header (24 bytes)
      magic  "CSKD" | version u8 | flags u8 | V u32 | T u32 | r u16 | q8 step f32 | crc32 u32
      flags: bit 0 hidden vectors, bit 1 dense records, bits 2-3 value format
             (0 = fp16 log-prob, 1 = 8-bit quantised log-prob); other bits 0.
      crc32 covers the 20 bytes before it.
    T token-major records, each byte aligned:
      sparse: k (LEB128 varint) | r_j (fp16) | [b u8 | Rice stream of the ids] | k values | hidden
      dense:  V values | hidden
    values: fp16 ``log p`` [nats], or q8 code ``c = clip(round(−log p / step), 0, 255)``
            decoded as ``log p = −c · step``;
    hidden: r fp16 values.

The Rice stream is described in :mod:`cosim.engine.codec_rice`. Every record is
self-delimiting, so any prefix of whole records decodes: :func:`decode` returns
the records that arrived and drops a trailing partial one. Decoded records are
renormalised jointly, ``p ← p / Z`` and ``r ← r / Z`` with ``Z = Σ p + r``,
which removes the value quantisation's bias while keeping each part's relative
precision.

Decoding is bounded by the payload: the header's T and each record's k are
never used to preallocate; every record is checked to lie inside the bytes
before its entries are materialised. Corrupt input raises
:class:`cosim.errors.PayloadError`. Records carry no checksum of their own (the
link layer's CRC/HARQ delivers a transport block intact or not at all); the
header's CRC guards the fields that give every byte its meaning.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from cosim.engine import codec_rice
from cosim.engine.codec_sparse import DenseLogits, SparseLogits, segment_sum
from cosim.engine.config import ValueFormat
from cosim.errors import PayloadError

MAGIC = b"CSKD"
VERSION = 1
HEADER = struct.Struct("<4sBBIIHfI")
HEADER_BYTES = HEADER.size
FLAG_HIDDEN = 0x01
FLAG_DENSE = 0x02
_FORMAT_CODES: dict[str, int] = {"fp16": 0, "q8": 1}
_FORMAT_NAMES = {v: k for k, v in _FORMAT_CODES.items()}
DEFAULT_Q8_STEP = 1.0 / 16.0   # [nats]: codes cover log p in [−15.9, 0]
MAX_Q8_STEP = 1.0              # [nats]
VALUE_BYTES: dict[str, int] = {"fp16": 2, "q8": 1}


@dataclass(frozen=True, eq=False)
class Decoded:
    """What :func:`decode` recovered from a (possibly partial) payload."""

    logits: SparseLogits | DenseLogits
    n_tokens: int            # whole records decoded (tokens 0..n_tokens−1)
    n_tokens_declared: int   # T from the header
    value_format: ValueFormat
    consumed_bytes: int      # header + whole records

    @property
    def complete(self) -> bool:
        return self.n_tokens == self.n_tokens_declared


def _header(
    n_tokens: int, vocab_size: int, hidden_dim: int, value_format: str, q8_step: float, dense: bool
) -> bytes:
    if value_format not in _FORMAT_CODES:
        raise ValueError(f"value_format: must be 'fp16' or 'q8', got {value_format!r}")
    if value_format == "q8" and not (0 < q8_step <= MAX_Q8_STEP):
        raise ValueError(f"q8_step: must be in (0, {MAX_Q8_STEP}], got {q8_step!r}")
    flags = (FLAG_HIDDEN if hidden_dim else 0) | (FLAG_DENSE if dense else 0)
    flags |= _FORMAT_CODES[value_format] << 2
    step = float(q8_step) if value_format == "q8" else 0.0
    head = HEADER.pack(MAGIC, VERSION, flags, vocab_size, n_tokens, hidden_dim, step, 0)
    return head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))


def _encode_values(probs: np.ndarray, value_format: str, q8_step: float) -> np.ndarray:
    """Values as bytes [n, value bytes] uint8."""
    with np.errstate(divide="ignore"):
        logp = np.minimum(np.log(probs.astype(np.float64)), 0.0)
    if value_format == "fp16":
        return logp.astype("<f2").view(np.uint8).reshape(-1, 2)
    code = np.clip(np.rint(-logp / q8_step), 0, 255)
    return code.astype(np.uint8).reshape(-1, 1)


def _varint_len(k: np.ndarray) -> np.ndarray:
    return 1 + sum((k >= (1 << (7 * t))).astype(np.int64) for t in range(1, 5))


def _layout(
    indices: np.ndarray, offsets: np.ndarray, value_format: str, hidden_dim: int
) -> dict[str, np.ndarray]:
    if value_format not in VALUE_BYTES:
        raise ValueError(f"value_format: must be 'fp16' or 'q8', got {value_format!r}")
    k = np.diff(offsets)
    gaps = codec_rice.gaps_of(indices, offsets)
    b, n_bits = codec_rice.choose_params(gaps, offsets)
    stream = (n_bits + 7) // 8
    vlen = _varint_len(k)
    head = vlen + 2 + (k > 0)
    size = head + stream + k * VALUE_BYTES[value_format] + 2 * hidden_dim
    return {"k": k, "gaps": gaps, "b": b, "n_bits": n_bits, "stream": stream,
            "vlen": vlen, "head": head, "size": size}


def _sparse_layout(sl: SparseLogits, value_format: str) -> dict[str, np.ndarray]:
    return _layout(sl.indices, sl.offsets, value_format, sl.hidden_dim)


def record_sizes_of(
    indices: np.ndarray, offsets: np.ndarray, value_format: ValueFormat, hidden_dim: int
) -> np.ndarray:
    """Exact record sizes [T] int64 [bytes] from CSR ids alone (sorted within each token)."""
    return _layout(indices, offsets, value_format, hidden_dim)["size"]


def record_sizes(sl: SparseLogits, value_format: ValueFormat = "fp16") -> np.ndarray:
    """Exact encoded size of every record [T] int64 [bytes], without encoding."""
    return _sparse_layout(sl, value_format)["size"]


def encoded_size(sl: SparseLogits, value_format: ValueFormat = "fp16") -> int:
    """Exact ``len(encode(sl, value_format))`` [bytes]."""
    return HEADER_BYTES + int(record_sizes(sl, value_format).sum())


def encode(
    sl: SparseLogits, value_format: ValueFormat = "fp16", q8_step: float = DEFAULT_Q8_STEP
) -> bytes:
    """Encode sparse knowledge (with its hidden vectors, if any) into payload bytes."""
    sl.check()
    lay = _sparse_layout(sl, value_format)
    k, size, vlen = lay["k"], lay["size"], lay["vlen"]
    T = sl.n_tokens
    start = HEADER_BYTES + np.cumsum(size) - size
    out = np.zeros(HEADER_BYTES + int(size.sum()), dtype=np.uint8)
    out[:HEADER_BYTES] = np.frombuffer(
        _header(T, sl.vocab_size, sl.hidden_dim, value_format, q8_step, dense=False), np.uint8
    )
    for t in range(5):  # LEB128: 7 bits per byte, high bit = more bytes follow
        has = vlen > t
        byte = ((k >> (7 * t)) & 0x7F) | np.where(vlen > t + 1, 0x80, 0)
        out[start[has] + t] = byte[has]
    res = sl.residual.astype("<f2").view(np.uint8).reshape(T, 2)
    out[start + vlen] = res[:, 0]
    out[start + vlen + 1] = res[:, 1]
    nz = k > 0
    out[(start + vlen + 2)[nz]] = lay["b"][nz]
    stream_start = start + lay["head"]
    stream = codec_rice.pack(lay["gaps"], sl.offsets, lay["b"], lay["n_bits"])
    n_stream = lay["stream"]
    out[np.repeat(stream_start, n_stream) + codec_rice.local_positions(
        n_stream, np.cumsum(n_stream) - n_stream)] = stream
    vb = VALUE_BYTES[value_format]
    val_start = stream_start + n_stream
    if sl.indices.size:
        values = _encode_values(sl.probs, value_format, q8_step)
        entry_start = np.repeat(val_start, k) + codec_rice.local_positions(k, sl.offsets[:-1]) * vb
        out[entry_start[:, None] + np.arange(vb)] = values
    if sl.hidden is not None:
        hid = sl.hidden.astype("<f2").view(np.uint8).reshape(T, 2 * sl.hidden_dim)
        out[(val_start + k * vb)[:, None] + np.arange(hid.shape[1])] = hid
    return out.tobytes()


def encode_dense(
    dl: DenseLogits, value_format: ValueFormat = "fp16", q8_step: float = DEFAULT_Q8_STEP
) -> bytes:
    """Encode full log-probabilities [T, V] (the ``fd_full`` baseline): V values per record.

    Works on the float32 log-probabilities directly (no float64 copy, no
    exp/log round trip): a record is ``V · value bytes`` and T·V is ~25 M
    values for T = 512 at V = 49152.
    """
    lp = np.asarray(dl.log_probs)
    if lp.dtype != np.float32:
        lp = lp.astype(np.float32)
    # max() is NaN when any value is NaN, and the comparison then fails too
    if lp.size and not float(lp.max()) <= 1e-3:
        raise ValueError("log_probs: must be log-probabilities (<= 0, not NaN)")
    if value_format == "fp16":
        vals = np.minimum(lp, 0.0).astype("<f2").view(np.uint8)
    elif value_format == "q8":
        if not 0 < q8_step <= MAX_Q8_STEP:
            raise ValueError(f"q8_step: must be in (0, {MAX_Q8_STEP}], got {q8_step!r}")
        vals = np.clip(np.rint(lp * np.float32(-1.0 / q8_step)), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"value_format: must be 'fp16' or 'q8', got {value_format!r}")
    vals = vals.reshape(dl.n_tokens, dl.vocab_size * VALUE_BYTES[value_format])
    if dl.hidden is not None:
        vals = np.concatenate([vals, dl.hidden.astype("<f2").view(np.uint8)
                               .reshape(dl.n_tokens, 2 * dl.hidden_dim)], axis=1)
    head = _header(dl.n_tokens, dl.vocab_size, dl.hidden_dim, value_format, q8_step, dense=True)
    return head + vals.tobytes()


def _parse_header(buf: bytes) -> tuple[int, int, int, str, float, bool]:
    if len(buf) < HEADER_BYTES:
        raise PayloadError(f"truncated header: {len(buf)} of {HEADER_BYTES} bytes")
    magic, version, flags, V, T, r, step, crc = HEADER.unpack_from(buf)
    if magic != MAGIC:
        raise PayloadError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise PayloadError(f"unsupported payload version {version}, this build reads {VERSION}")
    if zlib.crc32(buf[: HEADER_BYTES - 4]) != crc:
        raise PayloadError("header checksum mismatch (corrupt header)")
    fmt_code = (flags >> 2) & 0x3
    if flags & ~0x0F or fmt_code not in _FORMAT_NAMES:
        raise PayloadError(f"unknown header flags 0x{flags:02x}")
    value_format = _FORMAT_NAMES[fmt_code]
    if V < 1:
        raise PayloadError("vocabulary size 0 in header")
    if bool(flags & FLAG_HIDDEN) != (r > 0):
        raise PayloadError(f"hidden flag and hidden dim {r} disagree")
    if value_format == "q8" and not (0 < step <= MAX_Q8_STEP):
        raise PayloadError(f"q8 step must be in (0, {MAX_Q8_STEP}], got {step!r}")
    return V, T, r, value_format, float(step), bool(flags & FLAG_DENSE)


def _decode_values(raw: np.ndarray, value_format: str, step: float) -> np.ndarray:
    """log p [n] float64 from value bytes [n, value bytes]."""
    if value_format == "fp16":
        logp = raw.reshape(-1).view("<f2").astype(np.float64)
        if np.isnan(logp).any() or np.any(logp > 0):
            raise PayloadError("a value is not a log-probability (NaN or > 0)")
        return logp
    return -raw.reshape(-1).astype(np.float64) * step


def _decode_hidden(buf: np.ndarray, starts: np.ndarray, r: int) -> np.ndarray:
    if starts.size == 0:  # no whole record: r (from the header) must not size any work
        return np.zeros((0, r), np.float32)
    raw = np.ascontiguousarray(buf[starts[:, None] + np.arange(2 * r)])
    hidden = raw.view("<f2").astype(np.float32).reshape(-1, r)
    if not np.all(np.isfinite(hidden)):
        raise PayloadError("a hidden value is not finite")
    return hidden


def decode(payload: bytes | bytearray | memoryview, *, allow_partial: bool = True) -> Decoded:
    """Decode the whole records of a payload or of any prefix of it.

    ``allow_partial=False`` additionally requires all T declared records.
    Raises :class:`PayloadError` on a corrupt or truncated header, impossible
    values (k > V, ids ≥ V, residual outside [0, 1], NaN), non-zero stream
    padding or bytes after the last declared record.
    """
    data = bytes(payload)
    V, T, r, value_format, step, dense = _parse_header(data)
    if dense:
        result = _decode_dense(data, V, T, r, value_format, step)
    else:
        result = _decode_sparse(data, V, T, r, value_format, step)
    if not allow_partial and not result.complete:
        raise PayloadError(
            f"truncated payload: {result.n_tokens} of {T} records "
            f"({len(data)} bytes, record {result.n_tokens} incomplete)"
        )
    return result


def _decode_dense(data: bytes, V: int, T: int, r: int, fmt: str, step: float) -> Decoded:
    rec = V * VALUE_BYTES[fmt] + 2 * r
    body = len(data) - HEADER_BYTES
    m = min(T, body // rec)
    if m == T and body > T * rec:
        raise PayloadError(f"{body - T * rec} trailing bytes after the last of {T} records")
    buf = np.frombuffer(data, np.uint8, count=m * rec, offset=HEADER_BYTES).reshape(m, rec)
    values = np.ascontiguousarray(buf[:, : V * VALUE_BYTES[fmt]])
    # float32 throughout: the values carry fp16 or 8-bit precision anyway
    if fmt == "fp16":
        logp = values.view("<f2").astype(np.float32)
        if m and not float(logp.max()) <= 0.0:  # NaN or > 0
            raise PayloadError("a value is not a log-probability (NaN or > 0)")
    else:
        logp = values.astype(np.float32) * np.float32(-step)
    logp = logp.reshape(m, V)
    # renormalise each row: log p ← log p − logsumexp(log p)
    top = logp.max(axis=1, keepdims=True) if m else np.zeros((0, 1), np.float32)
    if m and not np.all(np.isfinite(top)):
        raise PayloadError("a dense record has no probability mass")
    logp -= top + np.log(np.exp(logp - top).sum(axis=1, keepdims=True, dtype=np.float64)
                         ).astype(np.float32)
    hidden = None
    if r:
        hidden = np.ascontiguousarray(buf[:, V * VALUE_BYTES[fmt]:]).view("<f2").astype(np.float32)
        if not np.all(np.isfinite(hidden)):
            raise PayloadError("a hidden value is not finite")
    return Decoded(DenseLogits(logp, hidden), m, T, fmt,  # type: ignore[arg-type]
                   HEADER_BYTES + m * rec)


def _scan_records(data: bytes, V: int, T: int, r: int, vb: int, cum: np.ndarray) -> dict:
    """Walk record boundaries (sequential: each length depends on the record's content).

    ``cum[i]`` is the number of one bits in bytes ``0..i−1``; the end of a
    record's unary section (its k-th one bit) is found by rank/select on it.
    """
    L = len(data)
    total_ones = int(cum[-1])
    pop, select = codec_rice.POPCOUNT, codec_rice.SELECT
    pos = HEADER_BYTES
    ks: list[int] = []
    bs: list[int] = []
    starts: list[int] = []   # record start byte
    ends: list[int] = []     # last bit of the index stream
    vals: list[int] = []     # first value byte
    while len(ks) < T and pos < L:
        p, k, shift, more = pos, 0, 0, True
        while more and p < L:
            byte = data[p]
            p += 1
            k |= (byte & 0x7F) << shift
            more = byte >= 0x80
            shift += 7
            if more and shift > 28:
                raise PayloadError(f"record {len(ks)}: k varint longer than 5 bytes")
        if more:
            break  # truncated inside the varint
        if k > V:
            raise PayloadError(f"record {len(ks)}: k = {k} exceeds vocabulary size {V}")
        p += 2  # residual
        b, end_bit = 0, 0
        if k > 0:
            if p >= L:
                break
            b = data[p]
            p += 1
            if b > codec_rice.MAX_RICE_PARAM:
                raise PayloadError(f"record {len(ks)}: Rice parameter {b} > 31")
            unary = 8 * p + k * b
            if unary >= 8 * L:
                break  # stream not complete in this prefix
            i, o = unary >> 3, unary & 7
            rank = int(cum[i]) + (int(pop[data[i] >> (8 - o)]) if o else 0) + k - 1
            if rank >= total_ones:
                break  # fewer than k terminators arrived
            i = int(np.searchsorted(cum, rank, side="right")) - 1
            end_bit = 8 * i + select[data[i]][rank - int(cum[i])]
            if data[i] & ((1 << (7 - (end_bit & 7))) - 1):
                raise PayloadError(f"record {len(ks)}: non-zero padding after the index stream")
            p = i + 1
        end = p + k * vb + 2 * r
        if end > L:
            break
        ks.append(k)
        bs.append(b)
        starts.append(pos)
        ends.append(end_bit)
        vals.append(p)
        pos = end
    if len(ks) == T and pos < L:
        raise PayloadError(f"{L - pos} trailing bytes after the last of {T} records")
    return {"k": np.array(ks, np.int64), "b": np.array(bs, np.int64),
            "start": np.array(starts, np.int64), "end_bit": np.array(ends, np.int64),
            "val": np.array(vals, np.int64), "end": pos}


def _decode_sparse(data: bytes, V: int, T: int, r: int, fmt: str, step: float) -> Decoded:
    buf = np.frombuffer(data, np.uint8)
    cum = np.zeros(buf.size + 1, np.int64)
    np.cumsum(codec_rice.POPCOUNT[buf], out=cum[1:])
    vb = VALUE_BYTES[fmt]
    rec = _scan_records(data, V, T, r, vb, cum)
    k, start = rec["k"], rec["start"]
    m = k.size
    vlen = _varint_len(k)
    res_pos = start + vlen
    residual = buf[np.stack([res_pos, res_pos + 1], axis=1)].reshape(-1).view("<f2")
    residual = residual.astype(np.float64)
    if not np.all((residual >= 0) & (residual <= 1)):
        raise PayloadError("a residual mass is outside [0, 1] or NaN")
    padded = np.concatenate([buf, np.zeros(5, np.uint8)])
    q, rem = codec_rice.unpack(padded, k, rec["b"], 8 * (res_pos + 3), rec["end_bit"])
    if q.size and q.max() >= V:
        raise PayloadError("an index gap exceeds the vocabulary size")
    gaps = (q << rec["b"][codec_rice.record_rows(k)]) | rem
    if gaps.size and gaps.max() >= V:
        raise PayloadError("an index gap exceeds the vocabulary size")
    offsets = np.zeros(m + 1, np.int64)
    np.cumsum(k, out=offsets[1:])
    run = np.cumsum(gaps + 1)
    nz = k > 0
    base = np.repeat(run[offsets[:-1][nz]] - (gaps + 1)[offsets[:-1][nz]], k[nz])
    indices = run - base - 1
    if indices.size and indices.max() >= V:
        raise PayloadError(f"an index is >= vocabulary size {V}")
    local = codec_rice.local_positions(k, offsets[:-1])
    raw = buf[(np.repeat(rec["val"], k) + local * vb)[:, None] + np.arange(vb)]
    probs = np.exp(_decode_values(raw, fmt, step))
    total = segment_sum(codec_rice.record_rows(k), probs, m) + residual
    if np.any(total <= 0):
        raise PayloadError("a record has no probability mass")
    probs /= np.repeat(total, k)
    residual /= total
    hidden = _decode_hidden(buf, rec["val"] + k * vb, r) if r else None
    sl = SparseLogits(V, offsets, indices, probs.astype(np.float32),
                      residual.astype(np.float32), hidden)
    return Decoded(sl, m, T, fmt, rec["end"])  # type: ignore[arg-type]


def information_bound_bits(vocab_size: int, k: np.ndarray | int, value_bits: int) -> float:
    """``Σ_j [log2 C(V, k_j) + k_j · b_val]`` [bits]: the cost of naming the sets and values."""
    k = np.atleast_1d(np.asarray(k, dtype=np.float64))
    ln_choose = (math.lgamma(vocab_size + 1) - np.vectorize(math.lgamma)(k + 1)
                 - np.vectorize(math.lgamma)(vocab_size - k + 1))
    return float((ln_choose / math.log(2.0)).sum() + value_bits * k.sum())


def overhead(payload_bytes: int, vocab_size: int, k: np.ndarray | int,
             value_format: ValueFormat) -> float:
    """Measured size over the information bound, minus 1 (0.05 = 5% above the bound)."""
    bound = information_bound_bits(vocab_size, k, 8 * VALUE_BYTES[value_format])
    return 8.0 * payload_bytes / bound - 1.0
