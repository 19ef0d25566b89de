"""SimPy face of the wireless model: transfers are events, slots are simulated in bulk.

One driver process runs the uplink and downlink
:class:`~cosim.wireless.mac.MacEngine` in lockstep ahead of simulated time in
tight vectorised loops, as far as it safely can:
up to the next slot in which a transfer finishes, the next deadline, or the
next event anyone else has scheduled (``env.peek()``) — nothing outside the
network can change its inputs before then, because a transfer submitted at
time t starts in the first slot beginning at or after t. It then sleeps
until that moment and fires the finished transfers' events. So SimPy sees
one event per transfer milestone, never one per slot, and while no transfer
is active the driver waits on an event and idle time costs nothing.

Slot alignment: a transfer submitted at t is first scheduled in slot
``⌈t / slot_s⌉``; a TB sent in slot s is decoded at ``(s + 1) · slot_s``; a
transfer with a deadline is scheduled only in slots that end by it, and is cut
off at the deadline itself.

Example, inside a SimPy process::

    net = WirelessNetwork(env, config, distances_m, speeds_mps, rng)
    result = yield net.uplink(client=3, payload_bytes=250_000, deadline_s=env.now + 2.0)
    result.delivered_bytes, result.end_s, result.packets.delivery_s
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from cosim.errors import ConfigFieldError
from cosim.wireless.channel import ChannelSource
from cosim.wireless.config import WirelessConfig
from cosim.wireless.counter_rng import new_key
from cosim.wireless.mac import FULL_BUFFER, MacEngine, run_lockstep
from cosim.wireless.packets import (
    PacketRecords,
    TransferResult,
    delivered_prefix_bytes,
    packet_records,
)
from cosim.wireless.simulated import LargeScale, simulated_pair

_EPS = 1e-9
#: Most slots one driver simulates before letting simulated time catch up.
MAX_RUN_SLOTS = 1_000_000
#: TB-log rows above which finished transfers' rows are dropped.
COMPACT_ROWS = 1 << 17


@dataclass
class _Pending:
    """Book-keeping of a transfer in flight."""

    tid: int
    event: simpy.Event
    direction: str
    clients: tuple[int, ...]
    round: int
    size: int | None
    start_s: float
    deadline_s: float | None
    number: int


@dataclass
class _Driver:
    """One direction: its engine and its transfers in flight."""

    engine: MacEngine
    direction: str
    pending: dict[int, _Pending] = field(default_factory=dict)


class WirelessNetwork:
    """Uplink and downlink of one cell, usable from SimPy processes.

    ``distances_m`` and ``speeds_mps`` are ``[n_clients]`` arrays from the
    scenario's client list. ``uplink_source`` / ``downlink_source`` replace
    the simulated channels (e.g. trace replay); the simulated ones are still
    built first so that the random streams, and hence the HARQ draws, do not
    depend on that choice.
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: WirelessConfig,
        distances_m: np.ndarray,
        speeds_mps: np.ndarray,
        rng: np.random.Generator,
        uplink_source: ChannelSource | None = None,
        downlink_source: ChannelSource | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.n_clients = int(np.asarray(distances_m).shape[0])
        up, down, large = simulated_pair(config, distances_m, speeds_mps, rng)
        self.large_scale: LargeScale = large
        up_key, down_key = new_key(rng), new_key(rng)
        for name, src in (("uplink_source", uplink_source), ("downlink_source", downlink_source)):
            if src is not None and src.n_clients != self.n_clients:
                raise ConfigFieldError(
                    name, f"has {src.n_clients} clients, the scenario {self.n_clients}"
                )
        self.uplink_source = uplink_source or up
        self.downlink_source = downlink_source or down
        self.slot_s = config.mac.slot_s
        up_engine = MacEngine(
            self.uplink_source, config, up_key, power_cap_db=self._power_cap_db(large)
        )
        up_engine.chunk.sample_every = config.channel_sample_every_slots
        down_engine = MacEngine(self.downlink_source, config, down_key, broadcast_link=True)
        self._up = _Driver(up_engine, "uplink")
        self._down = _Driver(down_engine, "downlink")
        self._numbers = 0
        self._tput: dict[int, float] = {}
        self.throughput_ewma_weight = 0.5
        self._queried: list[tuple[int, np.ndarray]] = []
        self._compact_at = COMPACT_ROWS
        self._wake: simpy.Event | None = None
        # A source with exact per-client link queues (Mahimahi replay) serves the uplink
        # itself, opportunity by opportunity, instead of the slot MAC.
        self._link_queue = getattr(self.uplink_source, "link_queue", None)
        self._exact: dict[int, tuple[simpy.Event, _Pending, object]] = {}
        env.process(self._drive())

    # ------------------------------------------------------------------ public API
    @property
    def uplink_engine(self) -> MacEngine:
        """The uplink slot engine (for inspection: TB log, counters, decode key)."""
        return self._up.engine

    @property
    def downlink_engine(self) -> MacEngine:
        """The downlink slot engine; its last link is the broadcast link."""
        return self._down.engine

    def uplink(
        self,
        client: int,
        payload_bytes: int | None,
        deadline_s: float | None = None,
        round_index: int = -1,
    ) -> simpy.Event:
        """Send ``payload_bytes`` from ``client`` to the base station.

        ``None`` bytes = full buffer (ends only at the deadline). ``deadline_s`` is
        an absolute simulated time [s]. The event's value is a :class:`TransferResult`.
        """
        self._check_client(client)
        if self._link_queue is not None:
            return self._submit_exact(client, payload_bytes, deadline_s, round_index)
        return self._submit(self._up, client, (client,), payload_bytes, deadline_s, round_index)

    def downlink_unicast(
        self, client: int, payload_bytes: int, deadline_s: float | None = None,
        round_index: int = -1,
    ) -> simpy.Event:
        """Send ``payload_bytes`` from the base station to one client."""
        self._check_client(client)
        return self._submit(self._down, client, (client,), payload_bytes, deadline_s, round_index)

    def downlink_broadcast(
        self,
        clients: Sequence[int],
        payload_bytes: int,
        deadline_s: float | None = None,
        round_index: int = -1,
    ) -> simpy.Event:
        """Send one copy to every client in ``clients`` at the rate of the worst of them.

        The broadcast is one more downlink link whose SNR is, per slot and subband,
        the minimum over ``clients``; it competes for RBs with downlink unicasts
        under the configured scheduler. Broadcasts are sent one after another.
        """
        if len(clients) == 0:
            raise ConfigFieldError("clients", "a broadcast needs at least one receiver")
        members = np.zeros(self.n_clients, dtype=bool)
        for c in clients:
            self._check_client(c)
            members[c] = True
        link = self._down.engine.bc_link
        return self._submit(
            self._down, link, tuple(int(c) for c in clients), payload_bytes, deadline_s,
            round_index,
            members=members,
        )  # fmt: skip

    def downlink(
        self,
        clients: Sequence[int],
        payload_bytes: int,
        deadline_s: float | None = None,
        round_index: int = -1,
    ) -> simpy.Event:
        """Downlink in the configured mode; the value is a list of :class:`TransferResult`."""
        if self.config.downlink == "broadcast":
            evs = [self.downlink_broadcast(clients, payload_bytes, deadline_s, round_index)]
        else:
            evs = [self.downlink_unicast(c, payload_bytes, deadline_s, round_index)
                   for c in clients]
        return self.env.process(self._as_list(evs))

    def current_snr_db(self, direction: str = "uplink") -> np.ndarray:
        """Every client's SNR [dB] in the next slot to start, ``[n_clients]`` (recorded)."""
        drv = self._up if direction == "uplink" else self._down
        slot = self._slot_at_or_after(self.env.now)
        snr = drv.engine.snr_at(slot)
        if drv is self._up:
            # Under a rate trace the SNR is NaN; the rate itself is what gets recorded.
            chunk = drv.engine.chunk
            self._queried.append((slot, chunk.recorded_at(slot) if chunk.rate_mode else snr))
        return snr

    def predicted_rate_bps(self, client: int) -> float:
        """Uplink rate [bit/s] from current CSI on the expected share of the RBs.

        ``bits(⌊N / n⌋ RBs, next slot) / slot_s``, n = 1 + other clients with uplink
        data waiting (the OFDMA share, with the power split over it); TDMA:
        ``bits(all RBs) / slot_s / n``.
        """
        eng = self._up.engine
        slot = self._slot_at_or_after(self.env.now)
        others = int(np.count_nonzero(eng.need > 0)) - int(eng.need[client] > 0)
        if eng.tdma:
            return float(eng.bits_per_slot(slot)[client]) / self.slot_s / (1 + others)
        share = max(1, eng.num_rbs // (1 + others))  # the power split counts on a share
        return float(eng.bits_per_slot(slot, share)[client]) / self.slot_s

    def throughput_estimate_bps(self, client: int) -> float | None:
        """EWMA [bit/s] of ``client``'s finished uplink transfers' delivered bits / duration.

        ``None`` before its first finished uplink transfer.
        """
        return self._tput.get(client)

    def channel_rows(self) -> dict[str, np.ndarray]:
        """Uplink channel samples recorded since the last call: ``time_s``, ``client``,
        ``snr_db`` and ``rate_bps`` (a rate trace's rate with every RB; the other is NaN)."""
        eng = self._up.engine
        parts = eng.chunk.take_samples()
        parts += [(np.array([s]), snr[None]) for s, snr in self._queried]
        self._queried = []
        if not parts:
            empty = np.zeros(0)
            return {"time_s": empty, "client": empty.astype(np.int64), "snr_db": empty,
                    "rate_bps": empty}
        slots = np.concatenate([p[0] for p in parts])
        value = np.concatenate([p[1] for p in parts])
        order = np.argsort(slots, kind="stable")  # CSI queries interleave with busy slots
        slots, value = slots[order], value[order].reshape(-1)
        n = self.n_clients
        nan = np.full(value.shape, np.nan)
        rate = eng.chunk.rate_mode
        return {
            "time_s": np.repeat(slots * self.slot_s, n),
            "client": np.tile(np.arange(n, dtype=np.int64), slots.size),
            "snr_db": nan if rate else value,
            "rate_bps": value if rate else nan,
        }

    def close(self) -> list[TransferResult]:
        """End every unfinished transfer now (as if cut off); returns their results."""
        out = [self._exact_result(*self._exact.pop(n), cut_at=self.env.now)
               for n in list(self._exact)]
        for drv in (self._up, self._down):
            for tid in list(drv.pending):
                out.append(self._finish(drv, tid, self.env.now, cut=True))
        return out

    # ------------------------------------------------------------------ internals
    def _power_cap_db(self, large: LargeScale) -> np.ndarray | None:
        """Per-RB power ceiling over ``P_max / N`` [dB] per client (TS 38.213 open loop),
        +inf without power control; ``None`` when power is not split over RBs."""
        pw, mac = self.config.uplink_power, self.config.mac
        if not pw.split_over_rbs:
            return None
        if pw.p0_dbm_per_rb is None:
            return np.full(self.n_clients, np.inf)
        loss = large.path_loss_db + large.shadowing_db
        per_rb = pw.p0_dbm_per_rb + 10 * math.log10(mac.rb_bandwidth_hz / 180e3) + pw.alpha * loss
        return per_rb - (self.config.uplink_tx_power_dbm - 10 * math.log10(mac.num_rbs))

    def _energy_j(self, direction: str, client: int, rbs: np.ndarray, ntx: np.ndarray) -> float:
        """Radiated energy [J] of TBs on ``rbs`` RBs sent ``ntx`` times each.

        Uplink with the power split: ``P(n) = min(P_max, P_max/N · n · cap)`` per
        transmission (all of P_max without power control); otherwise (downlink, fixed
        PSD) ``P_max · n / N``.
        """
        cfg, eng = self.config, self._up.engine
        n = rbs.astype(np.float64)
        if direction == "uplink":
            p_max = 10 ** (cfg.uplink_tx_power_dbm / 10 - 3)
            if eng.split:
                cap = float(eng.cap_lin[client])
                p = np.minimum(p_max, p_max / eng.num_rbs * n * cap)
            else:
                p = p_max * n / eng.num_rbs
        else:
            p = 10 ** (cfg.downlink_tx_power_dbm / 10 - 3) * n / eng.num_rbs
        return float((p * ntx).sum() * self.slot_s)

    def _air_bytes(self, payload: int) -> int:
        """Bytes on the air for ``payload``: + ``header_bytes`` per ``mtu_bytes`` packet."""
        pk = self.config.packets
        return payload + -(-payload // pk.mtu_bytes) * pk.header_bytes

    def _check_client(self, client: int) -> None:
        if not 0 <= client < self.n_clients:
            raise ConfigFieldError("client", f"must be in [0, {self.n_clients}), got {client!r}")

    def _slot_at_or_after(self, t: float) -> int:
        return max(0, math.ceil(t / self.slot_s - _EPS))

    def _as_list(
        self, evs: list[simpy.Event]
    ) -> Generator[simpy.Event, object, list[TransferResult]]:
        yield self.env.all_of(evs)
        return [e.value for e in evs]

    def _submit(
        self,
        drv: _Driver,
        link: int,
        clients: tuple[int, ...],
        payload_bytes: int | None,
        deadline_s: float | None,
        round_index: int,
        members: np.ndarray | None = None,
    ) -> simpy.Event:
        if payload_bytes is not None and payload_bytes < 1:
            raise ConfigFieldError("payload_bytes", f"must be >= 1, got {payload_bytes!r}")
        if payload_bytes is None and deadline_s is None:
            raise ConfigFieldError("deadline_s", "a full-buffer transfer needs a deadline")
        eng = drv.engine
        eng.skip_to(self._slot_at_or_after(self.env.now))
        size = FULL_BUFFER if payload_bytes is None else self._air_bytes(int(payload_bytes))
        tid = eng.add_transfer(link, size, members)
        ev = self.env.event()
        drv.pending[tid] = _Pending(
            tid, ev, drv.direction, clients, round_index, payload_bytes, self.env.now, deadline_s,
            self._numbers,
        )  # fmt: skip
        self._numbers += 1
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()
        return ev

    def _submit_exact(
        self, client: int, payload_bytes: int | None, deadline_s: float | None, round_index: int
    ) -> simpy.Event:
        """An uplink transfer through the source's link queue (e.g. exact Mahimahi replay).

        The queue decides every packet's delivery time at submission; the event
        fires at the last delivery (or the deadline). No radio is modelled, so
        ``energy_j`` is 0.
        """
        if payload_bytes is not None and payload_bytes < 1:
            raise ConfigFieldError("payload_bytes", f"must be >= 1, got {payload_bytes!r}")
        if payload_bytes is None and deadline_s is None:
            raise ConfigFieldError("deadline_s", "a full-buffer transfer needs a deadline")
        pk = self.config.packets
        sent = self._link_queue.send(  # type: ignore[union-attr]
            client, self.env.now, payload_bytes, deadline_s, pk.mtu_bytes, pk.header_bytes
        )
        ev = self.env.event()
        p = _Pending(-1, ev, "uplink", (client,), round_index, payload_bytes, self.env.now,
                     deadline_s, self._numbers)  # fmt: skip
        self._numbers += 1
        self._exact[p.number] = (ev, p, sent)

        def fire() -> Generator[simpy.Event, object, None]:
            yield self.env.timeout(max(0.0, sent.end_s - self.env.now))
            if p.number in self._exact:
                self._exact.pop(p.number)
                ev.succeed(self._exact_result(ev, p, sent, cut_at=None))

        self.env.process(fire())
        return ev

    def _exact_result(self, ev: simpy.Event, p: _Pending, sent: object,
                      cut_at: float | None) -> TransferResult:
        """The result of a link-queue transfer (``cut_at``: ended early by :meth:`close`)."""
        first_tx = sent.first_tx_s.copy()  # type: ignore[attr-defined]
        delivery = sent.delivery_s.copy()  # type: ignore[attr-defined]
        end_s, cut = sent.end_s, sent.cut_off  # type: ignore[attr-defined]
        if cut_at is not None:
            delivery[~(delivery <= cut_at + _EPS)] = np.nan
            first_tx[~(first_tx <= cut_at + _EPS)] = np.nan
            end_s, cut = cut_at, True
        n_bytes = int(sent.n_bytes)  # type: ignore[attr-defined]
        mtu = self.config.packets.mtu_bytes
        n_pk = delivery.shape[0]
        seq = np.arange(n_pk, dtype=np.int64)
        lost = np.isnan(delivery)
        packets = PacketRecords(
            seq=seq, size_bytes=np.minimum(mtu, n_bytes - seq * mtu).astype(np.int64),
            enqueue_s=np.full(n_pk, p.start_s), first_tx_s=first_tx, delivery_s=delivery,
            attempts=(~np.isnan(first_tx)).astype(np.int64), lost=lost,
        )  # fmt: skip
        result = TransferResult(
            transfer=p.number, direction="uplink", clients=p.clients, round=p.round,
            size_bytes=n_bytes, delivered_bytes=delivered_prefix_bytes(packets),
            start_s=p.start_s, end_s=end_s, deadline_s=p.deadline_s,
            complete=not bool(lost.any()) and p.size is not None, cut_off=cut,
            packets=packets, energy_j=0.0,
        )  # fmt: skip
        if result.duration_s > 0:
            rate = 8 * result.delivered_bytes / result.duration_s
            old = self._tput.get(p.clients[0])
            w = self.throughput_ewma_weight
            self._tput[p.clients[0]] = rate if old is None else (1 - w) * old + w * rate
        if cut_at is not None:
            ev.succeed(result)
        return result

    def _drive(self) -> Generator[simpy.Event, object, None]:
        env, slot_s = self.env, self.slot_s
        drivers = (self._up, self._down)
        engines = [d.engine for d in drivers]
        while True:
            for drv in drivers:
                self._cut_due(drv)
            if not any(e.busy() for e in engines):
                self._wake = env.event()
                yield self._wake
                self._wake = None
                continue
            now_slot = self._slot_at_or_after(env.now)
            for e in engines:
                e.skip_to(now_slot)
            t_ext = env.peek()
            deadlines = [
                p.deadline_s
                for d in drivers
                for p in d.pending.values()
                if p.deadline_s is not None
            ]
            t_dl = min(deadlines, default=math.inf)
            stop = engines[0].next_slot + MAX_RUN_SLOTS
            if math.isfinite(t_ext):  # slots starting before the next outside event
                stop = min(stop, math.ceil(t_ext / slot_s - _EPS))
            if math.isfinite(t_dl):  # slots ending by the next deadline
                stop = min(stop, math.floor(t_dl / slot_s + _EPS))
            finished = run_lockstep(engines, stop) if stop > engines[0].next_slot else [[], []]
            if any(finished):
                t_end = engines[0].next_slot * slot_s
                if t_end > env.now:
                    yield env.timeout(t_end - env.now)
                for drv, tids in zip(drivers, finished, strict=True):
                    for tid in tids:
                        if tid in drv.pending:
                            self._finish(drv, tid, t_end, cut=False)
                continue
            if not any(e.busy() for e in engines):
                continue
            # Sleep no further than the slots simulated so far (a run capped at
            # MAX_RUN_SLOTS must resume where it stopped: skipping slots while a transfer
            # is backlogged would lose link time), nor past the next outside event or
            # deadline. When no slot could run (the next slot would end after a
            # deadline, or start at or after an outside event), wait for that moment.
            t_wake = min(t_ext, t_dl)
            t_sim = engines[0].next_slot * slot_s
            if t_sim > env.now + _EPS * slot_s:
                t_wake = min(t_wake, t_sim)
            yield env.timeout(max(0.0, t_wake - env.now))

    def _cut_due(self, drv: _Driver) -> None:
        now = self.env.now
        for tid, p in list(drv.pending.items()):
            if p.deadline_s is not None and p.deadline_s <= now + _EPS:
                drv.engine.cut(tid)
                # a transfer submitted after its deadline ends at once, with nothing
                self._finish(drv, tid, max(p.deadline_s, p.start_s), cut=True)

    def _finish(self, drv: _Driver, tid: int, t_end: float, cut: bool) -> TransferResult:
        p = drv.pending.pop(tid)
        eng = drv.engine
        if not cut:
            eng.tr_finished[tid] = True
        else:
            eng.cut(tid)
        rows = eng.tbs.rows_of(tid, eng.tr_first_row[tid])
        pk = self.config.packets
        if p.size is None:  # full buffer: the bytes that made it into transport blocks
            ends = eng.tbs.start[rows] + eng.tbs.length[rows]
            n_air = int(ends.max()) if rows.size else 0
        else:
            n_air = self._air_bytes(p.size)
        packets = packet_records(
            eng.tbs, rows, n_air, pk.mtu_bytes + pk.header_bytes, p.start_s, self.slot_s,
            pk.header_bytes,
        )  # fmt: skip
        n_bytes = p.size if p.size is not None else int(packets.size_bytes.sum())
        complete = not bool(packets.lost.any())
        energy = self._energy_j(
            p.direction, p.clients[0], eng.tbs.rbs[rows].sum(axis=1), eng.tbs.ntx[rows]
        )
        result = TransferResult(
            transfer=p.number,
            direction=p.direction,
            clients=p.clients,
            round=p.round,
            size_bytes=n_bytes,
            delivered_bytes=delivered_prefix_bytes(packets),
            start_s=p.start_s,
            end_s=t_end,
            deadline_s=p.deadline_s,
            complete=complete and p.size is not None,
            cut_off=cut,
            packets=packets,
            energy_j=energy,
        )
        if p.direction == "uplink" and result.duration_s > 0:
            rate = 8 * result.delivered_bytes / result.duration_s
            old = self._tput.get(p.clients[0])
            w = self.throughput_ewma_weight
            self._tput[p.clients[0]] = rate if old is None else (1 - w) * old + w * rate
        eng.tr_reported[tid] = True
        if eng.tbs.n > self._compact_at:
            eng.compact()
            self._compact_at = max(self._compact_at, 2 * eng.tbs.n)
        p.event.succeed(result)
        return result
