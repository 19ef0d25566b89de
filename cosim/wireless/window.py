"""Several uplink slots at once when every backlogged link is served in each of them.

With the uplink power split, OFDMA gives each of K backlogged links a share of
⌊F / K⌋ RBs every slot; a slot then holds K transport blocks and stepping
slot by slot costs about a millisecond of Python per slot at K = 100. In a
*steady window* the outcome of every slot is known without ranking links:

* a frequency-flat channel, no ARQ backlog, OFDMA shares with the power split;
* the window is planned one HARQ round trip (block of R slots) at a time:
  the retransmissions due in a block were all decided before it (in the
  previous block, or before the window), and a TB failing in it is
  retransmitted in the next block on the same process
  (:mod:`cosim.wireless.window_commit` keeps that pending state);
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
of ``benchmarks/wireless.py``); the carry-over of fractional bits and the
round-robin position are advanced slot by slot, and the window (up to
``MAX_BLOCKS`` round trips, within one channel chunk) is committed once.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.link import McsTableLinkModel
from cosim.wireless.window_commit import (
    Block,
    Plan,
    WindowState,
    commit,
    resolve_block,
    row_lists,
    rr_past,
)

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


NOT_STEADY: tuple[int, list[int]] = (0, [])


#: Most HARQ round trips one window spans (it also ends with the channel chunk).
MAX_BLOCKS = 16


def run_window(eng: MacEngine, s: int, stop_slot: int) -> tuple[int, list[int]]:
    """Simulate slots ``s …`` of a steady window: ``(slots done, transfers finished)``.

    ``(0, [])`` when slot s is not steady. The window is planned one HARQ round
    trip (block) at a time on a copy of the pending-TB state and committed once;
    it ends at the first slot that is not steady, after a block in which a
    transfer with no new bytes has a retransmission (a transfer whose last pending
    retransmission resolves ends it at that slot, as the per-slot loop stops after
    a slot in which transfers finished), and at a slot where ARQ re-queues bytes.
    """
    if not window_ok(eng):
        return NOT_STEADY
    ch = eng.chunk
    k0 = ch.index(s, stop_slot, eng.chunk_slots)
    w_max = min(MAX_BLOCKS * eng.R, stop_slot - s, ch.n - k0)
    active = eng.need > 0
    if w_max <= 0 or not active.any():
        return NOT_STEADY
    st = WindowState(eng)
    done: list[Block] = []
    n_w = 0
    while n_w < w_max:
        n_max = min(eng.R, w_max - n_w)
        plan = _plan_block(eng, st, s + n_w, k0 + n_w, n_max, active)
        if plan is None:
            eng.not_steady_slot = s + n_w
            break
        blk = resolve_block(eng, st, plan)
        done.append(blk)
        n_w += blk.n
        if blk.n == plan.n < n_max:  # the plan found slot s + n_w not steady
            eng.not_steady_slot = s + n_w
        if blk.last or blk.n < n_max:
            break
    if n_w == 0:
        return NOT_STEADY
    return commit(eng, s, k0, n_w, done, st)


def _plan_block(
    eng: MacEngine, st: WindowState, sb: int, kb: int, n_max: int, active: np.ndarray
) -> Plan | None:
    """Plan slots ``sb …`` (chunk rows ``kb …``, at most one round trip): who sends
    how many bytes on how many RBs; ``None`` when slot sb is not steady."""
    ch = eng.chunk
    # per slot (rows w): retransmitting links, free RBs, eligible links, share, spare RBs
    L, R = eng.L, eng.R
    procs = (sb + np.arange(n_max)) % R
    retx = st.pend.row[procs] >= 0  # [W, L]
    free = eng.num_rbs - np.where(retx, st.pend.rbs[procs], 0).sum(axis=1)
    elig = active[None, :] & ~retx
    e = elig.sum(axis=1)
    k = np.minimum(np.minimum(e, eng.max_ues), free // eng.min_rbs)
    bad = (k == 0) | (k != e)
    n_w = int(np.argmax(bad)) if bad.any() else n_max
    if n_w == 0:
        return None
    free, elig, e, retx = free[:n_w], elig[:n_w], e[:n_w], retx[:n_w]
    share = free // e
    spare = np.zeros(n_w, dtype=np.int64) if eng.scheduler == "equal_share" else free - e * share

    # new TBs: SNR with the power split on each link's RBs, bits, carry, round robin
    lm = eng.link_model
    mcs_wide = ch.mcs[kb : kb + n_w, :, 0]
    gam = ch.gamma[kb : kb + n_w, :, 0]
    g = gam * eng.power_boost(None, share[:, None])
    r_share = lm.rate(g, share[:, None], mcs_wide)  # what the scheduler ranks by [bit]
    # zero bits where a link is not eligible: its carry then passes through the divmod
    # below unchanged (0 ≤ carry < 8: divmod(carry, 8) = (0, carry) exactly)
    bits = np.where(elig, r_share, 0.0)
    if spare.any():  # SNR and bits on one RB more, for the links spare RBs are dealt to
        g1 = gam * eng.power_boost(None, share[:, None] + 1)
        bits1 = lm.rate(g1, share[:, None] + 1, mcs_wide)
    nmat = np.where(elig, share[:, None], 0)
    # Spare RBs: one more to the first `spare` eligible links in round-robin order,
    # which then moves past the slot's last sender. Dealt before the carry-over on
    # the premise that every eligible link sends (its RBs carry a byte over the TB
    # header): checked below, and the window ends at the first slot where one does not.
    rr = st.rr
    snaps = [(0, rr)]  # (row, round-robin position before it)
    up_w: list[int] = []  # (slot, link) of each spare RB dealt
    up_l: list[int] = []
    spare_l = spare.tolist()
    if any(spare_l):
        for w, (sp, idx) in enumerate(zip(spare_l, row_lists(elig), strict=True)):
            if sp:
                snaps.append((w, rr))
                j = bisect_left(idx, rr)
                up = (idx[j:] + idx[:j])[:sp]
                up_w += [w] * len(up)
                up_l += up
            rr = rr_past(rr, idx, L)
        bits[up_w, up_l] = bits1[up_w, up_l]
    whole = np.empty((n_w, L))
    carry = st.carry  # read only: row w of carry_hist is the carry after slot w
    carry_hist = np.empty((n_w, L))
    b = np.empty(L)
    for w in range(n_w):
        np.add(bits[w], carry, out=b)
        cw = carry_hist[w]
        if eng.fractional:
            # b ≥ 0: floor(b / 8) and b − 8 ⌊b / 8⌋ = fmod(b, 8) are exact, as one divmod
            np.divmod(b, 8, out=(whole[w], cw))
        else:
            np.floor_divide(b, 8, out=whole[w])
            cw[:] = carry
        carry = cw
    cap = np.where(elig, np.maximum(whole.astype(np.int64) - eng.tb_header, 0), 0)
    # Steady as long as every eligible link wants its RBs (want = ⌈need_bits · share / r⌉,
    # as allocate_shares; one more where spare RBs are dealt), ranks (r > 0) and keeps
    # a byte after its TB (no buffer empties, no transfer ends).
    left = st.buf[None, :] - (np.cumsum(cap, axis=0) - cap)
    # (r ≤ 0 fails anyway: no division there, so no warnings to silence)
    want = np.divide(8 * left * share[:, None], r_share, out=np.zeros(r_share.shape),
                     where=r_share > 0)  # fmt: skip
    np.ceil(want, out=want)
    fail = elig & ((r_share <= 0) | (want < share[:, None] + (spare > 0)[:, None]) | (left <= cap))
    bad_w = fail.any(axis=1)
    mute = (elig & (whole <= eng.tb_header)).any(axis=1)
    if up_w and mute.any():  # spare RBs were dealt past a slot with a silent link
        bad_w[int(np.argmax(mute)) + 1 :] = True
    if bad_w.any():
        n_w = int(np.argmax(bad_w))
        if n_w == 0:
            return None
    if up_w:
        nmat[up_w, up_l] += 1  # no (slot, link) twice
        g[up_w, up_l] = g1[up_w, up_l]
    g = g[:n_w]
    if isinstance(lm, McsTableLinkModel):
        mcs = mcs_wide[:n_w] if lm.wideband else lm.select(g)
    else:
        mcs = lm.mcs_of(g)
    return Plan(
        sb, kb, n_w, procs[:n_w], retx[:n_w], cap[:n_w], nmat[:n_w], g, mcs, carry_hist,
        elig & (whole > eng.tb_header), snaps,
    )  # fmt: skip
