"""Turns simulation happenings into trace rows (one place that knows the schema).

Rows are buffered per table and appended to the :class:`TraceWriter` at
:meth:`Recorder.flush`, which the server calls at the end of a round, so a
killed run keeps every completed round.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from cosim.trace.schema import TABLES
from cosim.trace.writer import TraceWriter
from cosim.wireless.packets import TransferResult
from cosim.wireless.runner import packet_rows, transfer_rows

NAN = math.nan


class Recorder:
    """Buffers rows for the trace and keeps the event log in memory for checks."""

    def __init__(self, writer: TraceWriter | None) -> None:
        self.writer = writer
        self._buffers: dict[str, dict[str, list[Any]]] = {
            t: defaultdict(list) for t in TABLES
        }
        self.event_log: list[tuple[float, int, str, int]] = []
        # Called as on_event(kind, client, round) after each event (progress display).
        self.on_event: Callable[[str, int, int], None] | None = None

    def row(self, table: str, **values: Any) -> None:
        """Buffer one row of ``table`` (every column must be given)."""
        buffer = self._buffers[table]
        for column in TABLES[table]:
            buffer[column.name].append(values[column.name])

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
        """Record one event (``client`` −1 for the server)."""
        self.event_log.append((time_s, client, kind, round_index))
        self.row(
            "events", time_s=time_s, client=client, kind=kind, round=round_index, bytes=n_bytes,
            k=k, tokens=tokens, snr_db=snr_db, detail=detail,
        )
        if self.on_event is not None:
            self.on_event(kind, client, round_index)

    def transfer(self, result: TransferResult) -> None:
        """One transfer and its packets (rows as the wireless-only runner writes them)."""
        for table, rows in (("transfers", transfer_rows(result)),
                            ("packets", packet_rows(result))):
            buffer = self._buffers[table]
            for name, values in rows.items():
                buffer[name].extend(list(values))

    def channel(self, rows: dict[str, np.ndarray]) -> None:
        """Channel samples (``time_s``, ``client``, ``snr_db``, ``rate_bps`` arrays)."""
        buffer = self._buffers["channel"]
        for name in ("time_s", "client", "snr_db", "rate_bps"):
            buffer[name].extend(rows[name].tolist())

    def flush(self) -> None:
        """Append buffered rows to the trace and make them durable."""
        if self.writer is None:
            self._buffers = {t: defaultdict(list) for t in TABLES}
            return
        for table, buffer in self._buffers.items():
            if buffer and len(next(iter(buffer.values()))):
                self.writer.append(table, dict(buffer))
        self._buffers = {t: defaultdict(list) for t in TABLES}
        self.writer.flush()
