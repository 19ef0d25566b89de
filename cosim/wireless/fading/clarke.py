"""Clarke/Jakes time-correlated fading as an exactly Gaussian process (filtered noise).

A finite sum of sinusoids is not Gaussian (N equal-power sinusoids give
``E|h|⁴ = 2 − 1/N``) and, with random angles, each realisation has its own
autocorrelation. Here the process is white complex Gaussian noise passed
through a fixed filter, so every sample is exactly CN(0, 1) and the process is
ergodic: one client's time averages converge to the closed forms.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from cosim.wireless.counter_rng import hash_indices
from cosim.wireless.fading.base import GaussianProcess

#: Spacing of the underlying grid [Doppler cycles]: 5 samples per cycle (2.5× Nyquist).
GRID_CYCLES = 1 / 5
#: Width T of the Gaussian lag window [Doppler cycles].
WINDOW_CYCLES = 16.0
#: Filter half-length H [grid samples] = 51.2 cycles = 3.2 T: the taps beyond hold
#: 3e-10 of the filter's energy.
HALF_TAPS = 256
#: FFT length of the overlap-save convolution and the grid block B it yields.
FFT_SIZE = 2048
BLOCK = FFT_SIZE - 2 * HALF_TAPS
#: Noise is drawn in chunks of H samples, each its own Philox stream.
NOISE_CHUNK = HALF_TAPS
#: Kriging neighbours of a slot: grid samples j − LEFT … j − LEFT + TAPS − 1 = j − 2 … j + 3.
TAPS = 6
LEFT = TAPS // 2 - 1
#: Kriging weights are tabulated at μ = i / TABLE (nearest entry).
TABLE_BITS = 12
TABLE = 1 << TABLE_BITS
_COUNTER_OFFSET = 2**32  # Philox counters are unsigned; noise chunks start at −1
_UNLOADED = -(2**40)  # window start of a link with nothing loaded yet
_BATCH = 64  # grid blocks per batched FFT (memory: 64 × 2048 complex, 2 MB)
#: :func:`compute_design`'s output, stored so that a run needs no scipy (its import
#: costs about half a second); ``python -m cosim.wireless.fading.clarke`` rewrites it.
DESIGN_FILE = Path(__file__).with_name("clarke_design.npz")


def _params() -> np.ndarray:
    """The constants the design depends on (checked when the stored design is loaded)."""
    return np.array([GRID_CYCLES, WINDOW_CYCLES, HALF_TAPS, FFT_SIZE, TAPS, TABLE], dtype=float)


def target_autocorrelation(lag_cycles: np.ndarray | float) -> np.ndarray:
    """``R(x) = J0(2π x) · exp(−x² / (2 T²))`` at lags x = f_d τ [Doppler cycles]."""
    from scipy.special import j0  # only to design the filter (stored) and in checks

    x = np.asarray(lag_cycles, dtype=np.float64)
    return j0(2 * np.pi * x) * np.exp(-0.5 * (x / WINDOW_CYCLES) ** 2)


@cache
def _design() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Filter taps g [2H + 1], its FFT for block convolution, kriging table [TABLE, TAPS],
    and the largest kriging residual variance: the stored :func:`compute_design`, or
    computed when the file is missing or was made for other constants."""
    g = weights = None
    if DESIGN_FILE.is_file():
        with np.load(DESIGN_FILE) as f:
            if np.array_equal(f["params"], _params()):
                g, weights, residual = f["g"], f["weights"], float(f["residual"])
    if g is None or weights is None:
        g, weights, residual = compute_design()
    g_circ = np.zeros(FFT_SIZE)
    g_circ[: HALF_TAPS + 1] = g[HALF_TAPS:]
    g_circ[-HALF_TAPS:] = g[:HALF_TAPS]
    g_fft = np.fft.fft(g_circ) * np.sqrt(0.5)  # unit-variance real and imaginary noise
    return g, g_fft, weights, residual


def write_design(path: Path = DESIGN_FILE) -> None:
    """Store :func:`compute_design` in ``path`` (``.npz``)."""
    g, weights, residual = compute_design()
    np.savez(path, params=_params(), g=g, weights=weights, residual=np.array(residual))


def compute_design() -> tuple[np.ndarray, np.ndarray, float]:
    """Filter taps g [2H + 1] and kriging table [TABLE, TAPS] from R (uses scipy's J0).

    Returns also the largest kriging residual variance ``1 − cᵀ C⁻¹ c`` over μ.
    """
    n_design = 1 << 14
    n = np.arange(n_design)
    lag = np.where(n < n_design // 2, n, n - n_design) * GRID_CYCLES
    # R has a non-negative spectrum (J0's Jakes spectrum convolved with a Gaussian),
    # so its zero-phase square root is a real, even filter whose autocorrelation is R.
    spectrum = np.maximum(np.fft.fft(target_autocorrelation(lag)).real, 0.0)
    g_full = np.fft.ifft(np.sqrt(spectrum)).real
    g = np.concatenate([g_full[-HALF_TAPS:], g_full[: HALF_TAPS + 1]])
    g /= np.sqrt(np.sum(g**2))  # unit power after truncation
    # Realised grid autocorrelation at lags 0..TAPS-1, for the kriging system.
    rr = np.array([np.dot(g[: g.size - k], g[k:]) for k in range(TAPS)])
    offsets = np.arange(TAPS) - LEFT
    cov = rr[np.abs(offsets[:, None] - offsets[None, :])]
    mu = np.arange(TABLE) / TABLE
    cross = target_autocorrelation((mu[:, None] - offsets[None, :]) * GRID_CYCLES)
    weights = np.linalg.solve(cov, cross.T).T
    quad = np.einsum("ip,pq,iq->i", weights, cov, weights)
    residual = float(np.max(1 - np.einsum("ip,ip->i", weights, cross)))
    weights /= np.sqrt(quad)[:, None]  # exact unit variance at every table point
    weights[0] = np.arange(TAPS) == LEFT  # μ = 0: the grid sample itself
    return g, weights, residual


def kriging_residual() -> float:
    """Largest conditional variance of a slot given its 6 grid neighbours (≈ 2.8e-7)."""
    return _design()[3]


class ClarkeFading(GaussianProcess):
    """CN(0, 1) fading with autocorrelation ``R(f_d τ)`` (:func:`target_autocorrelation`).

    ``E[h(t) h*(t + τ)] = J0(2π f_d τ) · exp(−(f_d τ)² / (2 T²))``, T = 16 Doppler
    cycles: Clarke's J0 (isotropic scattering, maximum Doppler f_d [Hz] per client)
    under a Gaussian lag window, i.e. the Jakes spectrum smoothed by a Gaussian of
    standard deviation f_d / (2π T). The window changes J0 by at most 4.3e-4 up
    to one Doppler cycle of lag and 2.6e-3 up to three.

    Construction (per client and subband, time in Doppler cycles x = f_d t):

    1. a grid process ``u[i] = Σ_k g[k] w[i − k]`` at x = i/5, with w i.i.d.
       CN(0, 1) and g the real, even square root of R's (non-negative) spectrum,
       cut at |k| ≤ 256 and rescaled to unit energy: exactly Gaussian, stationary,
       autocorrelation R at the grid lags (to 1e-8 up to 16 cycles, 1.3e-5 beyond);
    2. slot s at x = f_d s Δt falls between grid points j = ⌊5x⌋ and j + 1, at
       μ = 5x − j; ``h = Σ_p a_p(μ) u[j − 2 + p]`` (p = 0 … 5) with kriging
       weights ``a = C⁻¹ c(μ)`` (C, c: covariances from R) rescaled to
       ``aᵀ C a = 1``, tabulated at μ = i/4096 (nearest entry: a timing error of
       at most 2.5e-5 cycle). h is a linear combination of Gaussians with
       variance 1, hence exactly CN(0, 1). Between two slots the covariance
       ``a(μ1)ᵀ C a(μ2)`` differs from R by at most 6e-4 (interpolation 5.4e-4
       plus timing 1e-4; the variance deficit before rescaling,
       :func:`kriging_residual`, is 2.8e-7).

    Values are a pure function of (key, slot, client, subband): the grid is built
    in fixed blocks of 1536 samples, each by one overlap-save FFT of fixed size
    from noise chunks that are Philox streams keyed by (key, client, subband,
    chunk), so a slot's value is bit-for-bit the same however slots are
    requested, and idle time costs nothing. Memory: two grid blocks, 48 KB, per
    (client, subband).

    ``f_d = 0`` gives a constant channel h = u[0] (still CN(0, 1) across clients).
    """

    def __init__(self, doppler_hz: np.ndarray, n_subbands: int, slot_s: float, key: int) -> None:
        fd = np.asarray(doppler_hz, dtype=np.float64)
        self.n_clients = int(fd.shape[0])
        self.n_subbands = n_subbands
        self.key = key
        n_links = self.n_clients * n_subbands
        #: Grid samples per slot, per link (client-major, subband-minor).
        self.step = np.repeat(fd * slot_s / GRID_CYCLES, n_subbands)
        self._step_table = self.step * TABLE
        _, self._g_fft, table, _ = _design()
        self._table = [np.ascontiguousarray(table[:, p]) for p in range(TAPS)]
        max_step = float(self.step.max(initial=0.0))
        #: Slots per vectorised chunk: a chunk spans at most BLOCK − TAPS grid samples.
        self._chunk = max(1, int((BLOCK - TAPS) // max_step)) if max_step > 0 else 1 << 20
        self._base = np.full(n_links, _UNLOADED, dtype=np.int64)
        self._loaded = np.zeros(n_links, dtype=np.int64)  # grid blocks held: 0, 1 or 2
        self._buf = np.zeros((n_links, 2 * BLOCK), dtype=np.complex128)
        self._row = np.arange(n_links, dtype=np.int64) * (2 * BLOCK)
        clients = np.repeat(np.arange(self.n_clients), n_subbands)
        subbands = np.tile(np.arange(n_subbands), self.n_clients)
        self._link_key = [int(k) for k in hash_indices(key, clients, subbands)]
        self._philox = np.random.Philox(key=0)
        self._gen = np.random.Generator(self._philox)
        self._philox_state = self._philox.state
        self._philox_state["buffer_pos"] = 4  # no buffered output carried between blocks

    # ------------------------------------------------------------------ grid
    def _grid_blocks(self, links: np.ndarray, qs: np.ndarray) -> np.ndarray:
        """Grid samples qB … qB + B − 1 of each (link, q), ``[m, B]``, by overlap-save.

        The noise w[qB − H … (q + 1)B + H − 1] (FFT_SIZE samples, 8 chunks) is
        circularly convolved with g; outputs H … H + B − 1 see no wrap-around and are
        ``Σ_{|k| ≤ H} g[k] w[i − k]`` exactly. One FFT pair for all rows.
        """
        seg = np.empty((links.size, 2 * FFT_SIZE))  # noise, as float pairs
        state = self._philox_state
        link_l, q_l = links.tolist(), qs.tolist()
        for r in range(links.size):
            first = (q_l[r] * BLOCK - HALF_TAPS) // NOISE_CHUNK
            state["state"]["key"] = np.array([self._link_key[link_l[r]], self.key], dtype=np.uint64)
            row = seg[r]
            for i in range(FFT_SIZE // NOISE_CHUNK):
                # Philox is counter-based: key = (link, run key), counter word 1 = chunk, so
                # chunks draw disjoint streams (a chunk uses far fewer than 2**64 counters).
                state["state"]["counter"] = np.array(
                    [0, first + i + _COUNTER_OFFSET, 0, 0], dtype=np.uint64
                )
                self._philox.state = state
                self._gen.standard_normal(out=row[2 * NOISE_CHUNK * i : 2 * NOISE_CHUNK * (i + 1)])
        y = np.fft.fft(seg.view(np.complex128), axis=1)
        y *= self._g_fft  # includes the 1/√2 that makes the noise CN(0, 1)
        y = np.fft.ifft(y, axis=1)
        return y[:, HALF_TAPS : HALF_TAPS + BLOCK]

    def _load(self, links: np.ndarray, q_lo: np.ndarray, q_hi: np.ndarray) -> None:
        """Make each link's window hold grid blocks q_lo … q_hi (q_hi ≤ q_lo + 1)."""
        base, n = self._base[links], self._loaded[links]
        buf = self._buf
        # moving forward: the second block becomes the first
        shift = (base + 1 == q_lo) & (n == 2)
        if shift.any():
            moved = links[shift]
            buf[moved, :BLOCK] = buf[moved, BLOCK:]
        fresh = ~shift & ((base != q_lo) | (n == 0))
        n = np.where(shift | fresh, 1, n)
        second = (q_hi > q_lo) & (n == 1)
        n[second] = 2
        jobs_l = np.concatenate([links[fresh], links[second]])
        jobs_q = np.concatenate([q_lo[fresh], q_lo[second] + 1])
        half = np.repeat([0, BLOCK], [int(fresh.sum()), int(second.sum())])
        for b0 in range(0, jobs_l.size, _BATCH):  # bounded memory: _BATCH FFT rows at a time
            jl, jh = jobs_l[b0 : b0 + _BATCH], half[b0 : b0 + _BATCH]
            blocks = self._grid_blocks(jl, jobs_q[b0 : b0 + _BATCH])
            for h in (0, BLOCK):
                on = jh == h
                if on.any():
                    buf[jl[on], h : h + BLOCK] = blocks[on]
        self._base[links], self._loaded[links] = q_lo, n

    # ------------------------------------------------------------------ slots
    def samples(self, first_slot: int, n_slots: int) -> np.ndarray:
        if n_slots <= self._chunk:
            out = np.ascontiguousarray(self._slots(first_slot, n_slots))
        else:
            out = np.empty((n_slots, self._base.size), dtype=np.complex128)
            for k0 in range(0, n_slots, self._chunk):
                k1 = min(n_slots, k0 + self._chunk)
                out[k0:k1] = self._slots(first_slot + k0, k1 - k0)
        return out.reshape(n_slots, self.n_clients, self.n_subbands)

    def _slots(self, first_slot: int, n_slots: int) -> np.ndarray:
        # Link-major [links, slots]: a link's slots read neighbouring grid samples, so
        # the gathers stay in cache; one transpose at the end.
        s = np.arange(first_slot, first_slot + n_slots, dtype=np.float64)
        # Position in units of 1/TABLE grid sample, rounded: grid index j and table row μ.
        q = self._step_table[:, None] * s[None, :]
        np.rint(q, out=q)
        mu = q.astype(np.int64)
        j = mu >> TABLE_BITS
        mu &= TABLE - 1
        lo, hi = j[:, 0] - LEFT, j[:, -1] + TAPS - 1 - LEFT
        start = self._base * BLOCK
        stale = np.flatnonzero((lo < start) | (hi >= start + self._loaded * BLOCK))
        if stale.size:
            self._load(stale, lo[stale] // BLOCK, hi[stale] // BLOCK)
        idx = j
        idx += (self._row - self._base * BLOCK - LEFT)[:, None]
        flat = self._buf.ravel()
        h = np.take(flat, idx, mode="wrap")  # indices are in range; "wrap" skips the check
        h *= np.take(self._table[0], mu, mode="wrap")
        for p in range(1, TAPS):
            x = np.take(flat[p:], idx, mode="wrap")
            x *= np.take(self._table[p], mu, mode="wrap")
            h += x
        return h.T


if __name__ == "__main__":  # rewrite the stored design (after changing its constants)
    write_design()
    print(f"wrote {DESIGN_FILE}")
