"""Trace replay as a channel model (a :class:`cosim.wireless.channel.ChannelSource`).

Slot ``s`` of client ``i`` gets the trace value at trace time

    τ = s · slot_s + offset_i                                   [s]

* zero-order hold: the sample ``k`` with ``t_k <= τ < t_{k+1}`` (times within
  :data:`TIME_EPS_S` of a sample count as at it, so a recorded run replays
  the very samples it recorded despite float round-off);
* linear: ``v_k + (v_{k+1} − v_k) · (τ − t_k) / (t_{k+1} − t_k)``, in dB for
  SNR and in bit/s for rates; the last sample interpolates towards the first
  one when looping and holds otherwise.

Trace time is simulated time, so a recorded run replays at the times it was
recorded; before the first sample the first sample holds. Past the trace's
end (``end_s``) replay wraps to its first sample (``loop``, period
``end_s − t_0``) or raises :class:`~cosim.errors.TraceFormatError` when a
block *starts* past the end (later slots of a block are the MAC's prefetch,
which may overrun a trace that covers the run; they hold the last sample).
``build_replay_source(..., required_duration_s=...)`` checks coverage up
front. The value replayed is ``snr_scale · v + snr_offset_db`` [dB] or
``rate_scale · v`` [bit/s].

Memory: small traces are held as one array; HDF5 traces are read through a
per-client window of :data:`WINDOW_ROWS` samples (8 bytes each per client),
refilled as replay moves on, so a 1-hour, 1 ms, 100-client trace needs
about 29 MB of sample times plus 52 MB of windows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cosim.channels.config import TraceReplayConfig
from cosim.channels.formats import detect_format, open_store
from cosim.channels.linkqueue import MahimahiSchedule, MahimahiSource
from cosim.channels.location import require_file, trace_error
from cosim.channels.mahimahi import read_mahimahi_timestamps
from cosim.channels.series import ChannelTrace, SampleStore
from cosim.errors import TraceFormatError
from cosim.wireless.channel import ChannelBlock, ChannelSource

TIME_EPS_S = 1e-9
WINDOW_ROWS = 65536


class _DirectGather:
    """Values of a fully loaded trace, indexed directly."""

    def __init__(self, trace: ChannelTrace, cols: np.ndarray) -> None:
        self._values, self._cols = trace.values, cols

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` (clients, slots) → values (clients, slots)."""
        return self._values[rows, self._cols[:, None]]


class _WindowGather:
    """Values of a streamed trace through one ``window``-row buffer per client.

    A client's buffer starts at the earliest row asked for and is refilled
    when a block needs rows outside it; blocks spanning more rows than the
    buffer (or wrapping around the loop) are read directly.
    """

    def __init__(self, store: SampleStore, cols: np.ndarray, window: int) -> None:
        self._store, self._cols = store, cols
        self._n = int(store.time_s.shape[0])
        self._window = min(window, self._n)
        # Client-major, so each client's rows are contiguous for the flat take below.
        self._buf = np.zeros((cols.shape[0], self._window))
        self._base = np.arange(cols.shape[0], dtype=np.int64) * self._window
        self._start = np.full(cols.shape[0], -(2**62), dtype=np.int64)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` (clients, slots) → values (clients, slots)."""
        lo, hi = rows.min(axis=1), rows.max(axis=1)
        stale = np.flatnonzero((lo < self._start) | (hi >= self._start + self._window))
        direct = []
        for j in stale:
            if hi[j] - lo[j] >= self._window:
                direct.append(j)
                continue
            start = int(min(lo[j], self._n - self._window))
            self._buf[j] = self._store.read(int(self._cols[j]), start, start + self._window)
            self._start[j] = start
        # Flat, client-major: each client's look-ups walk its own contiguous window.
        index = rows - (self._start - self._base)[:, None]
        if direct:
            index[direct] = self._base[direct, None]  # placeholders, overwritten below
        out = self._buf.ravel().take(index)
        for j in direct:
            wanted = np.unique(rows[j])
            # Contiguous runs (a wrap splits the rows into two) are read once each.
            breaks = np.flatnonzero(np.diff(wanted) > self._window) + 1
            parts = []
            for run in np.split(wanted, breaks):
                block = self._store.read(int(self._cols[j]), int(run[0]), int(run[-1]) + 1)
                parts.append(block[run - run[0]])
            out[j] = np.concatenate(parts)[np.searchsorted(wanted, rows[j])]
        return out


def uniform_step(time_s: np.ndarray, chunk: int = 1 << 20) -> float | None:
    """The spacing dt [s] if ``time_s[k] = t_0 + k·dt`` within TIME_EPS_S / 10, else None.

    Replay then finds sample rows by arithmetic instead of a binary search.
    """
    n = int(time_s.shape[0])
    if n < 2:
        return None
    dt = float(time_s[-1] - time_s[0]) / (n - 1)
    if not dt > 0:
        return None
    for start in range(0, n, chunk):
        k = np.arange(start, min(n, start + chunk), dtype=np.float64)
        if np.abs(time_s[start : start + k.shape[0]] - (time_s[0] + k * dt)).max() >= (
            TIME_EPS_S / 10
        ):
            return None
    return dt


class _Group:
    """The clients replaying one store, with what makes their look-ups fast."""

    def __init__(self, store: SampleStore, clients: np.ndarray, cols: np.ndarray,
                 offsets: np.ndarray, window_rows: int) -> None:
        self.store, self.clients = store, clients
        self.gather = (
            _DirectGather(store, cols)
            if isinstance(store, ChannelTrace)
            else _WindowGather(store, cols, window_rows)
        )
        # Rows depend on the offset only, so they are found once per distinct offset.
        self.offsets, self.inverse = np.unique(offsets, return_inverse=True)
        self.step = uniform_step(store.time_s)


class ReplaySource(ChannelSource):
    """Replays trace series as per-slot SNR [dB] or rate [bit/s] (module docstring).

    Args:
        stores: open traces (all SNR or all rate).
        assignment: per client, ``(store index, column)``.
        offsets_s: (n_clients,) start time of each client in its trace [s].
        slot_s: slot duration [s].
        window_rows: per-client buffer of streamed traces [samples].
    """

    def __init__(
        self,
        stores: list[SampleStore],
        assignment: list[tuple[int, int]],
        offsets_s: np.ndarray,
        slot_s: float,
        *,
        loop: bool = True,
        interpolation: str = "zoh",
        snr_scale: float = 1.0,
        snr_offset_db: float = 0.0,
        rate_scale: float = 1.0,
        window_rows: int = WINDOW_ROWS,
    ) -> None:
        quantities = {store.quantity for store in stores}
        if len(quantities) != 1:
            raise trace_error(
                ", ".join(s.path for s in stores), "traces mix SNR and rate series; replay one kind"
            )
        self.quantity = quantities.pop()
        self.kind = "snr" if self.quantity == "snr_db" else "rate"
        self.n_clients = len(assignment)
        self.n_subbands = 1
        self.slot_s = float(slot_s)
        self.loop = loop
        self.linear = interpolation == "linear"
        self._stores = stores
        self._assignment = assignment
        self._offsets = np.asarray(offsets_s, dtype=np.float64)
        self._scale = snr_scale if self.kind == "snr" else rate_scale
        self._shift = snr_offset_db if self.kind == "snr" else 0.0
        self._groups = []
        for index, store in enumerate(stores):
            clients = np.array([i for i, (s, _) in enumerate(assignment) if s == index])
            if clients.size == 0:
                continue
            cols = np.array([assignment[i][1] for i in clients])
            self._groups.append(
                _Group(store, clients, cols, self._offsets[clients], window_rows)
            )

    def _past_end(self, group: _Group, t_s: float, first_slot: int) -> TraceFormatError:
        """The error for the first client whose time ``t_s + offset`` is past the end."""
        store = group.store
        needs = t_s + group.offsets[group.inverse]
        j = int(np.flatnonzero(needs + TIME_EPS_S >= store.end_s)[0])
        client = int(group.clients[j])
        last = getattr(store, "meta", {}).get("last_line")
        where = f"line {last}" if last else f"row {store.time_s.shape[0]}"
        return trace_error(
            store.path,
            f"trace too short: it ends at {store.end_s:g} s (last sample on {where}) but "
            f"client {client} (offset {self._offsets[client]:g} s) needs {needs[j]:g} s "
            f"at slot {first_slot}; set loop: true, use a smaller offset or a longer trace",
        )

    def _rows(self, group: _Group, tau: np.ndarray) -> np.ndarray:
        """Index of the sample at or before each time (within TIME_EPS_S), clipped to the trace."""
        times = group.store.time_s
        n = times.shape[0]
        if group.step is not None:
            rows = np.floor((tau - times[0] + TIME_EPS_S) / group.step).astype(np.int64)
        else:
            rows = np.searchsorted(times, tau + TIME_EPS_S, side="right") - 1
        return np.clip(rows, 0, n - 1)

    def _values(self, group: _Group, t: np.ndarray, first_slot: int) -> np.ndarray:
        """Values (group clients, slots) at slot start times ``t`` (slots,)."""
        store = group.store
        times = store.time_s
        n = times.shape[0]
        t0, end = float(times[0]), float(store.end_s)
        tau = group.offsets[:, None] + t[None, :]  # (distinct offsets, slots)
        if self.loop:
            # Whole periods are subtracted (not np.mod) so that a time a whole
            # number of periods on lands on the same sample despite round-off.
            periods = np.floor((tau - t0 + TIME_EPS_S) / (end - t0))
            tau = tau - np.maximum(periods, 0.0) * (end - t0)
        elif (tau[:, 0] + TIME_EPS_S >= end).any():
            # Only the block's first slot is surely needed: the MAC prefetches
            # up to a chunk of slots ahead, which may run past the end and then
            # hold the last sample (a run ending there never uses them).
            raise self._past_end(group, float(t[0]), first_slot)
        rows = self._rows(group, tau)
        values = group.gather(rows[group.inverse])
        if not self.linear:
            return values
        nxt = rows + 1
        t_next = np.where(nxt < n, times[np.minimum(nxt, n - 1)], end)
        # Past the last sample: towards the first one when looping, else hold.
        nxt = np.where(nxt < n, nxt, 0) if self.loop else np.minimum(nxt, n - 1)
        w = np.clip((tau - times[rows]) / (t_next - times[rows]), 0.0, 1.0)[group.inverse]
        return values + w * (group.gather(nxt[group.inverse]) - values)

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        """Per-slot values for slots ``first_slot …`` (shape [n_slots, n_clients])."""
        t = (first_slot + np.arange(n_slots, dtype=np.float64)) * self.slot_s
        # Client-major while gathering (contiguous per client), slot-major for the MAC.
        by_client = np.empty((self.n_clients, n_slots))
        for group in self._groups:
            by_client[group.clients] = self._values(group, t, first_slot)
        out = np.ascontiguousarray(by_client.T)
        if self._scale != 1.0 or self._shift != 0.0:
            out = self._scale * out + self._shift
        if self.kind == "snr":
            return ChannelBlock(first_slot, snr_db=out)
        return ChannelBlock(first_slot, rate_bps=out)

    def mean_snr_db(self) -> np.ndarray | None:
        """Per-client mean SNR of its series [dB] (after scaling), or None for rate traces."""
        if self.kind != "snr":
            return None
        means = np.empty(self.n_clients)
        for i, (s, col) in enumerate(self._assignment):
            store = self._stores[s]
            if isinstance(store, ChannelTrace):
                means[i] = store.values[:, col].mean()
            else:
                column_mean = getattr(store, "column_mean", None)
                if column_mean is None:
                    return None
                means[i] = column_mean[col]
        return self._scale * means + self._shift

    def close(self) -> None:
        """Close streamed files."""
        for store in self._stores:
            close = getattr(store, "close", None)
            if close is not None:
                close()


def _resolve(path: str, base_dir: str | os.PathLike[str] | None) -> str:
    """``path`` relative to the scenario's directory, else to the working directory."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        in_base = Path(base_dir) / candidate
        if in_base.exists() or not candidate.exists():
            return str(in_base)
    return str(candidate)


def build_replay_source(
    cfg: TraceReplayConfig,
    n_clients: int,
    slot_s: float,
    base_dir: str | os.PathLike[str] | None = None,
    *,
    required_duration_s: float | None = None,
) -> ReplaySource | MahimahiSource:
    """Open the trace(s) of ``cfg`` and assign a series to each of ``n_clients`` clients.

    Args:
        base_dir: directory relative trace paths start from (the scenario file's).
        required_duration_s: when given and ``cfg.loop`` is false, check up
            front that every client's series covers it (else the error comes
            when replay reaches the end).

    Raises:
        TraceFormatError: unreadable traces, a series index out of range, too
            many clients for the series, or a trace too short.
        ScenarioError-like ``TraceFormatError`` for offsets of the wrong length.
    """
    paths = [cfg.trace] if cfg.trace else list(cfg.traces)
    where = paths[0] if cfg.trace else ", ".join(paths)
    if cfg.traces and len(cfg.traces) != n_clients:
        raise trace_error(where, f"{len(cfg.traces)} trace files for {n_clients} clients")
    if cfg.offsets_s and len(cfg.offsets_s) != n_clients:
        raise trace_error(where, f"offsets_s has {len(cfg.offsets_s)} entries for {n_clients} "
                          "clients")
    if cfg.client_columns and len(cfg.client_columns) != n_clients:
        raise trace_error(where, f"client_columns has {len(cfg.client_columns)} entries for "
                          f"{n_clients} clients")
    resolved = [_resolve(p, base_dir) for p in paths]
    if cfg.format == "mahimahi" or (
        cfg.format == "auto" and all(_is_mahimahi(p) for p in resolved)
    ):
        return _build_mahimahi(cfg, resolved, n_clients, slot_s, required_duration_s)
    stores: list[SampleStore] = [
        open_store(
            p, cfg.format, columns=cfg.columns,
            allow_out_of_range_snr=cfg.allow_out_of_range_snr, cache_dir=cfg.cache_dir,
            throughput_convention=cfg.throughput_convention,
        )
        for p in resolved
    ]
    assignment = []
    for i in range(n_clients):
        s = i if cfg.traces else 0
        store = stores[s]
        n_cols = len(store.columns)
        if cfg.client_columns:
            col = cfg.client_columns[i]
        elif cfg.traces or n_cols == 1:
            col = 0
        elif n_clients <= n_cols:
            col = i
        else:
            raise trace_error(
                store.path, f"{n_cols} series for {n_clients} clients; set client_columns, "
                "or use a single-series trace with per-client offsets",
            )
        if col >= n_cols:
            raise trace_error(store.path, f"client {i} asks for series {col}, the trace has "
                              f"{n_cols} (0..{n_cols - 1})")
        assignment.append((s, col))
    offsets = np.array([cfg.offset_of(i) for i in range(n_clients)])
    if required_duration_s is not None and not cfg.loop:
        for i, (s, _) in enumerate(assignment):
            store = stores[s]
            if offsets[i] + required_duration_s > store.end_s + TIME_EPS_S:
                last = getattr(store, "meta", {}).get("last_line")
                raise trace_error(
                    store.path,
                    f"trace too short: it ends at {store.end_s:g} s but client {i} needs "
                    f"{offsets[i] + required_duration_s:g} s (offset {offsets[i]:g} s + "
                    f"{required_duration_s:g} s of scenario); set loop: true or use a longer "
                    "trace",
                    line=int(last) if last else None,
                )
    return ReplaySource(
        stores, assignment, offsets, slot_s, loop=cfg.loop, interpolation=cfg.interpolation,
        snr_scale=cfg.snr_scale, snr_offset_db=cfg.snr_offset_db, rate_scale=cfg.rate_scale,
    )


def _is_mahimahi(path: str) -> bool:
    """``format: auto`` resolves ``path`` to Mahimahi (unreadable files: no, let open_store say)."""
    if not os.path.isfile(path):
        return False
    return detect_format(path) == "mahimahi"


def _build_mahimahi(
    cfg: TraceReplayConfig, paths: list[str], n_clients: int, slot_s: float,
    required_duration_s: float | None,
) -> MahimahiSource:
    """Exact link-queue replay of Mahimahi traces (:mod:`cosim.channels.linkqueue`)."""
    where = ", ".join(paths)
    if cfg.rate_scale != 1.0:
        raise trace_error(where, f"rate_scale {cfg.rate_scale:g} cannot apply to a Mahimahi "
                          "trace (replayed opportunity by opportunity); allowed: 1")
    if cfg.interpolation != "zoh":
        raise trace_error(where, "interpolation: linear cannot apply to a Mahimahi trace "
                          "(replayed opportunity by opportunity); allowed: zoh")
    if any(c != 0 for c in cfg.client_columns):
        raise trace_error(where, "a Mahimahi trace has one series; client_columns must be 0")
    cache: dict[str, MahimahiSchedule] = {}
    for p in dict.fromkeys(paths):
        require_file(p)
        stamps, last_line = read_mahimahi_timestamps(p)
        cache[p] = MahimahiSchedule(stamps, cfg.loop, p, last_line)
    schedules = [cache[paths[i] if cfg.traces else paths[0]] for i in range(n_clients)]
    offsets = np.array([cfg.offset_of(i) for i in range(n_clients)])
    if required_duration_s is not None and not cfg.loop:
        for i, sched in enumerate(schedules):
            need = offsets[i] + required_duration_s
            if need > sched.period * 1e-3 + TIME_EPS_S:
                raise trace_error(
                    sched.path,
                    f"trace too short: it ends at {sched.period * 1e-3:g} s but client {i} "
                    f"needs {need:g} s (offset {offsets[i]:g} s + {required_duration_s:g} s of "
                    "scenario); set loop: true or use a longer trace",
                    line=sched.last_line,
                )
    return MahimahiSource(schedules, offsets, slot_s)
