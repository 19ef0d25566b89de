"""Many slots in one call while one link has data and takes the whole band each slot.

At the end of a round the last uploads often run alone: every slot one link
sends one TB on all RBs (:meth:`MacEngine._single`), or a HARQ retransmission
of one on all RBs (:meth:`MacEngine._single_retx`). :func:`run_alone` makes
the per-slot path's decisions for those slots and calls the same two methods,
without its per-slot dispatch: the metric ranking (the one link with data is
the best link whenever it can send), the lockstep loop and the window tries.
It stops before a slot the per-slot path would do otherwise (more than one
retransmission due, one not on every RB, a TB that would not fill the band,
a link that cannot send) and after a slot in which a transfer finishes, ARQ
re-queues bytes or the link's buffer empties.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cosim.wireless.mac import MacEngine


def alone_link(eng: MacEngine) -> int:
    """The one link with data, if the per-slot path would give it the whole band; else −1."""
    if eng.B != 1 or eng.n_arq or eng.fdma or np.count_nonzero(eng.need) != 1:
        return -1
    if not eng.tdma and not eng._whole_band_ok():
        return -1
    return int(np.argmax(eng.need > 0))


def run_alone(eng: MacEngine, s: int, stop_slot: int) -> tuple[int, list[int]]:
    """Simulate slots ``s …`` while one link alone sends on the whole band:
    ``(slots done, transfers finished)``; ``(0, [])`` when slot s is not such a slot."""
    c = alone_link(eng)
    if c < 0:
        return 0, []
    ch, log, R, N = eng.chunk, eng.tbs, eng.R, eng.num_rbs
    k0 = ch.index(s, stop_slot, eng.chunk_slots)
    n_max = min(stop_slot - s, ch.n - k0)
    tid = int(eng.cur[c])
    every = ch.sample_every
    done: list[int] = []
    w = 0
    while w < n_max:
        sl, k, p = s + w, k0 + w, (s + w) % R
        n_pend = int(eng.n_pending[p])
        if n_pend == 1:  # as MacEngine.step: a retransmission that takes the band again
            c1 = int(eng.proc_tb[p].argmax())
            row = int(eng.proc_tb[p, c1])
            if log.rbs[row, 0] != N:
                break
            _slot(eng, sl, k, every)
            done = eng._single_retx(sl, k, p, c1, row)
        elif n_pend:
            break
        else:
            # the best link by any metric: the only one with data, if its rate is > 0
            if not (ch.bpr1[k, c] > 0 and (eng.tdma or eng.need[c] * 8 >= ch.full1[k, c])):
                break
            _slot(eng, sl, k, every)
            done = eng._single(sl, k, p, c)
        w += 1
        if done or eng.n_arq or eng.need[c] == 0 or eng.cur[c] != tid:
            break
    return w, done


def _slot(eng: MacEngine, s: int, k: int, every: int) -> None:
    """The per-slot bookkeeping of :meth:`MacEngine.step` for slot s (chunk row k)."""
    if every and s % every == 0:
        eng.chunk.sampled.append(k)
    eng.next_slot = s + 1
    eng.slots_simulated += 1
