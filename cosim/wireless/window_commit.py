"""A steady window's state and outcomes, applied to the engine at once.

:mod:`cosim.wireless.window` plans a window into :class:`Harq`: for each slot
and link whether it retransmits or sends a new TB, on how many RBs, with what
SNR, MCS, accumulated SNR and send count, whether the TB fails, its bytes and
the carry after it, plus the chain of each retransmission back to the TB it
repeats (a TB sent in the window, or one pending on a HARQ process before it).
:func:`commit` applies the window to the engine
in the per-slot path's order: TB rows appended slot-major then by link,
accumulated SNRs and send counts, deliveries, losses, the pending state, PF
averages ``T ← (1 − β) T + β · bits`` slot by slot, the last served slots and
the round-robin position.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.tblog import OK

if TYPE_CHECKING:
    from cosim.wireless.mac import MacEngine
    from cosim.wireless.scheduler import PfAverage


class Harq:
    """The layout of a window of up to ``w_max`` slots from slot ``s``.

    ``ext`` arrays ``[R + w_max, L]`` (``pend``, ``rbs``, ``acc``, ``mcs``, ``ntx``,
    ``orig``): row i is HARQ process ``(s + i) mod R`` after slot ``s + i − R``
    (rows below R: before the window). ``pend``: a TB waits there for its next
    send; ``rbs`` its RBs (0 where none waits); ``acc``, ``mcs``, ``ntx``: the TB
    sent in that slot (accumulated SNR, MCS, sends so far); ``orig``: the slot of
    the window in which that TB was first sent, −1 for a TB from before it.
    Window arrays ``[w_max, L]``: ``elig`` links given RBs for a new TB, ``nb`` its
    RBs, ``sent`` and ``cap`` whether it carries bytes and how many, ``nrb`` and
    ``g`` the RBs and SNR with the power split of whatever each link sends,
    ``fail`` and ``gone`` whether that fails and for the last time, ``carry`` the
    carry after the slot; per slot ``share`` and ``spare`` RBs dealt.
    """

    def __init__(self, eng: MacEngine, s: int, w_max: int) -> None:
        R, L, log = eng.R, eng.L, eng.tbs
        e = R + w_max
        row0 = eng.proc_tb[(s + np.arange(R)) % R]
        held = row0 >= 0
        r = np.where(held, row0, 0)
        self.row0 = row0  # TB log row pending on each process before the window, or −1
        self.len0 = log.length[r]
        self.tr0 = np.where(held, log.transfer[r], -1)
        self.closing = held & (self.tr0 != eng.cur)  # of transfers with no new bytes left
        # rows are written before they are read: rows ≥ R by the slot R earlier
        self.pend = np.empty((e, L), dtype=bool)
        self.pend[:R] = held
        self.rbs = np.empty((e, L), dtype=np.int64)
        self.rbs[:R] = np.where(held, log.rbs[r, 0], 0)
        self.acc = np.empty((e, L))
        self.acc[:R] = log.acc[r, 0]
        self.mcs = np.empty((e, L), dtype=np.int8)
        self.mcs[:R] = log.mcs[r, 0]
        self.ntx = np.empty((e, L), dtype=np.int64)
        self.ntx[:R] = log.ntx[r]
        self.orig = np.empty((e, L), dtype=np.int64)
        self.orig[:R] = -1
        self.slot_ids = np.arange(R)[:, None]
        self.link_ids = np.arange(L)
        self.elig = np.empty((w_max, L), dtype=bool)
        self.nb = np.empty((w_max, L), dtype=np.int64)
        self.nrb = np.empty((w_max, L), dtype=np.int64)  # RBs of whatever a link sends
        self.g = np.empty((w_max, L))
        self.fail = np.empty((w_max, L), dtype=bool)
        self.gone = np.empty((w_max, L), dtype=bool)  # failed for the last time
        self.share = np.empty(w_max, dtype=np.int64)
        self.spare = np.empty(w_max, dtype=np.int64)  # spare RBs dealt (0: none)
        self.sent = np.empty((w_max, L), dtype=bool)  # links sending a new TB
        self.cap = np.empty((w_max, L), dtype=np.int64)  # its bytes
        self.carry = np.empty((w_max, L))  # after each slot [bit]
        # under a fixed BLER, which sends fail (u < BLER), known before the layout
        self.fixed_fail: np.ndarray | None = None
        self.rr, self.rr_slot = eng.rr_next, 0  # round-robin position before slot rr_slot


@dataclass
class Retx:
    """The window's retransmissions, slot-major: slot, link, TB row, length [bytes],
    outcome."""

    w: np.ndarray
    link: np.ndarray
    rows: np.ndarray
    length: np.ndarray
    ok: np.ndarray
    give_up: np.ndarray


def retransmissions(eng: MacEngine, h: Harq, n: int, cap: np.ndarray, rid: np.ndarray) -> Retx:
    """The retransmissions of slots ``0 … n − 1``; ``rid[w, l]``: TB row of the new TB
    sent in slot w by link l (−1: none)."""
    R = eng.R
    rw, rl = np.nonzero(h.pend[:n])  # slot w retransmits what row w of ext holds
    o = h.orig[rw, rl]
    pre = o < 0
    oo = np.maximum(o, 0)
    rows = np.where(pre, h.row0[rw % R, rl], rid[oo, rl])
    length = np.where(pre, h.len0[rw % R, rl], cap[oo, rl])
    fail = h.fail[rw, rl]
    give_up = fail & (h.ntx[R + rw, rl] >= eng.max_tx)
    return Retx(rw, rl, rows, length, ~fail, give_up)


def closing_done(eng: MacEngine, h: Harq, n: int) -> tuple[int, list[int]]:
    """``(slots, transfers)``: transfers with no new bytes left whose last pending TBs all
    resolve in the first ``n`` slots end the window after the earliest such slot (as the
    per-slot loop stops after a slot in which transfers finished)."""
    if not h.closing.any():
        return n, []
    rw, rl = np.nonzero(h.pend[:n] & h.closing[:n])  # n ≤ R: all from before the window
    resolved = ~h.fail[rw, rl]
    if not eng.arq:
        resolved |= h.ntx[eng.R + rw, rl] >= eng.max_tx
    tr = h.tr0[rw, rl]
    pend_tr = h.tr0[h.pend[: eng.R]]
    ends: dict[int, int] = {}
    for t in np.unique(tr).tolist():
        mine = tr == t
        if int(mine.sum()) == int((pend_tr == t).sum()) and resolved[mine].all():
            ends[t] = int(rw[mine].max()) + 1
    if not ends:
        return n, []
    first = min(ends.values())
    return first, [t for t, end in ends.items() if end == first]


def commit(
    eng: MacEngine, s: int, k0: int, n: int, h: Harq, closing: list[int]
) -> tuple[int, list[int]]:
    """Apply slots ``s … s + n − 1`` to the engine; returns ``(n, transfers finished)``."""
    ch, log, R, L = eng.chunk, eng.tbs, eng.R, eng.L
    cap = h.cap[:n]
    sent_new = h.sent[:n]
    nw, nl = np.nonzero(sent_new)  # (boolean masks below give the same slot-major order)
    nb = cap[sent_new]
    start = eng.sent[nl] + (np.cumsum(cap, axis=0) - cap)[sent_new]
    rows = log.add(
        nl, eng.cur[nl], start, nb, s + nw, 0, h.nb[:n][sent_new][:, None],
        h.mcs[R : R + n][sent_new][:, None], h.g[:n][sent_new][:, None],
    )  # fmt: skip
    rid = np.full((n, L), -1, dtype=np.int64)
    rid[sent_new] = rows
    rt = retransmissions(eng, h, n, cap, rid)
    # a TB's accumulated SNR and send count after its last send in the window
    rw, rl = rt.w, rt.link
    last = ~((rw + R < n) & h.pend[R + rw, rl])
    log.acc[rt.rows[last], 0] = h.acc[R + rw[last], rl[last]]
    log.ntx[rt.rows[last]] = h.ntx[R + rw[last], rl[last]]
    _deliver(eng, rt.rows[rt.ok], s + rw[rt.ok])
    eng._give_up(rt.rows[rt.give_up])
    ok = ~h.fail[:n][sent_new]
    _deliver(eng, rows[ok], s + nw[ok])
    if eng.max_tx == 1:
        eng._give_up(rows[~ok])
    # TBs left pending on each process: its last state in the window (ext rows n … n+R−1)
    idx = np.arange(max(n, R), n + R)
    if idx.size:
        o = h.orig[idx]
        held = np.where(o < 0, h.row0[idx % R], rid[np.maximum(o, 0), np.arange(L)])
        eng.proc_tb[(s + idx) % R] = np.where(h.pend[idx], held, -1)
    eng.n_pending[:] = (eng.proc_tb >= 0).sum(axis=1)
    total = cap.sum(axis=0)
    eng.sent += total
    eng.buf -= total
    eng.need -= total
    eng.carry[:] = h.carry[n - 1]
    # from the position the plan had worked out up to the start of its last segment
    rr, rr_slot = (h.rr, h.rr_slot) if h.rr_slot <= n else (eng.rr_next, 0)
    eng.rr_next = advance_rr(rr, sent_new[rr_slot:], L)
    # --- per slot: served bits for PF, last served slot, samples
    served = np.zeros((n, L))
    served[sent_new] = 8 * nb
    served[rw, rl] = 8 * rt.length
    hit = served > 0
    seen = hit.any(axis=0)
    last_hit = n - 1 - np.argmax(hit[::-1], axis=0)
    eng.last_served[seen] = s + last_hit[seen]
    if ch.sample_every:
        kk = k0 + np.arange(n)
        ch.sampled.extend(kk[-s % ch.sample_every : n : ch.sample_every].tolist())
    _pf_update(eng.pf, s, served)
    eng.next_slot = s + n
    eng.slots_simulated += n
    return n, (eng._finished(closing) if closing else [])


def advance_rr(rr: int, sent: np.ndarray, n_links: int) -> int:
    """Round-robin position after slots whose sending links are ``sent`` (bool ``[W, L]``).

    After each slot with senders it moves past the last sender in round-robin order
    from the current position (:func:`rr_past`); a slot in which link ``rr − 1`` sent
    leaves it where it is, so only the other slots are looked at.
    """
    w, n = 0, sent.shape[0]
    while w < n:
        moved = ~sent[w:, (rr - 1) % n_links]
        if not moved.any():
            break
        w += int(np.argmax(moved))
        rr = rr_past(rr, np.flatnonzero(sent[w]).tolist(), n_links)
        w += 1
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
    # pf.gain(s + w) without its rebase test (no rebase inside: checked above)
    e0, beta, decay = s + 1 - pf.s0, pf.beta, pf.decay
    gains = [beta * decay ** -(e0 + w) for w in range(n_w)]
    np.multiply(np.array(gains)[:, None], served, out=terms[1:])
    pf.scaled[:] = np.add.accumulate(terms, axis=0)[-1]


def _deliver(eng: MacEngine, rows: np.ndarray, slots: np.ndarray) -> None:
    """TBs ``rows`` decoded in ``slots`` (a transfer may own several rows)."""
    log = eng.tbs
    log.state[rows] = OK
    log.done_slot[rows] = slots
    np.add.at(eng.tr.delivered, log.transfer[rows], log.length[rows])
