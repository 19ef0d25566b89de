"""Many uplink slots at once when every backlogged link is served in each of them.

With the uplink power split, OFDMA gives each of K backlogged links a share of
⌊F / K⌋ RBs every slot; a slot then holds K transport blocks and stepping
slot by slot costs about a millisecond of Python per slot at K = 100. In a
*steady window* the outcome of every slot is known without ranking links:

* a frequency-flat channel, no ARQ backlog, OFDMA shares with the power split;
* in every slot all eligible links (those with data and no retransmission due)
  are served (K = E) and want at least their share, plus one RB where the
  spare RBs are dealt (in round-robin order, so the metric order does not
  change any link's RBs);
* every link with data keeps at least a byte after its TBs (nobody runs dry).

:func:`plan` lays the window out in blocks of at most one HARQ round trip
(R slots), whose retransmissions were all decided before the block (the TBs
that failed one round trip earlier), as ``[slots, links]`` arrays with the
same formulas and in the same order as :meth:`MacEngine._general`: free RBs,
shares and spare RBs dealt, each TB's SNR with the power split, MCS,
accumulated SNR and decoding ``u < BLER(mcs, acc)``, then bits, the carry-over
of fractional bits (slot by slot) and bytes, and the steadiness checks. A
link whose RBs carry no byte over the TB header sends nothing, as in the
per-slot path: its TB neither exists nor waits for a retransmission, and
when spare RBs are dealt later in the block the block ends after that slot
(the round-robin position moved differently), the next one starting there.
:mod:`cosim.wireless.window_commit` applies the window to the engine at once.
Tests compare windows with the per-slot path and both with the per-slot
reference of ``benchmarks/wireless.py``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.link import LinkModel, McsTableLinkModel
from cosim.wireless.window_commit import (
    Harq,
    advance_rr,
    closing_done,
    commit,
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
MAX_BLOCKS = 32


@dataclass
class Cut:
    """Where a window ends: ``n`` slots, and whether slot ``n`` itself is not steady."""

    n: int
    not_steady: bool = False

    def at(self, n: int, not_steady: bool = False) -> None:
        """End the window after ``n`` slots if that is earlier."""
        if n < self.n:
            self.n, self.not_steady = n, not_steady
        elif n == self.n:
            self.not_steady = self.not_steady or not_steady


def run_window(eng: MacEngine, s: int, stop_slot: int) -> tuple[int, list[int]]:
    """Simulate slots ``s …`` of a steady window: ``(slots done, transfers finished)``.

    ``(0, [])`` when slot s is not steady. The window ends at the first slot that
    is not steady, after a slot in which ARQ re-queues bytes, and after a block in
    which a transfer with no new bytes left has a retransmission (at the slot its
    last pending TB resolves, as the per-slot loop stops after a slot in which
    transfers finished).
    """
    if not window_ok(eng):
        return NOT_STEADY
    ch = eng.chunk
    k0 = ch.index(s, stop_slot, eng.chunk_slots)
    w_max = min(MAX_BLOCKS * eng.R, stop_slot - s, ch.n - k0)
    active = eng.need > 0
    if w_max <= 0 or not active.any():
        return NOT_STEADY
    cut = Cut(w_max)
    h = plan(eng, s, k0, active, cut)
    if cut.not_steady:
        eng.not_steady_slot = s + cut.n
    if cut.n == 0:
        return NOT_STEADY
    n, done = closing_done(eng, h, cut.n)
    return commit(eng, s, k0, n, h, done)


def plan(eng: MacEngine, s: int, k0: int, active: np.ndarray, cut: Cut) -> Harq:
    """Lay out slots ``s … s + cut.n − 1`` block by block; ``cut`` ends the window early:
    at a slot that is not steady and after a slot in which ARQ re-queues bytes.

    Row ``i`` of the ``ext`` arrays of :class:`Harq` (``[R + W, L]``) is the state of
    HARQ process ``(s + i) mod R`` after slot ``s + i − R``: rows ``0 … R − 1`` hold
    the TBs pending before the window, row ``R + w`` what slot ``s + w`` leaves
    pending, so slot w retransmits the TBs of row w.
    """
    ch, lm = eng.chunk, eng.link_model
    L, R, N = eng.L, eng.R, eng.num_rbs
    h = Harq(eng, s, cut.n)
    if h.closing.any():  # a transfer may end in the first round trip: plan that only
        cut.at(min(cut.n, R))
    w_max = cut.n
    gam = ch.gamma[k0 : k0 + w_max, :, 0]
    mcs_wide = ch.mcs[k0 : k0 + w_max, :, 0]
    u = ch.u[k0 : k0 + w_max]
    rr, rr_slot = eng.rr_next, 0  # round-robin position before slot rr_slot
    carry = eng.carry  # before the block [bit]
    left = eng.buf  # new bytes left before the block
    w0 = 0
    while w0 < cut.n:
        w1 = min(w0 + R, cut.n)
        # --- who sends a new TB (elig) or a retransmission (retx), on how many RBs
        retx = h.pend[w0:w1]
        free = N - h.rbs[w0:w1].sum(axis=1)
        elig = active & ~retx
        e = elig.sum(axis=1)
        k = np.minimum(np.minimum(e, eng.max_ues), free // eng.min_rbs)
        bad = (k == 0) | (k != e)
        if bad.any():
            cut.at(w0 + int(np.argmax(bad)), not_steady=True)
            if cut.n == w0:
                break
            w1 = cut.n
            retx, free, elig, e = retx[: w1 - w0], free[: w1 - w0], elig[: w1 - w0], e[: w1 - w0]
        share = free // e
        nb = np.where(elig, share[:, None], 0)
        spare = free - e * share
        dealt = eng.scheduler != "equal_share" and bool(spare.any())
        if dealt:  # one more RB to the first `spare` eligible links in round-robin order
            rr = advance_rr(rr, h.sent[rr_slot:w0], L)
            rr_slot = w0
            rr_rows = []  # the position after each slot, if every eligible link sends
            up_w: list[int] = []
            up_l: list[int] = []
            pos = rr
            for w, (sp, idx) in enumerate(zip(spare.tolist(), row_lists(elig), strict=True)):
                if sp:
                    j = bisect_left(idx, pos)
                    up = (idx[j:] + idx[:j])[:sp]
                    up_w += [w] * len(up)
                    up_l += up
                pos = rr_past(pos, idx, L)
                rr_rows.append(pos)
            nb[up_w, up_l] += 1  # no (slot, link) twice
        else:
            spare[:] = 0
        # --- SNR with the power split, MCS, accumulated SNR, decoding
        prev = slice(w0, w1)
        nrb = np.where(retx, h.rbs[prev], nb)
        g = gam[prev] * eng.power_boost(None, nrb)
        acc = np.where(retx, h.acc[prev] + g, g) if eng.chase else g
        mcs = np.where(retx, h.mcs[prev], _new_tb_mcs(lm, g, mcs_wide[prev]))
        ntx = np.where(retx, h.ntx[prev] + 1, 1)
        fail = (retx | elig) & (u[prev] < lm.bler(mcs, acc))
        # --- bits, carry and bytes of the new TBs
        sh = share[:, None]
        r_share = lm.rate(gam[prev] * eng.power_boost(None, sh), sh, mcs_wide[prev])
        # zero bits where a link is not eligible: its carry then passes through the
        # divmod below unchanged (0 ≤ carry < 8: divmod(carry, 8) = (0, carry) exactly)
        bits = np.where(elig, lm.rate(g, nb, mcs_wide[prev]) if dealt else r_share, 0.0)
        m = w1 - w0
        whole = np.empty((m, L))
        carry_hist = np.empty((m, L))  # row w: the carry after slot w0 + w
        b = np.empty(L)
        for w in range(m):
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
        # Steady while every eligible link wants its RBs (want = ⌈need_bits · share / r⌉,
        # as allocate_shares; one more where spare RBs are dealt), ranks (r > 0) and
        # keeps a byte after its TB (no buffer empties, no transfer ends).
        lft = left - (np.cumsum(cap, axis=0) - cap)
        # (r ≤ 0 fails anyway: no division there, so no warnings to silence)
        want = np.divide(8 * lft * sh, r_share, out=np.zeros(r_share.shape),
                         where=r_share > 0)  # fmt: skip
        np.ceil(want, out=want)
        short = want < sh + (spare > 0)[:, None]
        unsteady = (elig & ((r_share <= 0) | short | (lft <= cap))).any(axis=1)
        end = int(np.argmax(unsteady)) if unsteady.any() else m
        silent = elig & (cap == 0)
        quiet = silent[:end].any(axis=1)
        if quiet.any():
            first = int(np.argmax(quiet))
            # spare RBs dealt later (up to the slot that failed the checks, whose own
            # bytes depend on them) came from a round-robin position that moved
            # differently: the next block starts after this slot
            if spare[first + 1 : end + 1].any():
                end = first + 1
            elif end < m:
                cut.at(w0 + end, not_steady=True)
        elif end < m:
            cut.at(w0 + end, not_steady=True)
        if end == 0:
            break
        fail, silent, ntx = fail[:end], silent[:end], ntx[:end]
        again = fail & (ntx < eng.max_tx) & ~silent
        if eng.arq:  # bytes given up are re-queued: the next slot is not steady
            gone = (fail & ~again & ~silent).any(axis=1)
            if gone.any():
                end = int(np.argmax(gone)) + 1
                cut.at(w0 + end)
        # --- keep rows 0 … end − 1 of the block
        rows, now = slice(w0, w0 + end), slice(R + w0, R + w0 + end)
        h.elig[rows] = elig[:end]
        h.sent[rows] = elig[:end] & ~silent[:end]
        h.nb[rows] = nb[:end]
        h.g[rows] = g[:end]
        h.fail[rows] = fail[:end]
        h.cap[rows] = cap[:end]
        h.carry[rows] = carry_hist[:end]
        h.pend[now] = again[:end]
        h.rbs[now] = np.where(again[:end], nrb[:end], 0)
        h.acc[now] = acc[:end]
        h.mcs[now] = mcs[:end]
        h.ntx[now] = ntx[:end]
        h.orig[now] = np.where(retx[:end], h.orig[w0 : w0 + end], h.slot_ids[:end] + w0)
        carry = carry_hist[end - 1]
        left = lft[end - 1] - cap[end - 1]
        if dealt and not silent[:end].any():  # else advanced over the senders when needed
            rr, rr_slot = rr_rows[end - 1], w0 + end
        w0 += end
    return h


def _new_tb_mcs(lm: LinkModel, g: np.ndarray, mcs_wide: np.ndarray) -> np.ndarray:
    """MCS of new TBs at SNR ``g`` on their RBs (an MCS table's wideband MCS if it uses one)."""
    if isinstance(lm, McsTableLinkModel):
        return mcs_wide if lm.wideband else lm.select(g)
    return lm.mcs_of(g)
