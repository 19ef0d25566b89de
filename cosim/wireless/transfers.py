"""Transfer bookkeeping of the slot engine: queues per link, cut-offs, TB-log compaction.

Each link sends one transfer at a time; later ones wait in a FIFO queue and
become current once every new byte of the current one is in a transport block
(its HARQ/ARQ tail may still be running). Mixed into
:class:`cosim.wireless.mac.MacEngine`, whose ``__init__`` creates the state used here.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cosim.wireless.chunk import ChannelChunk
from cosim.wireless.tblog import CUT, TbLog, TransferCounters


class TransferBook:
    """Per-link transfer queues and per-transfer state (state lives in ``MacEngine``)."""

    L: int
    bc_link: int
    chunk: ChannelChunk
    tbs: TbLog
    tr: TransferCounters
    need: np.ndarray
    buf: np.ndarray
    sent: np.ndarray
    cur: np.ndarray
    arq_bytes: np.ndarray
    n_arq: int
    arq_q: list[deque[list[int]]]
    queues: list[deque[int]]
    proc_tb: np.ndarray
    n_pending: np.ndarray
    tr_link: list[int]
    tr_first_row: list[int]
    tr_finished: list[bool]
    tr_reported: list[bool]
    bc_members_of: dict[int, np.ndarray]

    def add_transfer(self, link: int, size_bytes: int, members: np.ndarray | None = None) -> int:
        """Queue ``size_bytes`` (``FULL_BUFFER`` for full buffer) on ``link``; returns its id.

        ``members`` (bool ``[n_clients]``) are the receivers of a broadcast-link transfer.
        """
        tid = self.tr.new(size_bytes)
        if members is not None:
            self.bc_members_of[tid] = np.asarray(members, dtype=bool)
        self.tr_link.append(link)
        self.tr_first_row.append(self.tbs.n)
        self.tr_finished.append(False)
        self.tr_reported.append(False)
        if self.cur[link] < 0:
            self._activate(link, tid)
        else:
            self.queues[link].append(tid)
        return tid

    def _activate(self, link: int, tid: int) -> None:
        self.cur[link] = tid
        self.tr_first_row[tid] = self.tbs.n
        size = int(self.tr.size[tid])
        self.buf[link] = size
        self.sent[link] = 0
        self.need[link] += size
        if link == self.bc_link:
            self.chunk.set_members(self.bc_members_of.pop(tid, None))

    def _advance_queue(self, link: int) -> None:
        """Make the next queued transfer current once the current one has no new bytes left."""
        if self.buf[link] > 0:
            return
        self.cur[link] = -1
        if self.queues[link]:
            self._activate(link, self.queues[link].popleft())

    def cut(self, tid: int) -> None:
        """Stop transfer ``tid`` now (deadline): drop its unsent bytes and pending HARQ/ARQ."""
        if self.tr_finished[tid]:
            return
        self.tr_finished[tid] = True
        link = self.tr_link[tid]
        if tid in self.queues[link]:
            self.queues[link].remove(tid)
            return
        if self.cur[link] == tid:
            self.need[link] -= self.buf[link]
            self.buf[link] = 0
            self._advance_queue(link)
        kept: deque[list[int]] = deque()
        for entry in self.arq_q[link]:
            if entry[0] == tid:
                self.need[link] -= entry[2]
                self.arq_bytes[link] -= entry[2]
                self.n_arq -= 1
            else:
                kept.append(entry)
        self.arq_q[link] = kept
        # A TB is PENDING exactly while it waits on a HARQ process (proc_tb), so the
        # transfer's live TBs are found there, without scanning the TB log.
        col = self.proc_tb[:, link]
        pending = col >= 0
        pending[pending] = self.tbs.transfer[col[pending]] == tid
        live = col[pending]
        self.n_pending -= pending
        self.proc_tb[pending, link] = -1
        self.tbs.state[live] = CUT

    def compact(self) -> None:
        """Drop the TB rows of transfers marked in ``tr_reported`` (their results are built;
        bounded memory in long runs)."""
        log = self.tbs
        n = log.n
        reported = np.asarray(self.tr_reported, dtype=bool)
        keep = ~reported[log.transfer[:n]]
        kept_old = np.flatnonzero(keep)
        new_id = log.compact(keep)
        held = self.proc_tb >= 0
        self.proc_tb[held] = new_id[self.proc_tb[held]]
        first = np.searchsorted(kept_old, np.asarray(self.tr_first_row))
        self.tr_first_row = [int(x) for x in first]
