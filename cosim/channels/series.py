"""The in-memory channel trace and the sample-store interface replay reads through.

A channel trace is a set of per-client time series sharing one time axis:

* ``time_s`` (n,) [s], strictly increasing; sample ``k`` holds over
  ``[time_s[k], time_s[k+1])`` and the last one over ``[time_s[-1], end_s)``;
* ``values`` (n, C), either SNR [dB] (``quantity="snr_db"``) or achievable
  rate [bit/s] (``quantity="rate_bps"``), one column per client series.

Replay never needs a whole trace in memory: it reads column windows through
:class:`SampleStore`, which both :class:`ChannelTrace` (small traces, fully
loaded) and :class:`cosim.channels.native_h5.H5Store` (chunked HDF5 files of
any size) implement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from cosim.channels.location import trace_error

Quantity = Literal["snr_db", "rate_bps"]
QUANTITIES: tuple[Quantity, ...] = ("snr_db", "rate_bps")
UNITS: dict[str, str] = {"snr_db": "dB", "rate_bps": "bit/s"}


@runtime_checkable
class SampleStore(Protocol):
    """Random access to a trace's columns, one window at a time."""

    path: str
    quantity: Quantity
    time_s: np.ndarray
    end_s: float
    columns: tuple[str, ...]

    def read(self, col: int, start: int, stop: int) -> np.ndarray:
        """Validated float64 samples ``[start, stop)`` of column ``col``, shape (stop-start,)."""
        ...

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Validated float64 samples ``[start, stop)`` of every column, shape (rows, C)."""
        ...


def infer_end_s(time_s: np.ndarray, path: str, last_line: int | None = None) -> float:
    """End of the last sample's hold: ``t[-1] + (t[-1] - t[-2])`` [s].

    The last sample is held for as long as the one before it, so that a
    uniformly sampled trace of n samples at spacing dt lasts n·dt.

    Raises:
        TraceFormatError: fewer than two samples (the duration is undefined).
    """
    if time_s.shape[0] < 2:
        raise trace_error(
            path, "a trace needs at least two samples to define its duration", line=last_line
        )
    return float(time_s[-1] + (time_s[-1] - time_s[-2]))


@dataclass(frozen=True, eq=False)
class ChannelTrace:
    """A fully loaded trace (see the module docstring for the layout).

    Attributes:
        time_s: (n,) sample times [s], strictly increasing.
        values: (n, C) SNR [dB] or rate [bit/s].
        quantity: ``"snr_db"`` or ``"rate_bps"``.
        end_s: end of the last sample's hold [s], > ``time_s[-1]``.
        columns: C labels, one per series (client names or indices).
        path: where the trace came from ('' when built in memory).
        provenance: free text saying how the trace was produced.
    """

    time_s: np.ndarray
    values: np.ndarray
    quantity: Quantity
    end_s: float
    columns: tuple[str, ...] = ()
    path: str = ""
    provenance: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        time_s = np.asarray(self.time_s, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if time_s.ndim != 1 or values.ndim != 2 or values.shape[0] != time_s.shape[0]:
            raise ValueError(f"time_s {time_s.shape} and values {values.shape} do not match")
        if time_s.shape[0] == 0 or values.shape[1] == 0:
            raise ValueError("a channel trace needs at least one sample and one column")
        if self.quantity not in QUANTITIES:
            raise ValueError(f"quantity must be one of {QUANTITIES}, got {self.quantity!r}")
        if not self.end_s > time_s[-1]:
            raise ValueError(f"end_s {self.end_s} must be after the last sample {time_s[-1]}")
        columns = self.columns or tuple(str(c) for c in range(values.shape[1]))
        if len(columns) != values.shape[1]:
            raise ValueError(f"{len(columns)} column labels for {values.shape[1]} columns")
        object.__setattr__(self, "time_s", time_s)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "columns", tuple(columns))

    @property
    def n_samples(self) -> int:
        """Number of samples n."""
        return int(self.time_s.shape[0])

    @property
    def n_columns(self) -> int:
        """Number of series C."""
        return int(self.values.shape[1])

    @property
    def duration_s(self) -> float:
        """``end_s - time_s[0]`` [s]."""
        return float(self.end_s - self.time_s[0])

    @property
    def unit(self) -> str:
        """Unit of :attr:`values`."""
        return UNITS[self.quantity]

    def read(self, col: int, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of column ``col``."""
        return self.values[start:stop, col]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of every column."""
        return self.values[start:stop]

    def select(self, cols: list[int]) -> ChannelTrace:
        """A trace with only columns ``cols`` (in that order)."""
        return ChannelTrace(
            self.time_s,
            self.values[:, cols],
            self.quantity,
            self.end_s,
            tuple(self.columns[c] for c in cols),
            self.path,
            self.provenance,
            dict(self.meta),
        )
