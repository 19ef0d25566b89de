"""The slot engine: scheduling, transport blocks, HARQ and ARQ, vectorised over links × RBs.

Pure numpy and simulated-time-free: :class:`MacEngine` advances whole slots
when told to (:meth:`MacEngine.run`) and reports which transfers finished;
:mod:`cosim.wireless.network` maps that onto SimPy time.

Per slot ``s`` (HARQ process ``p = s mod harq_rtt_slots``):

1. TBs that failed on process p one RTT ago are sent again on the same RBs
   (synchronous non-adaptive HARQ) and decoded with the SNRs of all attempts
   summed (chase combining) or alone.
2. The remaining RBs of each subband go to links with data whose process p is
   free, in order of the scheduler metric, each link taking only the RBs it
   needs (``⌈need_bits / bits_per_rb⌉``); with ``tdma`` the best link takes all.
3. Each scheduled link sends one TB of ``⌊Σ_b n_b · bits_per_rb_b / 8⌋`` bytes:
   ARQ re-sends first, then new bytes of its current transfer.
4. A TB fails iff ``u[s, link] < BLER`` (u uniform, a pure function of the
   decode key, slot and link). A success delivers its bytes at the end of the
   slot; after ``harq_max_tx`` failures its bytes are lost or re-queued (ARQ).
5. PF averages ``T ← (1 − β) T + β · bits_sent`` for every link.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cosim.wireless import counter_rng
from cosim.wireless.channel import ChannelSource
from cosim.wireless.config import WirelessConfig
from cosim.wireless.link import make_link
from cosim.wireless.scheduler import allocate
from cosim.wireless.tblog import CUT, LOST, OK, TbLog, TransferCounters

#: Size of a full-buffer transfer [bytes]: never runs dry.
FULL_BUFFER = 2**56  # ×8 bits still fits in int64


class MacEngine:
    """Resource allocation and TB outcomes for ``n_links`` links sharing one channel.

    Links ``0 … n_clients − 1`` see the source's clients. A downlink engine has one
    extra *broadcast* link whose SNR is the minimum over its current members.
    """

    def __init__(
        self,
        source: ChannelSource,
        cfg: WirelessConfig,
        decode_key: int,
        broadcast_link: bool = False,
        chunk_slots: int = 256,
    ) -> None:
        mac, pk = cfg.mac, cfg.packets
        self.source = source
        self.n_clients = source.n_clients
        self.L = self.n_clients + (1 if broadcast_link else 0)
        self.bc_link = self.n_clients if broadcast_link else -1
        self.B = source.n_subbands
        edges = np.array([b * mac.num_rbs // self.B for b in range(self.B + 1)])
        self.rbs_per_subband = np.diff(edges)
        self.num_rbs = mac.num_rbs
        self.scheduler = mac.scheduler
        self.tdma = mac.access == "tdma"
        self.beta = mac.pf_beta
        self.R = pk.harq_rtt_slots
        self.max_tx = pk.harq_max_tx
        self.arq = pk.arq_on_harq_failure
        self.chase = pk.harq_combining == "chase"
        self.slot_s = mac.slot_s
        self.link_model = make_link(cfg.link, mac.rb_bandwidth_hz, mac.slot_s)
        self.decode_key = decode_key
        self.chunk_slots = chunk_slots

        L = self.L
        self.need = np.zeros(L, dtype=np.int64)  # bytes waiting: ARQ + new
        self.buf = np.zeros(L, dtype=np.int64)  # new bytes of the current transfer
        self.sent = np.zeros(L, dtype=np.int64)  # offset of the next new byte
        self.cur = np.full(L, -1, dtype=np.int64)  # current transfer id per link
        self.arq_bytes = np.zeros(L, dtype=np.int64)
        self.arq_q: list[deque[list[int]]] = [deque() for _ in range(L)]
        self.queues: list[deque[int]] = [deque() for _ in range(L)]
        self.n_queued = 0
        self.proc_tb = np.full((self.R, L), -1, dtype=np.int64)
        self.n_pending = np.zeros(self.R, dtype=np.int64)
        self.avg = np.ones(L)  # PF average [bit/slot]; 1 bit so new links get served
        self.last_served = np.full(L, -1, dtype=np.int64)
        self.tbs = TbLog(self.B)
        self.tr = TransferCounters()
        self.tr_first_row: list[int] = []
        self.tr_finished: list[bool] = []
        self.next_slot = 0
        self.bc_members: np.ndarray | None = None
        self.bc_members_of: dict[int, np.ndarray] = {}
        self._c0 = 0
        self._cn = 0  # cached chunk covers slots [_c0, _c0 + _cn)
        self.sample_every = 1  # record every n-th slot's SNR (0: never)
        self.samples: list[tuple[np.ndarray, np.ndarray]] = []  # (slots, snr_db [n, n_clients])

    # ------------------------------------------------------------------ transfers
    def add_transfer(self, link: int, size_bytes: int, members: np.ndarray | None = None) -> int:
        """Queue ``size_bytes`` (``FULL_BUFFER`` for full buffer) on ``link``; returns its id.

        ``members`` (bool ``[n_clients]``) are the receivers of a broadcast-link transfer.
        """
        tid = self.tr.new(size_bytes)
        if members is not None:
            self.bc_members_of[tid] = np.asarray(members, dtype=bool)
        self.tr_first_row.append(self.tbs.n)
        self.tr_finished.append(False)
        if self.cur[link] < 0:
            self._activate(link, tid)
        else:
            self.queues[link].append(tid)
            self.n_queued += 1
        return tid

    def _activate(self, link: int, tid: int) -> None:
        self.cur[link] = tid
        self.tr_first_row[tid] = self.tbs.n
        size = int(self.tr.size[tid])
        self.buf[link] = size
        self.sent[link] = 0
        self.need[link] += size
        if link == self.bc_link:
            self.bc_members = self.bc_members_of.pop(tid, None)
            if self._cn > 0:
                self._derive()  # the broadcast link's SNR depends on its members

    def _advance_queue(self, link: int) -> None:
        """Make the next queued transfer current once the current one has no new bytes left."""
        if self.buf[link] > 0:
            return
        self.cur[link] = -1
        if self.queues[link]:
            self.n_queued -= 1
            self._activate(link, self.queues[link].popleft())

    def cut(self, tid: int) -> None:
        """Stop transfer ``tid`` now (deadline): drop its unsent bytes and pending HARQ/ARQ."""
        if self.tr_finished[tid]:
            return
        self.tr_finished[tid] = True
        for link in range(self.L):
            if tid in self.queues[link]:
                self.queues[link].remove(tid)
                self.n_queued -= 1
                return
        rows = self.tbs.rows_of(tid, self.tr_first_row[tid])
        link = int(self.tbs.link[rows[0]]) if rows.size else int(np.flatnonzero(self.cur == tid)[0])
        if self.cur[link] == tid:
            self.need[link] -= self.buf[link]
            self.buf[link] = 0
            self._advance_queue(link)
        kept: deque[list[int]] = deque()
        for entry in self.arq_q[link]:
            if entry[0] == tid:
                self.need[link] -= entry[2]
                self.arq_bytes[link] -= entry[2]
            else:
                kept.append(entry)
        self.arq_q[link] = kept
        pending = np.isin(self.proc_tb[:, link], rows)
        self.n_pending -= pending.astype(np.int64)
        self.proc_tb[pending, link] = -1
        live = rows[self.tbs.state[rows] == 0]
        self.tbs.state[live] = CUT

    def busy(self) -> bool:
        """Whether any link has bytes waiting or a HARQ retransmission pending."""
        return bool(self.need.any() or self.n_pending.any())

    # ------------------------------------------------------------------ channel
    def _fetch(self, slot: int, n: int) -> None:
        block = self.source.block(slot, n)
        self._raw = block.values_3d()
        self._c0, self._cn = slot, n
        slots = slot + np.arange(n)
        links = np.arange(self.L)[None, :]
        u = counter_rng.uniform(self.decode_key, slots[:, None], links)
        if block.decode_u is not None:
            u[:, : self.n_clients] = block.decode_u
        self.u = u
        self._derive()

    def _derive(self) -> None:
        """Link SNR, CQI and bits per RB of the cached chunk (the broadcast link: worst member)."""
        vals = self._raw
        if self.bc_link >= 0:
            members = self.bc_members
            if members is None or not members.any():
                members = np.ones(self.n_clients, dtype=bool)
            worst = vals[:, members, :].min(axis=1, keepdims=True)
            vals = np.concatenate([vals, worst], axis=1)
        if self.source.kind == "rate":
            self.gamma = np.full(vals.shape, np.inf)
            self.mcs = np.zeros(vals.shape, dtype=np.int8)
            self.bpr = vals * self.slot_s / self.num_rbs
            self.snr_db = np.full(vals.shape[:2], np.nan)
            self.rate_mode = True
        else:
            self.gamma = 10 ** (vals / 10)
            self.mcs, self.bpr = self.link_model.adapt(self.gamma)
            self.snr_db = vals[:, :, 0] if self.B == 1 else 10 * np.log10(self.gamma.mean(2))
            self.rate_mode = False

    def row(self, slot: int, horizon: int | None = None) -> int:
        """Index of ``slot`` in the cached chunk, fetching a new chunk if needed.

        Slots before the cached chunk (already passed) map to its first row.
        """
        k = slot - self._c0
        if 0 <= k < self._cn:
            return k
        if k < 0 and self._cn > 0:
            return 0
        n = self.chunk_slots
        if horizon is not None:
            n = int(min(n, max(1, horizon - slot)))
        self._fetch(slot, n)
        return 0

    def snr_at(self, slot: int) -> np.ndarray:
        """SNR [dB] of every client in ``slot`` (subband mean), ``[n_clients]``."""
        k = self.row(slot)
        return self.snr_db[k, : self.n_clients].copy()

    def bits_per_slot(self, slot: int) -> np.ndarray:
        """Bits a link would send in ``slot`` with every RB, ``[L]``."""
        k = self.row(slot)
        return self.bpr[k] @ self.rbs_per_subband

    # ------------------------------------------------------------------ time
    def skip_to(self, slot: int) -> None:
        """Jump over idle slots (nothing to send): only the PF averages decay."""
        gap = slot - self.next_slot
        if gap > 0:
            self.avg *= (1 - self.beta) ** gap
            self.next_slot = slot

    def run(self, stop_slot: int) -> list[int]:
        """Simulate slots ``next_slot … stop_slot − 1``, stopping after the first slot in
        which transfers finished; returns those transfer ids (empty if none)."""
        return run_lockstep([self], stop_slot)[0]

    def step(self, s: int, stop_slot: int) -> list[int]:
        """Simulate slot ``s`` (= ``next_slot``); returns the transfers that finished in it."""
        k = self.row(s, stop_slot)
        every = self.sample_every
        if every and s % every == 0:
            self.samples.append((np.array([s]), self.snr_db[k : k + 1, : self.n_clients]))
        self.next_slot = s + 1
        return self._slot(s, k)

    # ------------------------------------------------------------------ one slot
    def _bler(self, mcs: np.ndarray, gamma: np.ndarray, rbs: np.ndarray) -> np.ndarray:
        """TB error probability from per-subband BLERs of the subbands it uses."""
        if self.rate_mode:
            return np.zeros(mcs.shape[0])
        b = np.broadcast_to(self.link_model.bler(mcs, gamma), mcs.shape)
        if self.B == 1:
            return b[:, 0]
        return 1 - np.prod(np.where(rbs > 0, 1 - b, 1.0), axis=1)

    def _slot(self, s: int, k: int) -> list[int]:
        p = s % self.R
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
        if elig.any():
            alloc = allocate(
                self.scheduler, self.tdma, elig, self.need * 8, self.bpr[k], free,
                self.avg, self.last_served,
            )  # fmt: skip
            touched.append(self._new_tbs(s, k, p, alloc, served))
        self.avg *= 1 - self.beta
        self.avg += self.beta * served
        done: list[int] = []
        for tids in touched:
            if tids.size == 0:
                continue
            tids = np.unique(tids)
            fin = (self.tr.delivered[tids] + self.tr.lost[tids]) >= self.tr.size[tids]
            for tid in tids[fin]:
                if not self.tr_finished[tid]:
                    self.tr_finished[tid] = True
                    done.append(int(tid))
        return done

    def _retransmit(
        self, s: int, k: int, p: int, links: np.ndarray, free: np.ndarray, served: np.ndarray
    ) -> np.ndarray:
        tbs = self.proc_tb[p, links]
        log = self.tbs
        free -= log.rbs[tbs].sum(axis=0)
        g = self.gamma[k, links]
        log.acc[tbs] = log.acc[tbs] + g if self.chase else g
        log.ntx[tbs] += 1
        bler = self._bler(log.mcs[tbs], log.acc[tbs], log.rbs[tbs])
        ok = self.u[k, links] >= bler
        served[links] = 8 * log.length[tbs]
        self.last_served[links] = s
        self._deliver(tbs[ok], s)
        give_up = ~ok & (log.ntx[tbs] >= self.max_tx)
        self._give_up(tbs[give_up], s)
        clear = ok | give_up
        self.proc_tb[p, links[clear]] = -1
        self.n_pending[p] -= int(clear.sum())
        return log.transfer[tbs[clear]]

    def _deliver(self, tbs: np.ndarray, s: int) -> None:
        log = self.tbs
        log.state[tbs] = OK
        log.done_slot[tbs] = s
        self.tr.delivered[log.transfer[tbs]] += log.length[tbs]

    def _give_up(self, tbs: np.ndarray, s: int) -> None:
        log = self.tbs
        for tb in tbs:
            log.state[tb] = LOST
            log.done_slot[tb] = s
            tid, link = int(log.transfer[tb]), int(log.link[tb])
            if self.arq:
                n = int(log.length[tb])
                self.arq_q[link].append(
                    [tid, int(log.start[tb]), n, int(log.prior[tb] + log.ntx[tb])]
                )
                self.arq_bytes[link] += n
                self.need[link] += n
            else:
                self.tr.lost[tid] += log.length[tb]

    def _new_tbs(self, s: int, k: int, p: int, alloc: np.ndarray, served: np.ndarray) -> np.ndarray:
        links = np.flatnonzero(alloc.any(axis=1))
        if links.size == 0:
            return links
        rbs = alloc[links]
        bpr = self.bpr[k, links]
        cap = ((rbs * bpr).sum(axis=1) // 8).astype(np.int64)
        nbytes = np.minimum(cap, self.need[links])
        keep = nbytes > 0
        links, rbs, nbytes = links[keep], rbs[keep], nbytes[keep]
        tids = self.cur[links].copy()
        start = self.sent[links].copy()
        prior = np.zeros(links.size, dtype=np.int64)
        arq = np.flatnonzero(self.arq_bytes[links] > 0)
        for i in arq:  # rare: re-send the head of the ARQ queue, one range per TB
            link = links[i]
            entry = self.arq_q[link][0]
            n = min(int(nbytes[i]), entry[2])
            tids[i], start[i], prior[i], nbytes[i] = entry[0], entry[1], entry[3], n
            entry[1] += n
            entry[2] -= n
            if entry[2] == 0:
                self.arq_q[link].popleft()
            self.arq_bytes[link] -= n
        new = np.ones(links.size, dtype=bool)
        new[arq] = False
        self.sent[links[new]] += nbytes[new]
        self.buf[links[new]] -= nbytes[new]
        self.need[links] -= nbytes
        mcs = self.mcs[k, links]
        g = self.gamma[k, links]
        rows = self.tbs.add(links, tids, start, nbytes, s, prior, rbs, mcs, g)
        ok = self.u[k, links] >= self._bler(mcs, g, rbs)
        served[links] = 8 * nbytes
        self.last_served[links] = s
        self._deliver(rows[ok], s)
        fail = rows[~ok]
        if self.max_tx > 1:
            self.proc_tb[p, links[~ok]] = fail
            self.n_pending[p] += fail.size
        else:
            self._give_up(fail, s)
        emptied = links[new & (self.buf[links] == 0)]
        for link in emptied:
            self._advance_queue(int(link))
        return tids[ok] if self.max_tx > 1 else tids


def run_lockstep(engines: list[MacEngine], stop_slot: int) -> list[list[int]]:
    """Advance engines that share simulated time slot by slot, together, until ``stop_slot``
    or the end of the first slot in which any transfer finished.

    Engines must stand at the same ``next_slot``. Lockstep keeps them causal: a
    transfer finishing on one may prompt a new one on another in the next slot.
    Returns the finished transfer ids per engine.
    """
    out: list[list[int]] = [[] for _ in engines]
    s = max(e.next_slot for e in engines)
    for e in engines:
        e.skip_to(s)
    while s < stop_slot:
        active = [i for i, e in enumerate(engines) if e.busy()]
        if not active:
            break
        any_done = False
        for i in active:
            done = engines[i].step(s, stop_slot)
            if done:
                out[i] = done
                any_done = True
        s += 1
        for e in engines:
            e.skip_to(s)  # idle engines: PF averages decay
        if any_done:
            break
    return out
