"""Several uplink slots at once when every backlogged link is served in each of them.

With the uplink power split, OFDMA gives each of K backlogged links a share of
⌊F / K⌋ RBs every slot; a slot then holds K transport blocks and stepping
slot by slot costs about a millisecond of Python per slot at K = 100. In a
*steady window* the outcome of every slot is known without ranking links:

* a frequency-flat channel, no ARQ backlog, OFDMA shares with the power split;
* the window is at most one HARQ round trip long, so the retransmissions due
  in it were all decided before it, and a TB failing in it is retransmitted
  after it;
* every link with data or a pending retransmission has a current transfer with
  more bytes left than the window could carry (no transfer finishes, nobody
  runs dry), and each pending retransmission belongs to that transfer;
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

from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.link import McsTableLinkModel
from cosim.wireless.tblog import OK

if TYPE_CHECKING:
    from cosim.wireless.mac import MacEngine


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


def run_window(eng: MacEngine, s: int, stop_slot: int) -> int:
    """Simulate slots ``s …`` of a steady window; returns how many (0: not steady at s)."""
    if not window_ok(eng):
        return 0
    ch = eng.chunk
    k0 = ch.index(s, stop_slot, eng.chunk_slots)
    w_max = min(eng.R, stop_slot - s, ch.n - k0)
    if w_max <= 0:
        return 0
    active = eng.need > 0
    pending = eng.proc_tb >= 0  # [R, L]
    if (pending.any(axis=0) & ~active).any():
        return 0
    if not active.any():
        return 0
    rows_p = eng.proc_tb[pending]
    if rows_p.size and (eng.tbs.transfer[rows_p] != eng.cur[np.nonzero(pending)[1]]).any():
        return 0

    # per slot: retransmitting links, free RBs, eligible links, share and spare RBs
    plan = []
    for w in range(w_max):
        p = (s + w) % eng.R
        retx = np.flatnonzero(eng.proc_tb[p] >= 0)
        free = eng.num_rbs - int(eng.tbs.rbs[eng.proc_tb[p, retx], 0].sum())
        elig = active.copy()
        elig[retx] = False
        e = int(elig.sum())
        k = min(e, eng.max_ues, free // eng.min_rbs)
        if k == 0 or k != e:
            break
        share = free // k
        spare = 0 if eng.scheduler == "equal_share" else free - k * share
        plan.append((p, retx, np.flatnonzero(elig), share, spare))
    if not plan:
        return 0

    # new TBs: SNR with the power split on each link's RBs, bits, carry, round robin
    n_w = len(plan)
    kk = k0 + np.arange(n_w)
    share = np.array([pl[3] for pl in plan])
    links = np.arange(eng.L)
    lm = eng.link_model
    mcs_wide = ch.mcs[k0 : k0 + n_w, :, 0]
    g = ch.gamma[k0 : k0 + n_w, :, 0] * eng.power_boost(links[None, :], share[:, None])
    r_share = lm.rate(g, share[:, None], mcs_wide)  # what the scheduler ranks by [bit]
    bits = r_share.copy()
    nmat = np.zeros((n_w, eng.L), dtype=np.int64)
    nbytes = np.zeros((n_w, eng.L), dtype=np.int64)
    carry = eng.carry.copy()
    carry_hist = []
    left = eng.buf.copy()  # new bytes of the current transfers (no ARQ backlog)
    rr = eng.rr_next
    for w, (_, _, el, sh, spare) in enumerate(plan):
        r = r_share[w, el]
        if (r <= 0).any():  # a link with rate 0 is not ranked: K would change
            n_w = w
            break
        # as allocate_shares: want = ⌈need_bits · share / r⌉ RBs; steady when every
        # link wants its share, and one more when spare RBs are dealt
        want = np.ceil(8 * left[el] * sh / r)
        n = np.full(el.size, sh, dtype=np.int64)
        if spare:
            if (want < sh + 1).any():
                n_w = w
                break
            first = np.argsort((el - rr) % eng.L, kind="stable")[:spare]
            n[first] += 1
            up = el[first]
            g[w, up] = ch.gamma[kk[w], up, 0] * eng.power_boost(up, sh + 1)
            bits[w, up] = lm.rate(g[w, up], sh + 1, mcs_wide[w, up])
        elif (want < sh).any():
            n_w = w
            break
        b = bits[w, el] + carry[el]
        whole = (b // 8).astype(np.int64)
        cap = np.maximum(whole - eng.tb_header, 0)  # 0: its RBs carry nothing (deep fade)
        if (left[el] <= cap).any():  # a buffer would empty: a transfer may end
            n_w = w
            break
        left[el] -= cap
        nmat[w, el] = n
        nbytes[w, el] = cap
        if eng.fractional:
            carry[el] = b - 8 * whole
        carry_hist.append(carry.copy())
        sent = el[cap > 0]
        if sent.size:
            rr = int(sent[int(np.argmax((sent - rr) % eng.L))] + 1) % eng.L
    if n_w == 0:
        return 0
    g = g[:n_w]
    if isinstance(lm, McsTableLinkModel):
        mcs = mcs_wide[:n_w] if lm.wideband else lm.select(g)
    else:
        mcs = lm.adapt(g)[0]
    return _commit(eng, s, plan[:n_w], nbytes[:n_w], nmat[:n_w], g, mcs, kk[:n_w], carry_hist)


def _commit(
    eng: MacEngine, s: int, plan: list, nbytes: np.ndarray, nmat: np.ndarray, g: np.ndarray,
    mcs: np.ndarray, kk: np.ndarray, carry_hist: list[np.ndarray],
) -> int:  # fmt: skip
    """Apply the window, vectorised over its slots: retransmissions, new TBs, PF, RR."""
    ch, log, lm = eng.chunk, eng.tbs, eng.link_model
    n_w = len(plan)
    # --- retransmissions due in the window (one HARQ process per slot)
    rw = np.concatenate([np.full(pl[1].size, w) for w, pl in enumerate(plan)]).astype(np.int64)
    r_links = np.concatenate([pl[1] for pl in plan]).astype(np.int64)
    if r_links.size:
        r_proc = (s + rw) % eng.R
        r_rows = eng.proc_tb[r_proc, r_links]
        gr = ch.gamma[kk[rw], r_links, 0] * eng.power_boost(r_links, log.rbs[r_rows, 0])
        acc = log.acc[r_rows, 0] + gr if eng.chase else gr
        ntx = log.ntx[r_rows] + 1
        bler = np.broadcast_to(lm.bler(log.mcs[r_rows, 0], acc), acc.shape)
        r_ok = ~(ch.u[kk[rw], r_links] < bler)
        give_up = ~r_ok & (ntx >= eng.max_tx)
        if eng.arq and give_up.any():  # ARQ re-queues bytes: the next slot is not steady
            n_w = int(rw[give_up].min()) + 1
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
        nl, tids, start, nb, 0, 0, nmat[nw, nl][:, None], mcs[nw, nl][:, None], g[nw, nl][:, None]
    )
    log.first_slot[rows] = slots
    bler = np.broadcast_to(lm.bler(mcs[nw, nl], g[nw, nl]), nb.shape)
    ok = ~(ch.u[kk[nw], nl] < bler)
    _deliver(eng, rows[ok], slots[ok])
    total = nbytes.sum(axis=0)
    eng.sent += total
    eng.buf -= total
    eng.need -= total
    eng.carry[:] = carry_hist[n_w - 1]
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
    for w in range(n_w):
        t = s + w
        if ch.sample_every and t % ch.sample_every == 0:
            ch.sampled.append(int(kk[w]))
        hit = served[w] > 0
        eng.last_served[hit] = t
        eng._note_served(nl[nw == w])
        eng.pf.scaled += eng.pf.gain(t) * served[w]
    eng.next_slot = s + n_w
    eng.slots_simulated += n_w
    return n_w


def _deliver(eng: MacEngine, rows: np.ndarray, slots: np.ndarray) -> None:
    """TBs ``rows`` decoded in ``slots`` (a transfer may own several rows)."""
    log = eng.tbs
    log.state[rows] = OK
    log.done_slot[rows] = slots
    np.add.at(eng.tr.delivered, log.transfer[rows], log.length[rows])
