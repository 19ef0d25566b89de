"""Exact Mahimahi replay: each client's uplink is a copy of Mahimahi's link queue.

Mahimahi's rule (``LinkQueue`` in mahimahi's ``src/frontend/link_queue.cc``;
ported line by line in :mod:`cosim.channels.mahimahi_reference`):

* schedule ``s_0 <= … <= s_{n−1}`` [ms], period ``P = s_{n−1} > 0``;
  opportunity ``k`` of loop ``q`` fires ``q·P + s_k`` ms after the link
  starts (at each wrap ``base_timestamp_ += schedule_.back()``);
* a packet read at wall time ``t`` [ms] is stamped ``A = ⌊t⌋`` (``timestamp()``
  counts whole ms) and ``read_packet`` first calls ``rationalize(A)``, which
  spends every opportunity at ``<= A`` on packets already queued, so the new
  packet can use only opportunities at ``> A``;
* an opportunity carries 1500 bytes of the FIFO byte stream; a packet that
  finishes mid-opportunity hands the surplus to the next *queued* packet;
  with the queue empty the rest is lost;
* a packet departs at the time of the opportunity carrying its last byte.

Byte-stream form (what this module computes, vectorised): number the
opportunities ``g = q·n + k``, fired at ``T(g) = ⌊g/n⌋·P + s_{g mod n}``;
opportunity ``g`` carries stream bytes ``[1500 g, 1500 (g + 1))``. With
``O(A) = #{g : T(g) <= A}``, a transfer of N bytes arriving at ``A`` behind a
backlog that ends at stream byte ``E`` occupies ``[S, S + N)``,
``S = max(E, 1500·O(A))``; the byte ending at ``S + b`` departs at
``T(⌈(S + b)/1500⌉ − 1)``. Alone on its link, N bytes therefore complete at
the ``⌈N/1500⌉``-th opportunity after ``⌊t0⌋`` ms, whatever the MAC slot.

cosim additions: client ``i`` sits ``offset_i`` into its trace (trace time =
simulated time + offset); ``⌊·⌋`` of a time within 1 ns below a whole ms counts
as that ms (float round-off of e.g. 0.003 s); a deadline ``d`` removes the
transfer's bytes not carried by opportunities at ``<= ⌊d⌋`` (so later
transfers are not delayed by them); without ``loop`` an opportunity past the
last line raises :class:`~cosim.errors.TraceFormatError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cosim.channels.location import trace_error
from cosim.channels.mahimahi import OPPORTUNITY_BPS, PACKET_BYTES
from cosim.wireless.channel import ChannelBlock, ChannelSource

#: Tolerance on whole milliseconds [ms] (1 ns).
MS_EPS = 1e-6


class MahimahiSchedule:
    """One Mahimahi trace's opportunities, with looping (times in whole ms)."""

    def __init__(self, stamps_ms: np.ndarray, loop: bool, path: str = "",
                 last_line: int | None = None) -> None:
        self.stamps = np.ascontiguousarray(stamps_ms, dtype=np.int64)
        self.n = int(self.stamps.shape[0])
        self.period = int(self.stamps[-1])
        self.loop = loop
        self.path = path
        self.last_line = last_line

    def count_upto(self, a_ms: np.ndarray | int) -> np.ndarray:
        """``O(A)``: opportunities fired at ``<= A`` ms (A >= −1)."""
        a = np.asarray(a_ms, dtype=np.int64)
        if not self.loop:
            return np.searchsorted(self.stamps, a, side="right").astype(np.int64)
        q, r = np.divmod(a, self.period)
        return q * self.n + np.searchsorted(self.stamps, r, side="right")

    def time_of(self, g: np.ndarray, client: int = -1) -> np.ndarray:
        """``T(g)`` [ms] of global opportunity indices ``g``."""
        g = np.asarray(g, dtype=np.int64)
        if not self.loop and g.size and int(g.max()) >= self.n:
            raise trace_error(
                self.path,
                f"trace too short: client {client} needs more than its {self.n} opportunities "
                f"(it ends at {self.period} ms); set loop: true or use a longer trace",
                line=self.last_line,
            )
        q, k = np.divmod(g, self.n)
        return q * self.period + self.stamps[k]

    def count_at(self, ms: np.ndarray) -> np.ndarray:
        """Opportunities fired at exactly ``ms`` >= 0 (looped) [count]."""
        ms = np.asarray(ms, dtype=np.int64)

        def equal(v: np.ndarray) -> np.ndarray:
            s = self.stamps
            return np.searchsorted(s, v, "right") - np.searchsorted(s, v, "left")

        if not self.loop:
            return np.where(ms <= self.period, equal(ms), 0)
        r = ms % self.period
        # At q·P (q >= 1) the lines at P of loop q − 1 fire with the lines at 0 of loop q.
        return equal(r) + np.where((r == 0) & (ms > 0), equal(np.full_like(r, self.period)), 0)


@dataclass(frozen=True)
class ExactTransfer:
    """What the link queue did with one transfer (times in simulated seconds)."""

    n_bytes: int
    first_tx_s: np.ndarray  # per packet, NaN if no byte was carried
    delivery_s: np.ndarray  # per packet, NaN if it missed the deadline
    end_s: float
    cut_off: bool


class MahimahiLinks:
    """Per-client Mahimahi link queues (one schedule per client, shared where equal)."""

    def __init__(self, schedules: list[MahimahiSchedule], offsets_s: np.ndarray) -> None:
        self.schedules = schedules
        self.offsets_ms = np.asarray(offsets_s, dtype=np.float64) * 1e3
        self.backlog_end = np.zeros(len(schedules), dtype=np.int64)  # stream byte E

    def _stamp(self, client: int, t_s: float) -> int:
        return math.floor(t_s * 1e3 + self.offsets_ms[client] + MS_EPS)

    def send(self, client: int, t0_s: float, n_bytes: int | None, deadline_s: float | None,
             mtu: int, header_bytes: int = 0) -> ExactTransfer:
        """Queue ``n_bytes`` (None: as much as fits by the deadline) at ``t0_s`` [s].

        The payload is cut into ``mtu``-byte packets, each ``header_bytes`` longer
        on the link (what Mahimahi's queue holds is whole IP packets).
        """
        sched = self.schedules[client]
        off = self.offsets_ms[client]
        start = max(int(self.backlog_end[client]),
                    PACKET_BYTES * int(sched.count_upto(self._stamp(client, t0_s))))
        limit = None  # stream bytes the link carries by the deadline
        if deadline_s is not None:
            d = max(deadline_s, t0_s)
            limit = PACKET_BYTES * int(sched.count_upto(self._stamp(client, d)))
        full_buffer = n_bytes is None
        if n_bytes is None:  # a full buffer ends only at its deadline
            room = max(0, (limit or start) - start)
            whole, rest = divmod(room, mtu + header_bytes)
            n_bytes = whole * mtu + max(0, rest - header_bytes)
        seq = np.arange(-(-n_bytes // mtu), dtype=np.int64)
        payload = np.minimum(mtu, n_bytes - seq * mtu)
        ends = start + np.cumsum(payload + header_bytes)
        firsts = ends - payload - header_bytes
        carried = ends if limit is None else np.minimum(ends, limit)
        delivered = np.ones(seq.shape, dtype=bool) if limit is None else ends <= limit
        # Only opportunities by the deadline are ever timed (a no-loop trace may end after it).
        g_last = -(-ends[delivered] // PACKET_BYTES) - 1
        tx = firsts < carried
        g_first = firsts[tx] // PACKET_BYTES
        delivery = np.full(seq.shape, np.nan)
        delivery[delivered] = (sched.time_of(g_last, client) - off) / 1e3
        first_tx = np.full(seq.shape, np.nan)
        first_tx[tx] = (sched.time_of(g_first, client) - off) / 1e3
        cut = full_buffer or (limit is not None and not bool(delivered.all()))
        on_link = int(ends[-1] - start) if seq.size else 0
        end = start + on_link if limit is None else min(start + on_link, max(start, limit))
        self.backlog_end[client] = end
        if cut:
            end_s = float(max(deadline_s, t0_s))  # type: ignore[arg-type]
        else:
            end_s = float(delivery[-1]) if seq.size else float(t0_s)
        return ExactTransfer(n_bytes, first_tx, delivery, end_s, cut)

    def rate_bps(self, client: int, t_s: np.ndarray) -> np.ndarray:
        """The rate view [bit/s] at simulated times ``t_s``: 12 Mbit/s per opportunity at
        ``⌊τ⌋ + 1`` ms (τ the trace time), i.e. an opportunity delivers over the ms
        ending at it."""
        sched = self.schedules[client]
        ms = np.floor(t_s * 1e3 + self.offsets_ms[client] + MS_EPS).astype(np.int64) + 1
        return sched.count_at(ms) * OPPORTUNITY_BPS


class MahimahiSource(ChannelSource):
    """Mahimahi traces as a channel: exact link queues, plus a per-slot rate view.

    The network serves uplink transfers through :attr:`link_queue` (see the
    module docstring), never through the slot MAC; :meth:`block` (the rate
    view, for CSI queries and recording) gives slot ``s`` the rate of the
    millisecond its start falls in, :meth:`MahimahiLinks.rate_bps`.
    """

    kind = "rate"
    n_subbands = 1

    def __init__(self, schedules: list[MahimahiSchedule], offsets_s: np.ndarray,
                 slot_s: float) -> None:
        self.n_clients = len(schedules)
        self.slot_s = float(slot_s)
        self.link_queue = MahimahiLinks(schedules, offsets_s)

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        """Rate view [bit/s] of slots ``first_slot …``, shape [n_slots, n_clients]."""
        t = (first_slot + np.arange(n_slots, dtype=np.float64)) * self.slot_s
        out = np.empty((n_slots, self.n_clients))
        for c in range(self.n_clients):
            out[:, c] = self.link_queue.rate_bps(c, t)
        return ChannelBlock(first_slot, rate_bps=out)
