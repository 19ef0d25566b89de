"""Growable column store of transport blocks (TBs) and of transfers' byte counters.

One row per TB: which link and transfer it belongs to, the byte range
``[start, start + length)`` of the transfer it carries, the slot of its first
transmission, the slot it was decoded in (or -1), its HARQ transmissions so far,
transmissions of the same bytes in earlier (ARQ-failed) TBs, its state, and per
subband its RB count, CQI and accumulated SNR (for chase combining).
"""

from __future__ import annotations

import numpy as np

PENDING, OK, LOST, CUT = 0, 1, 2, 3


class TbLog:
    """Columns of all TBs; ``n`` rows are in use. Row ids are stable until :meth:`compact`."""

    INT_COLS = ("link", "transfer", "start", "length", "first_slot", "done_slot", "ntx", "prior")

    def __init__(self, n_subbands: int, capacity: int = 4096) -> None:
        self.n = 0
        self.n_subbands = n_subbands
        # rows_of's cache: rows change only by appending (n grows) or compact (generation)
        self._generation = 0
        self._last_scan = -1  # generation of the last plain scan
        # (generation, lo, n0, order, keys): rows [lo, n0) grouped by transfer
        self._groups: tuple[int, int, int, np.ndarray, np.ndarray] | None = None
        self._alloc_cols(capacity)

    def _alloc_cols(self, cap: int) -> None:
        self.ints = np.zeros((len(self.INT_COLS), cap), dtype=np.int64)
        self.state = np.zeros(cap, dtype=np.int8)
        self.rbs = np.zeros((cap, self.n_subbands), dtype=np.int64)
        self.mcs = np.zeros((cap, self.n_subbands), dtype=np.int8)
        self.acc = np.zeros((cap, self.n_subbands), dtype=np.float64)
        self._bind()

    def _bind(self) -> None:
        (
            self.link,
            self.transfer,
            self.start,
            self.length,
            self.first_slot,
            self.done_slot,
            self.ntx,
            self.prior,
        ) = self.ints

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return int(self.state.shape[0])

    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more rows (doubling)."""
        need = self.n + extra
        if need <= self.capacity:
            return
        cap = max(need, 2 * self.capacity)
        old = (self.ints, self.state, self.rbs, self.mcs, self.acc)
        self._alloc_cols(cap)
        n = self.n
        self.ints[:, :n] = old[0][:, :n]
        self.state[:n] = old[1][:n]
        self.rbs[:n] = old[2][:n]
        self.mcs[:n] = old[3][:n]
        self.acc[:n] = old[4][:n]

    def add(
        self,
        link: np.ndarray,
        transfer: np.ndarray,
        start: np.ndarray,
        length: np.ndarray,
        slot: np.ndarray | int,
        prior: np.ndarray | int,
        rbs: np.ndarray,
        mcs: np.ndarray,
        gamma: np.ndarray,
    ) -> np.ndarray:
        """Append TBs first sent in ``slot`` (one per TB, or one for all); returns their row ids."""
        k = int(link.shape[0])
        self.reserve(k)
        i0, i1 = self.n, self.n + k
        ints = self.ints[:, i0:i1]
        ints[0] = link
        ints[1] = transfer
        ints[2] = start
        ints[3] = length
        ints[4] = slot
        ints[5] = -1
        ints[6] = 1
        ints[7] = prior
        self.state[i0:i1] = PENDING
        self.rbs[i0:i1] = rbs
        self.mcs[i0:i1] = mcs
        self.acc[i0:i1] = gamma
        self.n = i1
        return np.arange(i0, i1)

    def rows_of(self, transfer: int, first_row: int = 0) -> np.ndarray:
        """Row ids of ``transfer``'s TBs (searching from ``first_row``), ascending.

        The first call after a compaction scans the rows from ``first_row``. From
        the second on, rows ``[lo, n₀)`` are grouped by transfer (a stable sort; a
        radix sort on 16-bit keys when the ids span less than 2¹⁶) and a call is two
        binary searches there plus a scan of the rows appended since, ``[n₀, n)``;
        the groups are rebuilt when that tail outgrows them (and 4096 rows) or
        ``first_row < lo``.
        """
        first_row = max(0, min(first_row, self.n))
        g = self._groups
        if g is None or g[0] != self._generation:
            if self._last_scan != self._generation:  # one scan first: maybe the only call
                self._last_scan = self._generation
                return first_row + np.flatnonzero(self.transfer[first_row : self.n] == transfer)
            g = None
        if g is None or first_row < g[1] or self.n - g[2] > max(g[2] - g[1], 4096):
            tr = self.transfer[first_row : self.n]
            t0 = int(tr.min()) if tr.size else 0
            span = int(tr.max()) - t0 if tr.size else 0
            # same order as a stable sort of the ids: the ids minus their minimum, 16 bits
            key = (tr - t0).astype(np.uint16) if span < 2**16 else tr
            order = np.argsort(key, kind="stable")
            g = self._groups = (self._generation, first_row, self.n, order, tr[order])
        _, lo, n0, order, keys = g
        i, j = np.searchsorted(keys, transfer), np.searchsorted(keys, transfer, "right")
        rows = lo + order[i:j]
        rows = rows[np.searchsorted(rows, first_row) :]
        tail = np.flatnonzero(self.transfer[max(n0, first_row) : self.n] == transfer)
        return np.concatenate([rows, max(n0, first_row) + tail]) if tail.size else rows

    def clear(self) -> None:
        """Drop every row (nothing to move: cheaper than :meth:`compact` keeping none)."""
        self._generation += 1
        self.n = 0

    def compact(self, keep: np.ndarray) -> np.ndarray:
        """Keep rows where ``keep`` (bool ``[n]``); returns old→new row ids (-1 dropped)."""
        self._generation += 1
        new_id = np.cumsum(keep) - 1
        new_id[~keep] = -1
        m = int(keep.sum())
        self.ints[:, :m] = self.ints[:, : self.n][:, keep]
        self.state[:m] = self.state[: self.n][keep]
        self.rbs[:m] = self.rbs[: self.n][keep]
        self.mcs[:m] = self.mcs[: self.n][keep]
        self.acc[:m] = self.acc[: self.n][keep]
        self.n = m
        return new_id


class TransferCounters:
    """Per-transfer byte counters ``size``, ``delivered``, ``lost`` (growable, by transfer id)."""

    def __init__(self, capacity: int = 256) -> None:
        self.size = np.zeros(capacity, dtype=np.int64)
        self.delivered = np.zeros(capacity, dtype=np.int64)
        self.lost = np.zeros(capacity, dtype=np.int64)
        self.n = 0

    def new(self, size: int) -> int:
        """Register a transfer of ``size`` bytes; returns its id."""
        if self.n == self.size.shape[0]:
            for name in ("size", "delivered", "lost"):
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros_like(arr)]))
        tid = self.n
        self.size[tid] = size
        self.n += 1
        return tid
