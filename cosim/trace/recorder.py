"""The recorder: the one place that turns run happenings into trace rows.

Every driver records through :class:`Recorder` — the co-simulation
(:mod:`cosim.sim.runner`), the wireless-only run (:mod:`cosim.sim.wireless_only`)
and the engine-only run (:mod:`cosim.sim.engine_only`) — so adding a column
touches this module and :mod:`cosim.trace.schema` only. Each method writes one
table's rows with every column of the schema; values keep the units of the
schema (seconds, bytes, dB, bit/s).

Rows are buffered per table and handed to the sink at :meth:`Recorder.flush`
(the drivers flush at the end of a round), one append per table: an HDF5
append costs milliseconds whatever its size, and a killed run keeps every
flushed round. The sink is a :class:`cosim.trace.writer.TraceWriter`, a
:class:`MemorySink` (tests, notebooks), or ``None`` (rows are dropped, e.g.
while a resume replays rounds already in the trace).

This module imports neither the wireless model nor the engine: a transfer and
a metric row are read through the small protocols below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from cosim.trace.schema import TABLES

NAN = math.nan


class RowSink(Protocol):
    """Where rows go: ``append(table, {column: values})`` and ``flush()``."""

    def append(self, table: str, rows: Mapping[str, Any]) -> None: ...

    def flush(self) -> None: ...


class PacketsLike(Protocol):
    """Per-packet arrays of a transfer (:class:`cosim.wireless.packets.PacketRecords`)."""

    seq: np.ndarray
    size_bytes: np.ndarray
    enqueue_s: np.ndarray
    first_tx_s: np.ndarray
    delivery_s: np.ndarray
    attempts: np.ndarray
    lost: np.ndarray

    def __len__(self) -> int: ...


class TransferLike(Protocol):
    """One finished transfer (:class:`cosim.wireless.packets.TransferResult`)."""

    transfer: int
    direction: str
    clients: tuple[int, ...]
    round: int
    size_bytes: int
    delivered_bytes: int
    start_s: float
    end_s: float
    deadline_s: float | None
    complete: bool
    packets: PacketsLike


class MetricLike(Protocol):
    """One evaluation row (:class:`cosim.sim.backend.MetricLike`)."""

    split: str
    loss: float
    perplexity: float
    accuracy: float


class MemorySink:
    """A sink that keeps rows in memory: ``tables[name][column] → array``."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, list[np.ndarray]]] = {}

    def append(self, table: str, rows: Mapping[str, Any]) -> None:
        cols = self._parts.setdefault(table, {})
        for name, values in rows.items():
            cols.setdefault(name, []).append(np.asarray(values))

    def flush(self) -> None:
        """Nothing to make durable."""

    @property
    def tables(self) -> dict[str, dict[str, np.ndarray]]:
        """Concatenated columns per table."""
        return {
            t: {c: np.concatenate(v) for c, v in cols.items()} for t, cols in self._parts.items()
        }


class _TableBuffer:
    """One table's buffered rows, column-wise, in order.

    Each column is a list of chunks: a Python list of single-row values
    (:meth:`row`) or an array of many rows (:meth:`rows`, kept whole rather
    than split into Python scalars). :meth:`columns` joins the chunks as NumPy
    converts one flat list of the same values (each chunk through
    ``np.asarray``, then concatenated).
    """

    __slots__ = ("chunks", "n", "names", "open_list")

    def __init__(self, table: str) -> None:
        self.names = tuple(c.name for c in TABLES[table])
        self.chunks: dict[str, list[Any]] = {name: [] for name in self.names}
        self.n = 0  # rows buffered
        self.open_list = False  # every column's last chunk is a list taking single rows

    def row(self, values: Mapping[str, Any]) -> None:
        if not self.open_list:
            for name in self.names:
                self.chunks[name].append([])
            self.open_list = True
        for name in self.names:
            self.chunks[name][-1].append(values[name])
        self.n += 1

    def rows(self, columns: Mapping[str, Any]) -> None:
        arrays = [np.asarray(columns[name]) for name in self.names]
        self.open_list = False
        for name, array in zip(self.names, arrays, strict=True):
            self.chunks[name].append(array)
        self.n += len(arrays[0])

    def columns(self) -> dict[str, Any]:
        """``{column: values}``: a list or an array per column."""
        return {
            name: chunks[0] if len(chunks) == 1
            else np.concatenate([np.asarray(c) for c in chunks])
            for name, chunks in self.chunks.items()
        }


def _empty() -> dict[str, _TableBuffer]:
    return {t: _TableBuffer(t) for t in TABLES}


class Recorder:
    """Buffers rows for the trace and keeps the event log in memory for checks.

    ``sink``: where :meth:`flush` appends the rows (``None``: they are dropped).
    """

    def __init__(self, sink: RowSink | None) -> None:
        self.sink = sink
        self._buffers = _empty()
        # (time_s, client, kind, round) of every event, for tests and checks.
        self.event_log: list[tuple[float, int, str, int]] = []
        # Called as on_event(kind, client, round) after each event (progress display).
        self.on_event: Callable[[str, int, int], None] | None = None

    def _row(self, table: str, values: Mapping[str, Any]) -> None:
        self._buffers[table].row(values)

    def _rows(self, table: str, columns: Mapping[str, Any]) -> None:
        """Many rows, one array (or list) per column."""
        self._buffers[table].rows(columns)

    # ------------------------------------------------------------------ tables
    def client(
        self, client: int, *, name: str, model: str, domain: str, distance_m: float,
        speed_mps: float, device: str, n_params: int, n_trainable: int,
    ) -> None:
        """One ``clients`` row (parameter counts −1 when no model is built)."""
        self._row("clients", {
            "client": client, "name": name, "model": model, "domain": domain,
            "distance_m": distance_m, "speed_mps": speed_mps, "device": device,
            "n_params": n_params, "n_trainable": n_trainable,
        })  # fmt: skip

    def event(
        self,
        time_s: float,
        client: int,
        kind: str = "",
        round_index: int = -1,
        *,
        n_bytes: int = 0,
        k: float = NAN,
        tokens: int = 0,
        snr_db: float = NAN,
        detail: str = "",
    ) -> None:
        """One ``events`` row (``client`` −1 for the server)."""
        self.event_log.append((time_s, client, kind, round_index))
        self._row("events", {
            "time_s": time_s, "client": client, "kind": kind, "round": round_index,
            "bytes": n_bytes, "k": k, "tokens": tokens, "snr_db": snr_db, "detail": detail,
        })  # fmt: skip
        if self.on_event is not None:
            self.on_event(kind, client, round_index)

    def transfer(self, result: TransferLike) -> None:
        """One ``transfers`` row and the transfer's ``packets`` rows (client −1: broadcast)."""
        client = result.clients[0] if len(result.clients) == 1 else -1
        direction = "ul" if result.direction == "uplink" else "dl"
        self._row("transfers", {
            "transfer": result.transfer, "client": client, "round": result.round,
            "direction": direction, "size_bytes": result.size_bytes,
            "delivered_bytes": result.delivered_bytes, "start_s": result.start_s,
            "end_s": result.end_s,
            "deadline_s": NAN if result.deadline_s is None else result.deadline_s,
            "complete": result.complete,
        })  # fmt: skip
        p = result.packets
        n = len(p)
        self._rows("packets", {
            "transfer": np.full(n, result.transfer), "client": np.full(n, client),
            "round": np.full(n, result.round), "direction": np.full(n, direction), "seq": p.seq,
            "size_bytes": p.size_bytes, "enqueue_s": p.enqueue_s, "first_tx_s": p.first_tx_s,
            "delivery_s": p.delivery_s, "attempts": p.attempts, "lost": p.lost,
        })  # fmt: skip

    def channel(self, rows: Mapping[str, np.ndarray]) -> None:
        """Channel samples (``time_s``, ``client``, ``snr_db``, ``rate_bps`` arrays)."""
        self._rows("channel", {name: rows[name]
                               for name in ("time_s", "client", "snr_db", "rate_bps")})

    def metrics(self, time_s: float, round_index: int, client: int,
                rows: Sequence[MetricLike]) -> None:
        """``client``'s evaluation rows of round ``round_index``."""
        for m in rows:
            self._row("metrics", {
                "time_s": time_s, "round": round_index, "client": client, "split": m.split,
                "loss": m.loss, "perplexity": m.perplexity, "accuracy": m.accuracy,
            })  # fmt: skip

    def round(
        self, round_index: int, *, start_s: float, deadline_s: float | None, end_s: float,
        n_selected: int, n_delivered: int, n_partial: int, n_missed: int,
        uplink_bytes: int, downlink_bytes: int,
    ) -> None:
        """One ``rounds`` row (``deadline_s`` None: no deadline, stored as NaN)."""
        self._row("rounds", {
            "round": round_index, "start_s": start_s,
            "deadline_s": NAN if deadline_s is None else deadline_s, "end_s": end_s,
            "n_selected": n_selected, "n_delivered": n_delivered, "n_partial": n_partial,
            "n_missed": n_missed, "uplink_bytes": uplink_bytes,
            "downlink_bytes": downlink_bytes,
        })  # fmt: skip

    # ------------------------------------------------------------------ output
    def flush(self) -> None:
        """Append the buffered rows to the sink (one append per table) and make them durable."""
        buffers, self._buffers = self._buffers, _empty()
        if self.sink is None:
            return
        for table, buffer in buffers.items():
            if buffer.n:
                self.sink.append(table, buffer.columns())
        self.sink.flush()
