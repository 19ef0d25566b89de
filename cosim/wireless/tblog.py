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
        self._last_scan: tuple[int, int] | None = None
        self._groups: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
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

        A scan of the rows from ``first_row``; when asked again with no rows added or
        dropped since (e.g. many transfers cut off at once), the rows are grouped by
        transfer once (a stable sort) and later calls are two binary searches.
        """
        first_row = max(0, min(first_row, self.n))
        version = (self.n, self._generation)
        if self._groups is not None and self._groups[0] == version:
            _, order, keys = self._groups
            rows = order[np.searchsorted(keys, transfer) : np.searchsorted(keys, transfer, "right")]
            return rows[np.searchsorted(rows, first_row) :]
        if self._last_scan == version:
            order = np.argsort(self.transfer[: self.n], kind="stable")
            self._groups = (version, order, self.transfer[order])
            return self.rows_of(transfer, first_row)
        self._last_scan = version
        return first_row + np.flatnonzero(self.transfer[first_row : self.n] == transfer)

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
