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

:func:`plan` lays the window out in segments of up to ``SEGMENT_BLOCKS`` HARQ
round trips, with the same formulas and in the same order as
:meth:`MacEngine._general`:

1. :func:`_layout`, block by block (at most R slots, whose retransmissions were
   all decided before the block: the TBs that failed one round trip earlier):
   free RBs, shares, spare RBs dealt, sends so far, decoding ``u < BLER(mcs,
   acc)`` (under a fixed BLER known before the layout; else with each TB's SNR
   with the power split, MCS and accumulated SNR) and what stays pending. It
   premises that every eligible link sends a TB.
2. :func:`_bytes`, for the segment at once: SNRs, bits, the carry-over of
   fractional bits (slot by slot) and bytes per TB.
3. A link whose RBs carry no byte over the TB header sends nothing, as in the
   per-slot path: its TB neither exists nor waits for a retransmission. The
   segment ends where that premise mattered (:func:`_silence_cut`) and the
   next one starts there; :func:`_unsteady` ends the window at the first slot
   that is not steady.

:mod:`cosim.wireless.window_commit` applies the window to the engine at once.
Tests compare windows with the per-slot path and both with the per-slot
reference of ``benchmarks/wireless.py``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cosim.wireless.alone import run_alone
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

    While one link alone has data, slots go to :func:`~cosim.wireless.alone.run_alone`.
    """
    if np.count_nonzero(eng.need) == 1:
        return run_alone(eng, s, stop_slot)
    if not window_ok(eng):
        return NOT_STEADY
    ch = eng.chunk
    k0 = ch.index(s, stop_slot, eng.chunk_slots)
    w_max = min(MAX_BLOCKS * eng.R, stop_slot - s, ch.n - k0)
    active = eng.need > 0
    if w_max <= 0 or np.count_nonzero(active) < 2:
        return NOT_STEADY
    cut = Cut(w_max)
    h = plan(eng, s, k0, active, cut)
    if cut.not_steady:
        eng.not_steady_slot = s + cut.n
    if cut.n == 0:
        return NOT_STEADY
    n, done = closing_done(eng, h, cut.n)
    return commit(eng, s, k0, n, h, done)


#: HARQ round trips whose bytes are worked out together (a segment; see :func:`plan`).
SEGMENT_BLOCKS = 4


def plan(eng: MacEngine, s: int, k0: int, active: np.ndarray, cut: Cut) -> Harq:
    """Lay out slots ``s … s + cut.n − 1``; ``cut`` ends the window early: at a slot
    that is not steady and after a slot in which ARQ re-queues bytes.

    Segment by segment (1, 2, 4 … up to ``SEGMENT_BLOCKS`` round trips): :func:`_layout` lays
    out its blocks premising that every eligible link sends, :func:`_bytes` works
    out bits, carry and bytes, and the segment ends early where the premise
    failed and mattered (:func:`_silence_cut`); the next one starts there.
    """
    R = eng.R
    h = Harq(eng, s, cut.n)
    if h.closing.any():  # a transfer may end in the first round trip: plan that only
        cut.at(min(cut.n, R))
    fixed = eng.link_model.fixed_bler
    h.fixed_fail = None if fixed is None else eng.chunk.u[k0 : k0 + cut.n] < fixed
    rr, rr_slot = eng.rr_next, 0  # round-robin position before slot rr_slot
    carry = eng.carry  # before the segment [bit]
    left = eng.buf  # new bytes left before the segment
    w0 = n_seg = 0
    while w0 < cut.n:
        rr, rr_slot = advance_rr(rr, h.sent[rr_slot:w0], eng.L), w0
        # segments of 1, 2, 4 … round trips: a window that ends early wastes little
        blocks = min(SEGMENT_BLOCKS, 1 << n_seg)
        n_seg += 1
        w1, bad = _layout(eng, h, k0, active, w0, min(w0 + blocks * R, cut.n), rr)
        if w1 == w0:
            cut.at(w0, not_steady=True)
            break
        cap, carry_hist, bits = _bytes(eng, h, k0, w0, w1, carry)
        end = _silence_cut(eng, h, w0, w1, cap, rr)
        if bad and end == w1:
            cut.at(w1, not_steady=True)
        # steady while every eligible link wants its RBs, ranks and keeps a byte
        lft = left - (np.cumsum(cap[: end - w0], axis=0) - cap[: end - w0])
        unsteady = _unsteady(eng, h, k0, w0, end, cap[: end - w0], lft, bits)
        if unsteady < end:
            cut.at(unsteady, not_steady=True)
            end = unsteady
        if eng.arq and end > w0:  # bytes given up are re-queued: the next slot is not steady
            rows = slice(w0, end)  # given up: TBs sent, new (sent) or again (pend)
            gone = (h.gone[rows] & (h.sent[rows] | h.pend[rows])).any(axis=1)
            if gone.any():
                end = w0 + int(np.argmax(gone)) + 1
                cut.at(end)
        if end == w0:
            break
        m = end - w0
        h.cap[w0:end] = cap[:m]
        h.carry[w0:end] = carry_hist[:m]
        carry = carry_hist[m - 1]
        left = lft[m - 1] - cap[m - 1]
        w0 = end
    h.rr, h.rr_slot = rr, rr_slot
    return h


def _layout(
    eng: MacEngine, h: Harq, k0: int, active: np.ndarray, w0: int, w_end: int, rr: int
) -> tuple[int, bool]:
    """Blocks of slots ``w0 … w_end − 1``: who retransmits, who sends a new TB on how many
    RBs (spare RBs dealt from round-robin position ``rr``), sends so far, decoding and
    what stays pending. Returns ``(w1, bad)``: slots laid out up to w1, and whether slot
    w1 is not steady (fewer links served than eligible)."""
    ch, lm = eng.chunk, eng.link_model
    L, R, N = eng.L, eng.R, eng.num_rbs
    pos, pos_slot = rr, w0  # round-robin position before slot pos_slot
    b0 = w0
    while b0 < w_end:
        b1 = min(b0 + R, w_end)
        prev, now = slice(b0, b1), slice(R + b0, R + b1)
        retx = h.pend[prev]
        free = N - h.rbs[prev].sum(axis=1)
        elig = active & ~retx
        e = elig.sum(axis=1)
        # steady: all E eligible links served, K = min(E, max_ues, ⌊F / min_rbs⌋) = E ≥ 1
        bad = (e == 0) | (free < e * eng.min_rbs)
        if eng.max_ues < L:
            bad |= e > eng.max_ues
        if bad.any():
            b1 = b0 + int(np.argmax(bad))
            if b1 == b0:
                return b0, True
            prev, now = slice(b0, b1), slice(R + b0, R + b1)
            retx, free, elig, e = retx[: b1 - b0], free[: b1 - b0], elig[: b1 - b0], e[: b1 - b0]
        share = free // e
        h.share[prev] = share
        nb = elig * share[:, None]
        spare = free - e * share
        if eng.scheduler != "equal_share" and spare.any():
            # one more RB to the first `spare` eligible links in round-robin order
            pos = advance_rr(pos, h.elig[pos_slot:b0], L)
            # the first `spare` eligible links from pos on in cyclic order: those in the
            # cyclic link range [lo, hi] (ends included, across L − 1 → 0 if lo > hi)
            lo, hi = [], []
            for sp, idx in zip(spare.tolist(), row_lists(elig), strict=True):
                if sp:
                    j = bisect_left(idx, pos)
                    lo.append(idx[j % len(idx)])
                    hi.append(idx[(j + sp - 1) % len(idx)])
                else:
                    lo.append(L)
                    hi.append(-1)
                pos = rr_past(pos, idx, L)
            lo_a, hi_a = np.array(lo)[:, None], np.array(hi)[:, None]
            above, below = h.link_ids >= lo_a, h.link_ids <= hi_a
            nb += elig & np.where(lo_a <= hi_a, above & below, above | below)
            pos_slot = b1
            h.spare[prev] = spare
        else:
            h.spare[prev] = 0
        nrb = h.rbs[prev] + nb  # (nb is 0 where a link retransmits, rbs 0 where it does not)
        ntx = np.where(retx, h.ntx[prev] + 1, 1)
        if h.fixed_fail is None:  # decoding depends on the SNR and MCS of each send
            g = ch.gamma[k0 + b0 : k0 + b1, :, 0] * eng.power_boost(None, nrb)
            acc = np.where(retx, h.acc[prev] + g, g) if eng.chase else g
            mcs_new = _new_tb_mcs(lm, g, ch.mcs[k0 + b0 : k0 + b1, :, 0])
            mcs = np.where(retx, h.mcs[prev], mcs_new)
            fail = (retx | elig) & (ch.u[k0 + b0 : k0 + b1] < lm.bler(mcs, acc))
            h.g[prev], h.acc[now], h.mcs[now] = g, acc, mcs
        else:
            fail = (retx | active) & h.fixed_fail[prev]
        again = fail & (ntx < eng.max_tx)
        h.elig[prev] = elig
        h.nb[prev] = nb
        h.nrb[prev] = nrb
        h.fail[prev] = fail
        h.gone[prev] = fail & ~again
        h.pend[now] = again
        h.rbs[now] = nrb * again
        h.ntx[now] = ntx
        h.orig[now] = np.where(retx, h.orig[prev], h.slot_ids[: b1 - b0] + b0)
        if b1 < min(b0 + R, w_end):
            return b1, True
        b0 = b1
    return b0, False


def _bytes(
    eng: MacEngine, h: Harq, k0: int, w0: int, w1: int, carry: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes of the new TBs of slots ``w0 … w1 − 1`` (0: none), the carry after each
    [bit] from ``carry`` before them, and their bits; SNRs and accumulated SNRs under
    a fixed BLER."""
    ch, lm, R, L = eng.chunk, eng.link_model, eng.R, eng.L
    rows = slice(w0, w1)
    if h.fixed_fail is not None:  # the SNRs were not needed to decode: work them out here
        h.g[rows] = ch.gamma[k0 + w0 : k0 + w1, :, 0] * eng.power_boost(None, h.nrb[rows])
        if not eng.chase:
            h.acc[R + w0 : R + w1] = h.g[rows]
        for b0 in range(w0, w1, R) if eng.chase else ():  # acc ← acc + γ along each chain
            b1 = min(b0 + R, w1)
            g = h.g[b0:b1]
            h.acc[R + b0 : R + b1] = np.where(h.pend[b0:b1], h.acc[b0:b1] + g, g)
        h.mcs[R + w0 : R + w1] = 0  # (a fixed BLER is the Shannon link's: no MCS)
    # nb is 0 where a link sends no new TB: its bits are 0 and its carry passes
    # through the divmod below unchanged (0 ≤ carry < 8: divmod(carry, 8) = (0, carry))
    bits = lm.rate(h.g[rows], h.nb[rows], ch.mcs[k0 + w0 : k0 + w1, :, 0])
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
    cap = np.maximum(whole.astype(np.int64) - eng.tb_header, 0)
    h.sent[rows] = cap > 0
    return cap, carry_hist, bits


def _silence_cut(eng: MacEngine, h: Harq, w0: int, w1: int, cap: np.ndarray, rr: int) -> int:
    """Where the segment ``w0 … w1 − 1`` must end because an eligible link sends nothing
    (its RBs carry no byte over the TB header), against the layout's premise; ``rr``:
    the round-robin position before slot w0.

    Up to and including that slot the layout holds once the TB that does not exist is
    not left pending. After it, if the round-robin position moved differently (the
    silent link would have been the last sender), no spare RB may be dealt later in
    the segment; and a TB the layout had failing would have been retransmitted one
    round trip later, where in fact the link is free.
    """
    L, R = eng.L, eng.R
    silent = h.elig[w0:w1] & (cap == 0)
    quiet = silent.any(axis=1)
    if not quiet.any():
        return w1
    end = w1
    dealt = np.flatnonzero(h.spare[w0:w1])
    if dealt.size:
        pos, pos_row = rr, 0
        for w in np.flatnonzero(quiet[: dealt[-1]]).tolist():
            pos = advance_rr(pos, h.elig[w0 + pos_row : w0 + w], L)
            senders = np.flatnonzero(h.elig[w0 + w]).tolist()
            moved = rr_past(pos, senders, L)
            if moved != rr_past(pos, np.flatnonzero(h.elig[w0 + w] & ~silent[w]).tolist(), L):
                end = w0 + w + 1
                break
            pos, pos_row = moved, w + 1
    phantom = (silent & h.fail[w0:w1]).any(axis=1)
    if phantom.any():
        end = min(end, w0 + int(np.argmax(phantom)) + R)
    rows = slice(R + w0, R + end)
    h.pend[rows] &= ~silent[: end - w0]
    h.rbs[rows] *= h.pend[rows]
    return end


def _unsteady(
    eng: MacEngine,
    h: Harq,
    k0: int,
    w0: int,
    w1: int,
    cap: np.ndarray,
    left: np.ndarray,
    bits: np.ndarray,
) -> int:
    """The first of slots ``w0 … w1 − 1`` in which an eligible link would not want its
    RBs (want = ⌈need_bits · share / r⌉, as allocate_shares; one more where spare RBs
    are dealt), would not rank (r ≤ 0) or would empty its buffer; w1 if none.
    ``left``: new bytes before each slot; ``bits``: of each new TB (r, where no spare
    RB was dealt)."""
    if w1 == w0:
        return w1
    ch, lm = eng.chunk, eng.link_model
    rows = slice(w0, w1)
    elig = h.elig[rows]
    share = h.share[rows, None]
    spare = h.spare[rows, None] > 0
    if spare.any():
        gam = ch.gamma[k0 + w0 : k0 + w1, :, 0]
        mcs_wide = ch.mcs[k0 + w0 : k0 + w1, :, 0]
        r_share = lm.rate(gam * eng.power_boost(None, share), share, mcs_wide)
    else:
        r_share = bits[: w1 - w0]
    # (r ≤ 0 fails anyway: no division there, so no warnings to silence)
    want = np.divide(8 * left * share, r_share, out=np.zeros(r_share.shape),
                     where=r_share > 0)  # fmt: skip
    np.ceil(want, out=want)
    bad = (elig & ((r_share <= 0) | (want < share + spare) | (left <= cap))).any(axis=1)
    return w0 + int(np.argmax(bad)) if bad.any() else w1


def _new_tb_mcs(lm: LinkModel, g: np.ndarray, mcs_wide: np.ndarray) -> np.ndarray:
    """MCS of new TBs at SNR ``g`` on their RBs (an MCS table's wideband MCS if it uses one)."""
    if isinstance(lm, McsTableLinkModel):
        return mcs_wide if lm.wideband else lm.select(g)
    return lm.mcs_of(g)
