"""The slot engine: scheduling, transport blocks, HARQ and ARQ, vectorised over links × RBs.

Pure numpy and simulated-time-free: :class:`MacEngine` advances whole slots
when told to and reports which transfers finished; :mod:`cosim.wireless.network`
maps that onto SimPy time.

Per slot ``s`` (HARQ process ``p = s mod harq_rtt_slots``):

1. TBs that failed on process p one RTT ago are sent again on the same RBs
   (synchronous non-adaptive HARQ) and decoded with the SNRs of all attempts
   summed (chase combining) or alone.
2. The remaining RBs go to links with data whose process p is free
   (:mod:`cosim.wireless.scheduler`): OFDMA shares ranked by the scheduler
   metric (with the uplink power split, a link on n of N RBs sees its SNR per
   RB × N / n, capped by power control), or greedily by metric with a fixed
   power spectral density; TDMA: the best link takes all; FDMA: fixed sub-bands.
3. Each scheduled link sends one TB of ``⌊(bits + carry) / 8⌋ − tb_header_bytes``
   bytes, bits from the link model on its RBs (Σ_b n_b · bits per RB, or the
   TBS of its MCS and RB count) and carry the fraction of a byte the last
   capacity-limited TB could not use: ARQ re-sends first, then new bytes of its
   current transfer.
4. A TB fails iff ``u[s, link] < BLER`` (u uniform, a pure function of the
   decode key, slot and link). A success delivers its bytes at the end of the
   slot; after ``harq_max_tx`` failures its bytes are lost or re-queued (ARQ).
5. PF averages ``T ← (1 − β) T + β · bits_sent`` for every link.

When one link fills the whole band (flat channel, no ARQ backlog, and either no
retransmission due or a single one that takes every RB) the slot is done with
scalar arithmetic (:meth:`MacEngine._single`, :meth:`MacEngine._single_retx`):
the same decisions and numbers as the general path at a fraction of the cost.
When every backlogged link gets a share each slot (uplink power split), up to
several HARQ round trips of slots are done at once (:mod:`cosim.wireless.window`).
"""

from __future__ import annotations

import numpy as np

from cosim.errors import ConfigFieldError
from cosim.wireless.channel import ChannelSource
from cosim.wireless.chunk import ChannelChunk
from cosim.wireless.config import WirelessConfig
from cosim.wireless.link import make_link
from cosim.wireless.scheduler import PfAverage, allocate, allocate_fdma, allocate_shares
from cosim.wireless.tblog import LOST, OK, PENDING, TbLog
from cosim.wireless.transfers import TransferBook
from cosim.wireless.window import run_window

#: Size of a full-buffer transfer [bytes]: never runs dry, and ×8 bits fits in int64.
FULL_BUFFER = 2**56


class MacEngine(TransferBook):
    """Resource allocation and TB outcomes for the links sharing one channel.

    Links ``0 … n_clients − 1`` see the source's clients. With
    ``broadcast_link`` there is one more link whose SNR is the minimum over the
    members of its current transfer.
    """

    def __init__(
        self,
        source: ChannelSource,
        cfg: WirelessConfig,
        decode_key: int,
        broadcast_link: bool = False,
        chunk_slots: int | None = None,
        power_cap_db: np.ndarray | None = None,
    ) -> None:
        mac, pk = cfg.mac, cfg.packets
        self.n_clients = source.n_clients
        self.L = L = self.n_clients + (1 if broadcast_link else 0)
        self.bc_link = self.n_clients if broadcast_link else -1
        self.B = source.n_subbands
        edges = np.array([b * mac.num_rbs // self.B for b in range(self.B + 1)])
        self.rbs_per_subband = np.diff(edges)
        self.num_rbs = mac.num_rbs
        self.scheduler = mac.scheduler
        self.tdma = mac.access == "tdma"
        self.fdma = mac.access == "fdma"
        self.min_rbs = mac.min_rbs_per_ue
        self.max_ues = mac.max_ues_per_slot or L
        if self.fdma and mac.num_rbs < L:
            raise ConfigFieldError(
                "mac.access", f"fdma needs a RB per link: {L} links, {mac.num_rbs} RBs"
            )
        # Uplink power split: a link on n RBs sees γ · min(N/n, cap) / min(1, cap), with γ
        # the channel's SNR at full band and cap the power-control ceiling (linear,
        # per-RB power allowed / P_max-over-all-RBs); see power_boost().
        self.split = power_cap_db is not None
        cap = np.full(L, np.inf)
        if power_cap_db is not None:
            cap[: self.n_clients] = 10 ** (np.asarray(power_cap_db, dtype=np.float64) / 10)
        self.cap_lin = cap
        self.full_lin = np.minimum(1.0, cap)
        self.uncapped = bool(np.isinf(cap).all())  # no power control
        self.R = pk.harq_rtt_slots
        self.max_tx = pk.harq_max_tx
        self.arq = pk.arq_on_harq_failure
        self.chase = pk.harq_combining == "chase"
        self.slot_s = mac.slot_s
        self.link_model = make_link(cfg.link, mac.rb_bandwidth_hz, mac.slot_s, mac.num_rbs)
        self.fractional = self.link_model.fractional
        self.max_bits_per_rb = self.link_model.max_bits_per_rb()
        self.chunk = ChannelChunk(source, self.link_model, decode_key, L, mac.num_rbs, mac.slot_s)
        if self.split and (self.full_lin < 1).any():
            self.chunk.gain = self.full_lin[: self.n_clients]
        # slots per channel block: 256, fewer when links × subbands is large (memory)
        self.chunk_slots = chunk_slots or max(8, min(256, 2**21 // (L * self.B)))

        super().__init__(L, self.bc_link, self.R, TbLog(self.B), self.chunk)
        self.tb_header = pk.tb_header_bytes
        self.carry = np.zeros(L)  # bits of TB capacity below one byte, carried over [bit]
        self.pf = PfAverage(L, mac.pf_beta)
        self.last_served = np.full(L, -1, dtype=np.int64)
        self.rr_base = np.arange(L, dtype=np.int64)
        self.rr_next = 0  # round robin resumes the cyclic link order here
        self.next_slot = 0
        # A slot a window plan found not steady: the next window is tried after it
        # (the per-slot path runs it), not planned again only to be refused.
        self.not_steady_slot = -1
        self.slots_simulated = 0  # slots stepped through (idle slots are skipped)

    def busy(self) -> bool:
        """Whether any link has bytes waiting or a HARQ retransmission pending."""
        return bool(self.need.any() or self.n_pending.any())

    # ------------------------------------------------------------------ channel and time
    def snr_at(self, slot: int) -> np.ndarray:
        """SNR [dB] of every client in ``slot`` (subband mean), ``[n_clients]``."""
        k = self.chunk.index(slot, None, self.chunk_slots)
        return self.chunk.snr_db[k, : self.n_clients].copy()

    def bits_per_slot(self, slot: int, n_rbs: int | None = None) -> np.ndarray:
        """Bits each link would send in ``slot`` on ``n_rbs`` RBs (all by default), ``[L]``."""
        k = self.chunk.index(slot, None, self.chunk_slots)
        n = self.num_rbs if n_rbs is None else n_rbs
        return self.rate_at(k, np.arange(self.L), n)

    def power_boost(self, links: np.ndarray | None, n: np.ndarray | int) -> np.ndarray:
        """Linear SNR gain of ``links`` (``None``: all, along the last axis) on ``n`` RBs
        over the chunk's full-band SNR.

        ``min(N / n, cap) / min(1, cap)``: the UE's power concentrated on its n RBs,
        up to its power-control ceiling; 1 without the uplink power split.
        """
        if not self.split:
            return np.ones(np.shape(links) if links is not None else np.shape(n))
        n = np.maximum(n, 1)
        if links is None:  # views, no gather
            if self.uncapped:  # min(N / n, ∞) / 1 = N / n exactly
                return self.num_rbs / n
            return np.minimum(self.num_rbs / n, self.cap_lin) / self.full_lin
        return np.minimum(self.num_rbs / n, self.cap_lin[links]) / self.full_lin[links]

    def rate_at(self, k: int, links: np.ndarray, n: int) -> np.ndarray:
        """Bits ``links`` would send on ``n`` RBs in chunk row k (subband-mean SNR) [bit]."""
        ch = self.chunk
        if ch.rate_mode:
            return n * ch.bpr[k, links].mean(axis=1)
        g = ch.gamma[k, links].mean(axis=1) * self.power_boost(links, n)
        return self.link_model.rate(g, n, ch.mcs[k, links, 0])

    def skip_to(self, slot: int) -> None:
        """Jump over idle slots; costs nothing (PF averages decay implicitly)."""
        if slot > self.next_slot:
            self.next_slot = slot

    def run(self, stop_slot: int) -> list[int]:
        """Simulate slots ``next_slot … stop_slot − 1``, stopping after the first slot in
        which transfers finished; returns those transfer ids (empty if none)."""
        return run_lockstep([self], stop_slot)[0]

    def step(self, s: int, stop_slot: int) -> list[int]:
        """Simulate slot ``s`` (= ``next_slot``); returns the transfers that finished in it."""
        ch = self.chunk
        k = s - ch.c0
        if not 0 <= k < ch.n:
            k = ch.index(s, stop_slot, self.chunk_slots)
        if ch.sample_every and s % ch.sample_every == 0:
            ch.sampled.append(k)
        self.next_slot = s + 1
        self.slots_simulated += 1
        p = s % self.R
        if self.B == 1 and not self.n_arq:
            if self.n_pending[p] == 1:
                c = int(self.proc_tb[p].argmax())  # the one link with a TB on process p
                row = int(self.proc_tb[p, c])
                if self.tbs.rbs[row, 0] == self.num_rbs:  # it fills the band again
                    return self._single_retx(s, k, p, c, row)
                return self._general(s, k, p)
            if self.n_pending[p]:
                return self._general(s, k, p)
            if self.tdma or (not self.fdma and self._whole_band_ok()):
                best = self._best_single(k)
                if best >= 0 and (self.tdma or self.need[best] * 8 >= ch.full1[k, best]):
                    return self._single(s, k, p, best)
        return self._general(s, k, p)

    # ------------------------------------------------------------------ one link, whole band
    def _rr_key(self) -> np.ndarray:
        """Round-robin order (smallest first): longest unserved, ties in cyclic link order
        from where the last slot stopped (as LENA's uplink takes UEs in RNTI order)."""
        return self.last_served * self.L + (self.rr_base - self.rr_next) % self.L

    def _note_served(self, links: np.ndarray) -> None:
        """Move the round-robin start past the last of ``links`` in cyclic order."""
        if links.size:
            rel = (links - self.rr_next) % self.L
            self.rr_next = int(links[int(np.argmax(rel))] + 1) % self.L

    def _whole_band_ok(self) -> bool:
        """Whether the best link may take the whole band: a fixed power spectral density
        (greedy allocation), or a single OFDMA share this slot."""
        if not self.split and self.scheduler != "equal_share":
            return True
        if self.max_ues == 1 or self.num_rbs < 2 * self.min_rbs:
            return True
        return int(np.count_nonzero(self.need)) == 1

    def _best_single(self, k: int) -> int:
        """The eligible link with the highest metric, or −1 (flat channel, nothing pending)."""
        rate = self.chunk.bpr1[k]
        sched = self.scheduler
        if sched in ("round_robin", "equal_share"):
            m = -self._rr_key().astype(np.float64)
            m[rate <= 0] = -np.inf
        else:
            # A link with rate 0 has metric 0 and loses to any link with rate > 0; if the
            # best has rate 0, no eligible link can send (checked below).
            m = rate / self.pf.scaled if sched == "proportional_fair" else rate.copy()
        best = int(m.argmax())
        if self.need[best] == 0:  # the best overall has nothing to send: mask idle links
            m[self.need == 0] = -np.inf
            best = int(m.argmax())
        return best if m[best] > -np.inf and rate[best] > 0 else -1

    def _single(self, s: int, k: int, p: int, c: int) -> list[int]:
        ch = self.chunk
        room = self.num_rbs
        bits = float(ch.full1[k, c]) + self.carry[c]
        whole = int(bits // 8)
        cap = max(0, whole - self.tb_header)
        nb = min(cap, int(self.need[c]))
        if self.fractional:
            self.carry[c] = bits - 8 * whole if nb == cap else 0.0
        if nb <= 0:
            return []
        tid = int(self.cur[c])
        start = int(self.sent[c])
        self.sent[c] = start + nb
        self.buf[c] -= nb
        self.need[c] -= nb
        log = self.tbs
        log.reserve(1)
        i = log.n
        log.ints[:, i] = (c, tid, start, nb, s, -1, 1, 0)
        log.rbs[i, 0] = room
        log.mcs[i, 0] = ch.mcs[k, c, 0]
        log.acc[i, 0] = ch.gamma[k, c, 0]
        log.n = i + 1
        gain = self.pf.gain(s)
        self.pf.scaled[c] += gain * (8 * nb)
        self.last_served[c] = s
        self.rr_next = (c + 1) % self.L
        done: list[int] = []
        if not ch.fail0[k, c]:
            log.state[i] = OK
            log.done_slot[i] = s
            self.tr.delivered[tid] += nb
            if self.tr.delivered[tid] + self.tr.lost[tid] >= self.tr.size[tid]:
                done = self._finished([tid])
        else:
            log.state[i] = PENDING
            if self.max_tx > 1:
                self.proc_tb[p, c] = i
                self.n_pending[p] += 1
            else:
                self._give_up(np.array([i]))
                done = self._finished([tid])
        if self.buf[c] == 0:
            self._advance_queue(c)
        return done

    def _single_retx(self, s: int, k: int, p: int, c: int, row: int) -> list[int]:
        """One HARQ retransmission that takes the whole band (same arithmetic as the
        general path's :meth:`_retransmit`)."""
        ch, log = self.chunk, self.tbs
        g = ch.gamma[k, c : c + 1]
        log.acc[row : row + 1] = log.acc[row : row + 1] + g if self.chase else g
        log.ntx[row] += 1
        if ch.rate_mode:
            fail = False
        else:
            bler = self.link_model.bler(log.mcs[row : row + 1], log.acc[row : row + 1])
            fail = bool(ch.u[k, c] < np.broadcast_to(bler, (1, 1))[0, 0])
        nb = int(log.length[row])
        gain = self.pf.gain(s)
        self.pf.scaled[c] += gain * (8 * nb)
        self.last_served[c] = s
        tid = int(log.transfer[row])
        if not fail:
            log.state[row] = OK
            log.done_slot[row] = s
            self.tr.delivered[tid] += nb
        elif log.ntx[row] >= self.max_tx:
            self._give_up(np.array([row]))
        else:
            return []
        self.proc_tb[p, c] = -1
        self.n_pending[p] -= 1
        return self._finished([tid])

    # ------------------------------------------------------------------ general slot
    def _general(self, s: int, k: int, p: int) -> list[int]:
        free = self.rbs_per_subband.copy()
        served = np.zeros(self.L)
        touched: list[np.ndarray] = []
        blocked = None
        if self.n_pending[p]:
            blocked = np.flatnonzero(self.proc_tb[p] >= 0)
            touched.append(self._retransmit(s, k, p, blocked, free, served))
        elig = self.need > 0
        if blocked is not None:
            elig[blocked] = False
        if free.any() and elig.any():
            rr_key = self._rr_key()
            if self.tdma or (not self.split and self.scheduler != "equal_share"):
                # fixed power spectral density: a link's rate per RB does not depend on
                # how many it gets, so the best link simply takes what it needs
                alloc = allocate(
                    self.scheduler, self.tdma, elig, self.need * 8, self.chunk.bpr[k], free,
                    self.pf.scaled, rr_key,
                )  # fmt: skip
            elif self.fdma:
                alloc = allocate_fdma(elig, self.L, self.num_rbs, self.rbs_per_subband)
            else:
                alloc = allocate_shares(
                    self.scheduler, elig, self.need * 8, lambda ls, n: self.rate_at(k, ls, n),
                    free, self.pf.scaled, rr_key, self.min_rbs, self.max_ues,
                )  # fmt: skip
            touched.append(self._new_tbs(s, k, p, alloc, served))
        if served.any():
            gain = self.pf.gain(s)
            self.pf.scaled += gain * served
        return self._finished(np.concatenate(touched)) if touched else []

    def _finished(self, tids: np.ndarray | list[int]) -> list[int]:
        t_all = np.asarray(tids, dtype=np.int64)
        tr = self.tr
        # only transfers with every byte resolved can finish (usually none of them)
        cand = t_all[tr.delivered[t_all] + tr.lost[t_all] >= tr.size[t_all]]
        if not cand.size:
            return []
        done = []
        for t in sorted(set(cand.tolist())):
            if not self.tr_finished[t] and (
                self.tr.delivered[t] + self.tr.lost[t] >= self.tr.size[t]
            ):
                self.tr_finished[t] = True
                done.append(t)
        return done

    def _tb_fails(self, k: int, links: np.ndarray, rows: np.ndarray, first: bool) -> np.ndarray:
        """Decode TBs ``rows`` sent by ``links`` in chunk row k: True where they fail."""
        ch = self.chunk
        if ch.rate_mode:
            return np.zeros(rows.size, dtype=bool)
        if self.B == 1 and first and not self.split:
            return ch.fail0[k, links]
        log = self.tbs
        mcs = log.mcs[rows]
        bler = np.broadcast_to(self.link_model.bler(mcs, log.acc[rows]), mcs.shape)
        if self.B == 1:
            p_fail = bler[:, 0]
        else:  # a TB spanning subbands fails unless every used subband decodes
            used = log.rbs[rows] > 0
            p_fail = 1 - np.prod(np.where(used, 1 - bler, 1.0), axis=1)
        return ch.u[k, links] < p_fail

    def _retransmit(
        self, s: int, k: int, p: int, links: np.ndarray, free: np.ndarray, served: np.ndarray
    ) -> np.ndarray:
        rows = self.proc_tb[p, links]
        log = self.tbs
        free -= log.rbs[rows].sum(axis=0)
        g = self.chunk.gamma[k, links]
        if self.split:
            g = g * self.power_boost(links, log.rbs[rows].sum(axis=1))[:, None]
        log.acc[rows] = log.acc[rows] + g if self.chase else g
        log.ntx[rows] += 1
        ok = ~self._tb_fails(k, links, rows, first=False)
        served[links] = 8 * log.length[rows]
        self.last_served[links] = s
        self._deliver(rows[ok], s)
        give_up = ~ok & (log.ntx[rows] >= self.max_tx)
        self._give_up(rows[give_up])
        clear = ok | give_up
        self.proc_tb[p, links[clear]] = -1
        self.n_pending[p] -= int(clear.sum())
        return log.transfer[rows[clear]]

    def _deliver(self, rows: np.ndarray, s: int) -> None:
        log = self.tbs
        log.state[rows] = OK
        log.done_slot[rows] = s
        self.tr.delivered[log.transfer[rows]] += log.length[rows]

    def _give_up(self, rows: np.ndarray) -> None:
        log = self.tbs
        for tb in rows:
            log.state[tb] = LOST
            log.done_slot[tb] = log.first_slot[tb] + (log.ntx[tb] - 1) * self.R
            tid, link, n = int(log.transfer[tb]), int(log.link[tb]), int(log.length[tb])
            if self.arq:
                tries = int(log.prior[tb] + log.ntx[tb])
                self.arq_q[link].append([tid, int(log.start[tb]), n, tries])
                self.arq_bytes[link] += n
                self.need[link] += n
                self.n_arq += 1
            else:
                self.tr.lost[tid] += n

    def _new_tbs(self, s: int, k: int, p: int, alloc: np.ndarray, served: np.ndarray) -> np.ndarray:
        ch = self.chunk
        links = np.flatnonzero(alloc.any(axis=1))
        if links.size == 0:
            return links
        rbs = alloc[links]
        if ch.rate_mode:
            mcs, gam = ch.mcs[k, links], ch.gamma[k, links]
            bits = (rbs * ch.bpr[k, links]).sum(axis=1)
        else:
            gam = ch.gamma[k, links]
            if self.split:
                gam = gam * self.power_boost(links, rbs.sum(axis=1))[:, None]
            mcs, bits = self.link_model.tb(gam, rbs, ch.mcs[k, links])
        bits = bits + self.carry[links]
        whole = (bits // 8).astype(np.int64)
        cap = np.maximum(whole - self.tb_header, 0)
        nbytes = np.minimum(cap, self.need[links])
        if self.fractional:
            self.carry[links] = np.where(nbytes == cap, bits - 8 * whole, 0.0)
        keep = nbytes > 0
        links, rbs, nbytes = links[keep], rbs[keep], nbytes[keep]
        mcs, gam = mcs[keep], gam[keep]
        tids = self.cur[links].copy()
        start = self.sent[links].copy()
        prior = np.zeros(links.size, dtype=np.int64)
        new = np.ones(links.size, dtype=bool)
        if self.n_arq:
            for i in np.flatnonzero(self.arq_bytes[links] > 0):  # re-send an ARQ range
                link = links[i]
                entry = self.arq_q[link][0]
                n = min(int(nbytes[i]), entry[2])
                tids[i], start[i], prior[i], nbytes[i] = entry[0], entry[1], entry[3], n
                entry[1] += n
                entry[2] -= n
                if entry[2] == 0:
                    self.arq_q[link].popleft()
                    self.n_arq -= 1
                self.arq_bytes[link] -= n
                new[i] = False
        self.sent[links[new]] += nbytes[new]
        self.buf[links[new]] -= nbytes[new]
        self.need[links] -= nbytes
        rows = self.tbs.add(links, tids, start, nbytes, s, prior, rbs, mcs, gam)
        ok = ~self._tb_fails(k, links, rows, first=True)
        served[links] = 8 * nbytes
        self.last_served[links] = s
        self._note_served(links)
        self._deliver(rows[ok], s)
        fail = rows[~ok]
        if self.max_tx > 1:
            self.proc_tb[p, links[~ok]] = fail
            self.n_pending[p] += fail.size
        else:
            self._give_up(fail)
        for link in links[new & (self.buf[links] == 0)]:
            self._advance_queue(int(link))
        return tids


def run_lockstep(engines: list[MacEngine], stop_slot: int) -> list[list[int]]:
    """Advance engines that share simulated time slot by slot, together, until ``stop_slot``
    or the end of the first slot in which any transfer finished.

    Lockstep keeps them causal: a transfer finishing on one may prompt a new one
    on another from the next slot on. Returns the finished transfer ids per engine.
    """
    out: list[list[int]] = [[] for _ in engines]
    s = max(e.next_slot for e in engines)
    for e in engines:
        e.skip_to(s)
    # An engine only falls idle when its last transfer finishes, which ends this
    # call, so the set of busy engines is fixed until then.
    active = [(i, e) for i, e in enumerate(engines) if e.busy()]
    # One busy engine: try steady multi-slot windows (they never finish a transfer),
    # backing off exponentially (up to 16 slots) while they are refused.
    single = active[0][1] if len(active) == 1 else None
    retry_at, backoff = s, 1
    while active and s < stop_slot:
        if single is not None and s >= retry_at and s != single.not_steady_slot:
            n, done = run_window(single, s, stop_slot)
            if n:
                s += n
                backoff = 1
                if done:
                    out[active[0][0]] = done
                    break
                continue
            backoff = min(2 * backoff, 16)
            retry_at = s + backoff
        any_done = False
        for i, e in active:
            done = e.step(s, stop_slot)
            if done:
                out[i] = done
                any_done = True
        s += 1
        if any_done:
            break
    for e in engines:
        e.skip_to(s)
    return out
