"""Several uplink slots at once when every backlogged link is served in each of them.

With the uplink power split, OFDMA gives each of K backlogged links a share of
⌊F / K⌋ RBs every slot; a slot then holds K transport blocks and stepping
slot by slot costs about a millisecond of Python per slot at K = 100. In a
*steady window* the outcome of every slot is known without ranking links:

* a frequency-flat channel, no ARQ backlog, OFDMA shares with the power split;
* the window is at most one HARQ round trip long, so the retransmissions due
  in it were all decided before it, and a TB failing in it is retransmitted
  after it;
* every link with data keeps at least a byte after its TBs (nobody runs dry);
  a transfer with no new bytes left may finish when its last pending
  retransmission resolves, which ends the window at that slot;
* in every slot all eligible links are served (K = E) and want at least their
  share, plus one RB where the spare RBs are dealt (in round-robin order, so
  the metric order does not change any link's RBs); a link whose RBs carry
  less than a byte sends nothing, as in the per-slot path.

:func:`run_window` checks these, then does the window's arithmetic as arrays
``[slots, links]`` with the same formulas and in the same order as
:meth:`MacEngine._general` (tests compare both against the per-slot reference
of ``benchmarks/wireless.py``); the carry-over of fractional bits, PF averages
and the round-robin position are advanced slot by slot over ≤ R slots.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.link import McsTableLinkModel
from cosim.wireless.tblog import OK

if TYPE_CHECKING:
    from cosim.wireless.mac import MacEngine
    from cosim.wireless.scheduler import PfAverage


def window_ok(eng: MacEngine) -> bool:
    """The engine-wide conditions (configuration and ARQ state)."""
    return (
        eng.split
        and not eng.tdma
        and not eng.fdma
        and eng.B == 1
        and not eng.n_arq
        and not eng.chunk.rate_mode
    )


NOT_STEADY: tuple[int, list[int]] = (0, [])


def run_window(eng: MacEngine, s: int, stop_slot: int) -> tuple[int, list[int]]:
    """Simulate slots ``s …`` of a steady window: ``(slots done, transfers finished)``.

    ``(0, [])`` when slot s is not steady. A transfer whose last pending
    retransmission resolves in the window ends it at that slot, as the per-slot
    loop stops after a slot in which transfers finished.
    """
    if not window_ok(eng):
        return NOT_STEADY
    ch = eng.chunk
    k0 = ch.index(s, stop_slot, eng.chunk_slots)
    w_max = min(eng.R, stop_slot - s, ch.n - k0)
    active = eng.need > 0
    if w_max <= 0 or not active.any():
        return NOT_STEADY

    # per slot (rows w): retransmitting links, free RBs, eligible links, share, spare RBs
    L, R = eng.L, eng.R
    proc = eng.proc_tb[(s + np.arange(w_max)) % R]  # [W, L] TB row or -1
    retx = proc >= 0
    free = eng.num_rbs - np.where(retx, eng.tbs.rbs[proc, 0], 0).sum(axis=1)
    elig = active[None, :] & ~retx
    e = elig.sum(axis=1)
    k = np.minimum(np.minimum(e, eng.max_ues), free // eng.min_rbs)
    bad = (k == 0) | (k != e)
    n_w = int(np.argmax(bad)) if bad.any() else w_max
    if n_w == 0:
        return NOT_STEADY
    free, elig, e, retx = free[:n_w], elig[:n_w], e[:n_w], retx[:n_w]
    share = free // e
    spare = np.zeros(n_w, dtype=np.int64) if eng.scheduler == "equal_share" else free - e * share

    # new TBs: SNR with the power split on each link's RBs, bits, carry, round robin
    lm = eng.link_model
    mcs_wide = ch.mcs[k0 : k0 + n_w, :, 0]
    gam = ch.gamma[k0 : k0 + n_w, :, 0]
    g = gam * eng.power_boost(None, share[:, None])
    r_share = lm.rate(g, share[:, None], mcs_wide)  # what the scheduler ranks by [bit]
    bits = r_share.copy()
    if spare.any():  # SNR and bits on one RB more, for the links spare RBs are dealt to
        g1 = gam * eng.power_boost(None, share[:, None] + 1)
        bits1 = lm.rate(g1, share[:, None] + 1, mcs_wide)
    nmat = np.where(elig, share[:, None], 0)
    whole = np.empty((n_w, L))
    carry = eng.carry  # read only: row w of carry_hist is the carry after slot w
    carry_hist = np.empty((n_w, L))
    b = np.empty(L)
    rem = np.empty(L)
    rr = eng.rr_next
    snaps = [(0, rr)]  # (row, round-robin position before it)
    spare_l = spare.tolist()
    up_w: list[int] = []  # (slot, link) of each spare RB dealt
    up_l: list[int] = []
    for w in range(n_w):
        el = elig[w]
        sp = spare_l[w]
        if sp:  # one more RB to the first `spare` eligible links in round-robin order
            r0 = snaps[-1][0]
            if r0 == w - 1:  # the common case: spare RBs in consecutive slots
                rr = _rr_after(rr, np.flatnonzero(elig[r0] & (whole[r0] > eng.tb_header)), L)
            elif r0 < w:
                rr = _advance_rr(rr, elig[r0:w] & (whole[r0:w] > eng.tb_header), L)
            snaps.append((w, rr))
            idx = np.flatnonzero(el).tolist()
            j = bisect_left(idx, rr)
            up = (idx[j:] + idx[:j])[:sp]
            up_w += [w] * sp
            up_l += up
            bits[w, up] = bits1[w, up]
        np.add(bits[w], carry, out=b)
        cw = carry_hist[w]
        cw[:] = carry
        if eng.fractional:
            # b ≥ 0: floor(b / 8) and b − 8 ⌊b / 8⌋ = fmod(b, 8) are exact, as one divmod
            np.divmod(b, 8, out=(whole[w], rem))
            np.copyto(cw, rem, where=el)
        else:
            np.floor_divide(b, 8, out=whole[w])
        carry = cw
    cap = np.where(elig, np.maximum(whole.astype(np.int64) - eng.tb_header, 0), 0)
    # Steady as long as every eligible link wants its RBs (want = ⌈need_bits · share / r⌉,
    # as allocate_shares; one more where spare RBs are dealt), ranks (r > 0) and keeps
    # a byte after its TB (no buffer empties, no transfer ends).
    left = eng.buf[None, :] - (np.cumsum(cap, axis=0) - cap)
    # (r ≤ 0 fails anyway: no division there, so no warnings to silence)
    want = np.divide(8 * left * share[:, None], r_share, out=np.zeros(r_share.shape),
                     where=r_share > 0)  # fmt: skip
    np.ceil(want, out=want)
    fail = elig & ((r_share <= 0) | (want < share[:, None] + (spare > 0)[:, None]) | (left <= cap))
    bad_w = fail.any(axis=1)
    if bad_w.any():
        n_w = int(np.argmax(bad_w))
        if n_w == 0:
            return NOT_STEADY
    if up_w:
        nmat[up_w, up_l] += 1  # no (slot, link) twice
        g[up_w, up_l] = g1[up_w, up_l]
    g = g[:n_w]
    if isinstance(lm, McsTableLinkModel):
        mcs = mcs_wide[:n_w] if lm.wideband else lm.select(g)
    else:
        mcs = lm.mcs_of(g)
    rw, r_links = np.nonzero(retx[:n_w])  # slot-major, as the per-slot path resolves them
    return _commit(
        eng, s, n_w, rw, r_links, cap[:n_w], nmat[:n_w], g, mcs, k0 + np.arange(n_w),
        (carry_hist, elig & (whole > eng.tb_header), snaps),
    )  # fmt: skip


def _advance_rr(rr: int, sent: np.ndarray, n_links: int) -> int:
    """Round-robin position after slots whose sending links are ``sent`` (bool ``[W, L]``).

    After each slot with senders it moves past the last sender in round-robin order
    from the current position: the largest sender below ``rr``, else the largest one.
    """
    if sent.shape[0] == 1:
        return _rr_after(rr, np.flatnonzero(sent[0]), n_links)
    if not sent.size:
        return rr
    rows, cols = np.nonzero(sent)
    bounds = np.searchsorted(rows, np.arange(sent.shape[0] + 1)).tolist()
    cols_l = cols.tolist()
    for w in range(sent.shape[0]):
        seg = cols_l[bounds[w] : bounds[w + 1]]
        if seg:
            rr = (seg[bisect_left(seg, rr) - 1] + 1) % n_links
    return rr


def _rr_after(rr: int, senders: np.ndarray, n_links: int) -> int:
    """:func:`_advance_rr` over one slot whose sending links are ``senders`` (sorted)."""
    if not senders.size:
        return rr
    return (int(senders[int(senders.searchsorted(rr)) - 1]) + 1) % n_links


def _commit(
    eng: MacEngine, s: int, n_w: int, rw: np.ndarray, r_links: np.ndarray, nbytes: np.ndarray,
    nmat: np.ndarray, g: np.ndarray, mcs: np.ndarray, kk: np.ndarray,
    rr_state: tuple[np.ndarray, np.ndarray, list[tuple[int, int]]],
) -> tuple[int, list[int]]:  # fmt: skip
    """Apply the window, vectorised over its slots: retransmissions, new TBs, PF, RR.

    ``rw, r_links``: slot and link of each retransmission due, slot-major;
    ``rr_state``: carry after each slot, links sending new data in each slot and
    the round-robin position before some slots (from which the position after the
    window's last slot follows).
    """
    ch, log, lm = eng.chunk, eng.tbs, eng.link_model
    closing_done: list[int] = []
    # --- retransmissions due in the window (one HARQ process per slot)
    if r_links.size:
        r_proc = (s + rw) % eng.R
        r_rows = eng.proc_tb[r_proc, r_links]
        gr = ch.gamma[kk[rw], r_links, 0] * eng.power_boost(r_links, log.rbs[r_rows, 0])
        acc = log.acc[r_rows, 0] + gr if eng.chase else gr
        ntx = log.ntx[r_rows] + 1
        r_ok = ~(ch.u[kk[rw], r_links] < lm.bler(log.mcs[r_rows, 0], acc))
        give_up = ~r_ok & (ntx >= eng.max_tx)
        cut = n_w
        if eng.arq and give_up.any():  # ARQ re-queues bytes: the next slot is not steady
            cut = int(rw[give_up].min()) + 1
        # transfers with no new bytes left end when their last pending TB resolves
        closing = log.transfer[r_rows] != eng.cur[r_links]
        if closing.any():
            resolved = r_ok | (give_up & (not eng.arq))
            pend_tr = log.transfer[eng.proc_tb[eng.proc_tb >= 0]]
            r_tr = log.transfer[r_rows]
            for t in np.unique(r_tr[closing]):
                mine = r_tr == t
                if int(mine.sum()) == int((pend_tr == t).sum()) and resolved[mine].all():
                    cut = min(cut, int(rw[mine].max()) + 1)
                    closing_done.append(int(t))
        if cut < n_w:
            n_w = cut
            keep = rw < n_w
            rw, r_links, r_proc, r_rows = rw[keep], r_links[keep], r_proc[keep], r_rows[keep]
            acc, ntx, r_ok, give_up = acc[keep], ntx[keep], r_ok[keep], give_up[keep]
        log.acc[r_rows, 0] = acc
        log.ntx[r_rows] = ntx
        _deliver(eng, r_rows[r_ok], s + rw[r_ok])
        eng._give_up(r_rows[give_up])
        clear = r_ok | give_up
        eng.proc_tb[r_proc[clear], r_links[clear]] = -1
        np.subtract.at(eng.n_pending, r_proc[clear], 1)
    # --- new TBs, slot-major then link order (as the per-slot path adds them)
    nbytes = nbytes[:n_w]
    nw, nl = np.nonzero(nbytes > 0)
    nb = nbytes[nw, nl]
    before = np.cumsum(nbytes, axis=0) - nbytes  # bytes each link sent earlier in the window
    start = eng.sent[nl] + before[nw, nl]
    tids = eng.cur[nl]
    slots = s + nw
    rows = log.add(
        nl, tids, start, nb, slots, 0, nmat[nw, nl][:, None], mcs[nw, nl][:, None],
        g[nw, nl][:, None],
    )  # fmt: skip
    ok = ~(ch.u[kk[nw], nl] < lm.bler(mcs[nw, nl], g[nw, nl]))
    _deliver(eng, rows[ok], slots[ok])
    total = nbytes.sum(axis=0)
    eng.sent += total
    eng.buf -= total
    eng.need -= total
    carry_hist, sent_new, snaps = rr_state
    eng.carry[:] = carry_hist[n_w - 1]
    r0, rr0 = [x for x in snaps if x[0] < n_w][-1]
    eng.rr_next = _advance_rr(rr0, sent_new[r0:n_w], eng.L)
    fail = ~ok
    if eng.max_tx > 1:
        fp = slots[fail] % eng.R
        eng.proc_tb[fp, nl[fail]] = rows[fail]
        np.add.at(eng.n_pending, fp, 1)
    else:
        eng._give_up(rows[fail])
    # --- per slot: served bits for PF, last served slot, round-robin position, samples
    served = np.zeros((n_w, eng.L))
    served[nw, nl] = 8 * nb
    if r_links.size:
        served[rw, r_links] = 8 * log.length[r_rows]
    hit = served > 0
    seen = hit.any(axis=0)
    last = n_w - 1 - np.argmax(hit[::-1], axis=0)
    eng.last_served[seen] = s + last[seen]
    if ch.sample_every:
        ch.sampled.extend(kk[-s % ch.sample_every : n_w : ch.sample_every].tolist())
    _pf_update(eng.pf, s, served)
    eng.next_slot = s + n_w
    eng.slots_simulated += n_w
    return n_w, (eng._finished(closing_done) if closing_done else [])


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
