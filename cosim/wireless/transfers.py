"""Transfer bookkeeping of the slot engine: queues per link, cut-offs, TB-log compaction.

Each link sends one transfer at a time; later ones wait in a FIFO queue and
become current once every new byte of the current one is in a transport block
(its HARQ/ARQ tail may still be running). The base of
:class:`cosim.wireless.mac.MacEngine`; the state is created here.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cosim.wireless.chunk import ChannelChunk
from cosim.wireless.tblog import CUT, TbLog, TransferCounters


class TransferBook:
    """Per-link transfer queues, HARQ processes and per-transfer state.

    Owns that state (created here); :class:`cosim.wireless.mac.MacEngine`, which
    derives from it, reads and updates it slot by slot.
    """

    def __init__(
        self, n_links: int, bc_link: int, harq_processes: int, tbs: TbLog, chunk: ChannelChunk
    ) -> None:
        L = n_links
        self.L = L
        self.bc_link = bc_link  # the broadcast link, −1 if none
        self.chunk = chunk  # whose broadcast members follow the current transfer
        self.tbs = tbs
        self.tr = TransferCounters()
        self.need = np.zeros(L, dtype=np.int64)  # bytes waiting: ARQ + new
        self.buf = np.zeros(L, dtype=np.int64)  # new bytes of the current transfer
        self.sent = np.zeros(L, dtype=np.int64)  # offset of the next new byte
        self.cur = np.full(L, -1, dtype=np.int64)  # current transfer id per link
        self.arq_bytes = np.zeros(L, dtype=np.int64)
        self.n_arq = 0  # ARQ ranges waiting, all links
        self.arq_q: list[deque[list[int]]] = [deque() for _ in range(L)]
        self.queues: list[deque[int]] = [deque() for _ in range(L)]
        # TB row waiting on each (HARQ process, link), −1 if none; TBs per process
        self.proc_tb = np.full((harq_processes, L), -1, dtype=np.int64)
        self.n_pending = np.zeros(harq_processes, dtype=np.int64)
        self.tr_link: list[int] = []
        self.tr_first_row: list[int] = []
        self.tr_finished: list[bool] = []
        self.tr_reported: list[bool] = []  # result built; its TB rows may be dropped
        self.bc_members_of: dict[int, np.ndarray] = {}

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
        if all(self.tr_reported):  # nothing is kept (e.g. the last result): no rows to move
            log.clear()
            self.proc_tb.fill(-1)
            self.tr_first_row = [0] * len(self.tr_first_row)
            return
        reported = np.asarray(self.tr_reported, dtype=bool)
        keep = ~reported[log.transfer[:n]]
        kept_old = np.flatnonzero(keep)
        new_id = log.compact(keep)
        held = self.proc_tb >= 0
        self.proc_tb[held] = new_id[self.proc_tb[held]]
        first = np.searchsorted(kept_old, np.asarray(self.tr_first_row))
        self.tr_first_row = [int(x) for x in first]
