"""A steady window's outcomes: HARQ state advanced block by block, committed once.

:mod:`cosim.wireless.window` plans a window one HARQ round trip (block, ``R``
slots) at a time. Within a block the retransmissions due were all decided
before it: the TB pending on process ``p = s mod R`` of a link in block j is the
one that failed there in block j − 1 (a new TB, or a retransmission with
``ntx < harq_max_tx``). :class:`WindowState` holds a copy of that pending-TB
state (``[R, L]`` per field, as ``proc_tb`` and the TB log hold it), the
buffers, the carry and the round-robin position; :func:`resolve_block` decodes
one block's TBs on it with the per-slot path's formulas:

* retransmission: ``acc ← acc + γ·boost`` (chase) or ``γ·boost``, fail iff
  ``u[s, link] < BLER(mcs, acc)``, given up after ``harq_max_tx`` sends;
* new TB: fail iff ``u[s, link] < BLER(mcs, γ·boost)``; a failure waits on its
  process for the next block.

:func:`commit` then applies the whole window to the engine in the per-slot
path's order: TB rows appended slot-major then by link (the row ids handed out
while planning), accumulated SNRs and send counts, deliveries, losses, the
pending state, PF averages ``T ← (1 − β) T + β · bits`` slot by slot, the last
served slots and the round-robin position.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.tblog import OK

if TYPE_CHECKING:
    from cosim.wireless.mac import MacEngine
    from cosim.wireless.scheduler import PfAverage


class _Pending:
    """TBs waiting on each HARQ process, ``[R, L]`` per field (row p: process p)."""

    def __init__(self, eng: MacEngine) -> None:
        log = eng.tbs
        self.row = eng.proc_tb.copy()  # TB log row (ids of the window's own TBs too) or -1
        held = self.row >= 0
        r = np.where(held, self.row, 0)
        self.acc = log.acc[r, 0]
        self.ntx = log.ntx[r]
        self.mcs = log.mcs[r, 0]
        self.rbs = np.where(held, log.rbs[r, 0], 0)
        self.length = log.length[r]
        self.tr = np.where(held, log.transfer[r], -1)


class WindowState:
    """What the window changes, advanced block by block before the commit."""

    def __init__(self, eng: MacEngine) -> None:
        self.pend = _Pending(eng)
        self.buf = eng.buf.copy()
        self.sent = eng.sent.copy()
        self.carry = eng.carry.copy()
        self.rr = eng.rr_next
        self.first_row = eng.tbs.n  # row id of the window's first new TB
        self.next_row = self.first_row


@dataclass
class Plan:
    """One block as planned: slots ``sb …`` (chunk rows ``kb …``), ``n`` of them."""

    sb: int
    kb: int
    n: int
    procs: np.ndarray  # HARQ process of each row
    retx: np.ndarray  # [n, L] link retransmits
    cap: np.ndarray  # [n, L] bytes of its new TB (0: none)
    nmat: np.ndarray  # [n, L] RBs of its new TB
    g: np.ndarray  # [n, L] SNR with the power split [linear]
    mcs: np.ndarray  # [n, L]
    carry_hist: np.ndarray  # row w: carry after slot w
    sent_new: np.ndarray  # [n', L] links sending new data (round robin)
    snaps: list[tuple[int, int]]  # (row, round-robin position before it)


@dataclass
class Block:
    """One block's outcomes: retransmissions (``r_*``) and new TBs, slot-major."""

    sb: int
    n: int
    rw: np.ndarray
    r_rows: np.ndarray
    acc: np.ndarray
    ntx: np.ndarray
    r_ok: np.ndarray
    give_up: np.ndarray
    nw: np.ndarray
    nl: np.ndarray
    nb: np.ndarray
    start: np.ndarray
    tids: np.ndarray
    nm: np.ndarray
    mcs: np.ndarray
    g: np.ndarray
    ok: np.ndarray
    rows: np.ndarray
    served: np.ndarray  # [n, L] bits sent (PF)
    last: bool = False  # the window ends after this block
    closing_done: list[int] = field(default_factory=list)


def resolve_block(eng: MacEngine, st: WindowState, plan: Plan) -> Block:
    """Decode the block's retransmissions and new TBs and advance ``st`` past it
    (the block may end early: ARQ re-queues bytes, or a transfer finishes)."""
    ch, lm, pend = eng.chunk, eng.link_model, st.pend
    n, kb = plan.n, plan.kb
    rw, r_links = np.nonzero(plan.retx)  # slot-major, as the per-slot path resolves them
    last = False
    closing_done: list[int] = []
    r_proc = plan.procs[rw]
    r_rows = pend.row[r_proc, r_links]
    gr = ch.gamma[kb + rw, r_links, 0] * eng.power_boost(r_links, pend.rbs[r_proc, r_links])
    acc = pend.acc[r_proc, r_links] + gr if eng.chase else gr
    ntx = pend.ntx[r_proc, r_links] + 1
    r_ok = ~(ch.u[kb + rw, r_links] < lm.bler(pend.mcs[r_proc, r_links], acc))
    give_up = ~r_ok & (ntx >= eng.max_tx)
    r_len = pend.length[r_proc, r_links]
    if r_links.size:
        cut = n
        if eng.arq and give_up.any():  # ARQ re-queues bytes: the next slot is not steady
            cut = int(rw[give_up].min()) + 1
            last = True
        # transfers with no new bytes left end when their last pending TB resolves
        r_tr = pend.tr[r_proc, r_links]
        closing = r_tr != eng.cur[r_links]
        if closing.any():
            last = True
            resolved = r_ok | (give_up & (not eng.arq))
            pend_tr = pend.tr[pend.row >= 0]
            for t in np.unique(r_tr[closing]):
                mine = r_tr == t
                if int(mine.sum()) == int((pend_tr == t).sum()) and resolved[mine].all():
                    cut = min(cut, int(rw[mine].max()) + 1)
                    closing_done.append(int(t))
        if cut < n:
            n = cut
            keep = rw < n
            rw, r_links, r_proc, r_rows = rw[keep], r_links[keep], r_proc[keep], r_rows[keep]
            acc, ntx, r_ok, give_up = acc[keep], ntx[keep], r_ok[keep], give_up[keep]
            r_len = r_len[keep]
        clear = r_ok | give_up
        pend.row[r_proc[clear], r_links[clear]] = -1
        stay = ~clear
        pend.acc[r_proc[stay], r_links[stay]] = acc[stay]
        pend.ntx[r_proc[stay], r_links[stay]] = ntx[stay]
    # --- new TBs, slot-major then link order (as the per-slot path adds them)
    nbytes = plan.cap[:n]
    nw, nl = np.nonzero(nbytes > 0)
    nb = nbytes[nw, nl]
    before = np.cumsum(nbytes, axis=0) - nbytes  # bytes each link sent earlier in the block
    start = st.sent[nl] + before[nw, nl]
    tids = eng.cur[nl]
    nm, mcs, g = plan.nmat[nw, nl], plan.mcs[nw, nl], plan.g[nw, nl]
    rows = st.next_row + np.arange(nb.size)
    st.next_row += nb.size
    ok = ~(ch.u[kb + nw, nl] < lm.bler(mcs, g))
    total = nbytes.sum(axis=0)
    st.sent += total
    st.buf -= total
    st.carry = plan.carry_hist[n - 1]
    r0, rr0 = [x for x in plan.snaps if x[0] < n][-1]
    st.rr = advance_rr(rr0, plan.sent_new[r0:n], eng.L)
    fail = ~ok
    if eng.max_tx > 1:  # a failed new TB waits on its process for the next block
        fp, fl = plan.procs[nw[fail]], nl[fail]
        pend.row[fp, fl] = rows[fail]
        pend.acc[fp, fl] = g[fail]
        pend.ntx[fp, fl] = 1
        pend.mcs[fp, fl] = mcs[fail]
        pend.rbs[fp, fl] = nm[fail]
        pend.length[fp, fl] = nb[fail]
        pend.tr[fp, fl] = tids[fail]
    served = np.zeros((n, eng.L))
    served[nw, nl] = 8 * nb
    if r_links.size:
        served[rw, r_links] = 8 * r_len
    return Block(
        plan.sb, n, rw, r_rows, acc, ntx, r_ok, give_up, nw, nl, nb, start, tids, nm, mcs, g,
        ok, rows, served, last, closing_done,
    )  # fmt: skip


def commit(
    eng: MacEngine, s: int, k0: int, n_w: int, blocks: list[Block], st: WindowState
) -> tuple[int, list[int]]:
    """Apply the window's blocks to the engine; returns ``(n_w, transfers finished)``."""
    ch, log = eng.chunk, eng.tbs
    if log.n != st.first_row:
        raise RuntimeError("TB log changed while a window was planned")

    def cat(xs: list[np.ndarray]) -> np.ndarray:
        return xs[0] if len(xs) == 1 else np.concatenate(xs)

    nl = cat([b.nl for b in blocks])
    slots = cat([b.sb + b.nw for b in blocks])
    ok = cat([b.ok for b in blocks])
    rows = log.add(
        nl, cat([b.tids for b in blocks]), cat([b.start for b in blocks]),
        cat([b.nb for b in blocks]), slots, 0, cat([b.nm for b in blocks])[:, None],
        cat([b.mcs for b in blocks])[:, None], cat([b.g for b in blocks])[:, None],
    )  # fmt: skip
    for b in blocks:  # in order: a TB resent in several blocks keeps its last values
        if b.r_rows.size:
            log.acc[b.r_rows, 0] = b.acc
            log.ntx[b.r_rows] = b.ntx
    r_rows = cat([b.r_rows for b in blocks])
    r_ok = cat([b.r_ok for b in blocks])
    r_slots = cat([b.sb + b.rw for b in blocks])
    _deliver(eng, r_rows[r_ok], r_slots[r_ok])
    eng._give_up(r_rows[cat([b.give_up for b in blocks])])
    _deliver(eng, rows[ok], slots[ok])
    if eng.max_tx == 1:
        eng._give_up(rows[~ok])
    held = st.pend.row >= 0
    eng.proc_tb[:] = st.pend.row
    eng.n_pending[:] = held.sum(axis=1)
    eng.need -= eng.buf - st.buf
    eng.buf[:] = st.buf
    eng.sent[:] = st.sent
    eng.carry[:] = st.carry
    eng.rr_next = st.rr
    # --- per slot: served bits for PF, last served slot, samples
    served = cat([b.served for b in blocks])
    hit = served > 0
    seen = hit.any(axis=0)
    last = n_w - 1 - np.argmax(hit[::-1], axis=0)
    eng.last_served[seen] = s + last[seen]
    if ch.sample_every:
        kk = k0 + np.arange(n_w)
        ch.sampled.extend(kk[-s % ch.sample_every : n_w : ch.sample_every].tolist())
    _pf_update(eng.pf, s, served)
    eng.next_slot = s + n_w
    eng.slots_simulated += n_w
    closing = blocks[-1].closing_done
    return n_w, (eng._finished(closing) if closing else [])


def advance_rr(rr: int, sent: np.ndarray, n_links: int) -> int:
    """Round-robin position after slots whose sending links are ``sent`` (bool ``[W, L]``).

    After each slot with senders it moves past the last sender in round-robin order
    from the current position (:func:`rr_past`).
    """
    for senders in row_lists(sent):
        rr = rr_past(rr, senders, n_links)
    return rr


def row_lists(mask: np.ndarray) -> list[list[int]]:
    """The columns set in each row of ``mask`` (bool ``[W, L]``), ascending."""
    rows, cols = np.nonzero(mask)
    bounds = np.searchsorted(rows, np.arange(mask.shape[0] + 1)).tolist()
    cols_l = cols.tolist()
    return [cols_l[bounds[w] : bounds[w + 1]] for w in range(mask.shape[0])]


def rr_past(rr: int, senders: list[int], n_links: int) -> int:
    """The round-robin position after one slot whose sending links are ``senders``
    (ascending): past the last of them in cyclic order from ``rr``, i.e. past the
    largest sender below ``rr``, else past the largest one; ``rr`` if none sent."""
    if not senders:
        return rr
    return (senders[bisect_left(senders, rr) - 1] + 1) % n_links


def _pf_update(pf: PfAverage, s: int, served: np.ndarray) -> None:
    """``pf.scaled += pf.gain(s + w) · served[w]`` for each row w in turn, in place.

    Without a rebase inside the window, as one sequential accumulation over the rows
    (same products, same additions in the same order, hence the same bits).
    """
    n_w = served.shape[0]
    if s + n_w - pf.s0 > pf.max_span:
        for w in range(n_w):
            pf.scaled += pf.gain(s + w) * served[w]
        return
    terms = np.empty((n_w + 1, served.shape[1]))
    terms[0] = pf.scaled
    gains = [pf.gain(s + w) for w in range(n_w)]
    np.multiply(np.array(gains)[:, None], served, out=terms[1:])
    pf.scaled[:] = np.add.accumulate(terms, axis=0)[-1]


def _deliver(eng: MacEngine, rows: np.ndarray, slots: np.ndarray) -> None:
    """TBs ``rows`` decoded in ``slots`` (a transfer may own several rows)."""
    log = eng.tbs
    log.state[rows] = OK
    log.done_slot[rows] = slots
    np.add.at(eng.tr.delivered, log.transfer[rows], log.length[rows])
