"""Native HDF5 traces: chunked per-client columns, read a window at a time.

Layout (format ``cosim-channel-trace``, version 1)::

    /                     attrs: format, format_version, quantity ('snr_db'|'rate_bps'),
                                 end_s [s], columns (JSON list of labels), provenance,
                                 column_mean (C,) mean of each column
    /time_s   (n,)        float64 [s], strictly increasing
    /snr_db   (n, C)      or /rate_bps (n, C); float32 or float64; chunks (rows, 1)

Chunks hold one column each, so replay reads a client's window with a single
chunk read and clients at different positions of the trace (per-client time
offsets) never pull each other's data. Only ``time_s`` (8 bytes per sample) is
loaded on open; values are read, and checked, per window by :class:`H5Store`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from cosim.channels.location import ArrayLocator, require_file, trace_error
from cosim.channels.series import UNITS, ChannelTrace, Quantity, infer_end_s
from cosim.channels.validate import (
    check_finite,
    check_non_negative_rate,
    check_snr_range,
    check_time,
)
from cosim.errors import OutputError, TraceFormatError

FORMAT = "cosim-channel-trace"
FORMAT_VERSION = 1
CHUNK_ROWS = 16384
#: Most samples per trace: the time axis (8 B a sample) is held in memory;
#: 2e8 is 55 hours at 1 ms, 1.6 GB.
MAX_SAMPLES = 200_000_000


class NativeH5Writer:
    """Append-only writer of a native HDF5 trace (for traces too big for memory).

    Usage::

        with NativeH5Writer(path, "snr_db", columns=("0", "1")) as w:
            w.append(time_block, values_block)   # (r,), (r, C)
            w.end_s = 3600.0                     # optional; else inferred

    Args:
        dtype: storage type of the values, ``float32`` halves the file size
            (SNR resolution ~1e-6 dB), ``float64`` keeps samples bit-exact.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        quantity: Quantity,
        columns: tuple[str, ...],
        *,
        dtype: str = "float64",
        provenance: str = "",
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.path = str(path)
        self.end_s: float | None = None
        n_cols = len(columns)
        try:
            self._file = h5py.File(self.path, "w")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write trace ({exc})") from None
        f = self._file
        f.attrs.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            quantity=quantity,
            columns=json.dumps(list(columns)),
            provenance=provenance,
        )
        self._time = f.create_dataset(
            "time_s", shape=(0,), maxshape=(None,), dtype="f8", chunks=(chunk_rows,)
        )
        self._time.attrs["units"] = "s"
        self._values = f.create_dataset(
            quantity, shape=(0, n_cols), maxshape=(None, n_cols), dtype=dtype,
            chunks=(chunk_rows, 1),
        )
        self._values.attrs["units"] = UNITS[quantity]
        self._sum = np.zeros(n_cols)
        self._last_gap = np.nan
        self._last_t: float | None = None

    def append(self, time_s: np.ndarray, values: np.ndarray) -> None:
        """Append rows: ``time_s`` (r,) [s] and ``values`` (r, C)."""
        r = time_s.shape[0]
        if r == 0:
            return
        n = self._time.shape[0]
        self._time.resize((n + r,))
        self._time[n:] = time_s
        self._values.resize((n + r, self._values.shape[1]))
        self._values[n:] = values
        self._sum += values.sum(axis=0, dtype=np.float64)
        times = np.concatenate(([self._last_t], time_s)) if self._last_t is not None else time_s
        if times.shape[0] >= 2:
            self._last_gap = float(times[-1] - times[-2])
        self._last_t = float(time_s[-1])

    def close(self) -> None:
        """Write ``end_s`` and the column means, and close the file."""
        n = self._time.shape[0]
        if self._last_t is None:
            raise ValueError("a trace needs at least one sample")
        end = self.end_s if self.end_s is not None else self._last_t + self._last_gap
        if not np.isfinite(end) or end <= self._last_t:
            raise ValueError(f"end_s {end} must be after the last sample {self._last_t}")
        self._file.attrs["end_s"] = float(end)
        self._file.attrs["column_mean"] = self._sum / max(n, 1)
        self._file.close()

    def __enter__(self) -> NativeH5Writer:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()


def write_native_h5(
    trace: ChannelTrace, path: str | os.PathLike[str], *, dtype: str = "float64"
) -> None:
    """Write a loaded trace as native HDF5 (bit-exact with the default float64)."""
    with NativeH5Writer(
        path, trace.quantity, trace.columns, dtype=dtype, provenance=trace.provenance,
        chunk_rows=min(CHUNK_ROWS, max(trace.n_samples, 1)),
    ) as w:
        w.append(trace.time_s, trace.values)
        w.end_s = trace.end_s


class H5Store:
    """A native HDF5 trace opened for windowed reads (implements ``SampleStore``).

    On open only ``time_s`` is loaded and checked (finite, strictly
    increasing); values are checked as windows are read, so an error deep in
    a long file surfaces when replay reaches it, naming its row.
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_out_of_range_snr: bool = False):
        self.path = str(path)
        self.allow_out_of_range_snr = allow_out_of_range_snr
        require_file(self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError:
            raise trace_error(self.path, "not an HDF5 file") from None
        try:
            self._open()
        except TraceFormatError:
            self._file.close()
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            self._file.close()
            raise trace_error(self.path, f"malformed native HDF5 trace ({exc})") from None

    def _open(self) -> None:
        f = self._file
        fmt = _text(f.attrs.get("format", ""))
        if fmt != FORMAT:
            raise trace_error(self.path, f"attribute format is {fmt!r}, expected {FORMAT!r}")
        quantity = _text(f.attrs.get("quantity", ""))
        if quantity not in UNITS:
            raise trace_error(self.path, f"attribute quantity must be snr_db or rate_bps, "
                              f"got {quantity!r}")
        self.quantity: Quantity = quantity  # type: ignore[assignment]
        for name in ("time_s", quantity):
            if not isinstance(f.get(name), h5py.Dataset):
                raise trace_error(self.path, f"missing dataset /{name}")
        self._values = f[quantity]
        time_ds = f["time_s"]
        if time_ds.ndim != 1 or self._values.ndim != 2:
            raise trace_error(self.path, f"/time_s must be 1-D and /{quantity} 2-D, got "
                              f"{time_ds.shape} and {self._values.shape}")
        if self._values.dtype.kind != "f" or time_ds.dtype.kind != "f":
            raise trace_error(self.path, "datasets must hold floating-point numbers")
        if time_ds.shape[0] != self._values.shape[0] or time_ds.shape[0] == 0:
            raise trace_error(self.path, f"/time_s {time_ds.shape} and /{quantity} "
                              f"{self._values.shape} must have the same, non-zero, row count")
        if self._values.shape[1] == 0:
            raise trace_error(self.path, f"/{quantity} has no columns")
        if time_ds.shape[0] > MAX_SAMPLES:
            raise trace_error(
                self.path, f"{time_ds.shape[0]} samples; replay keeps the time axis in memory "
                f"and takes at most {MAX_SAMPLES} (split the trace)",
            )
        self.time_s = np.asarray(time_ds[()], dtype=np.float64)
        tloc = ArrayLocator(self.path, "/time_s", ())
        check_finite(self.time_s, tloc)
        check_time(self.time_s, tloc, col=None)
        n_cols = self._values.shape[1]
        labels = json.loads(_text(f.attrs.get("columns", "[]")))
        if not isinstance(labels, list) or len(labels) != n_cols:
            labels = [str(c) for c in range(n_cols)]
        self.columns = tuple(str(label) for label in labels)
        end = f.attrs.get("end_s")
        if end is None:
            self.end_s = infer_end_s(self.time_s, self.path)
        else:
            self.end_s = float(end)
            if not (np.isfinite(self.end_s) and self.end_s > self.time_s[-1]):
                raise trace_error(self.path, f"attribute end_s {self.end_s} must be after the "
                                  f"last sample {self.time_s[-1]}")
        self.provenance = _text(f.attrs.get("provenance", ""))
        mean = f.attrs.get("column_mean")
        self.column_mean = (
            np.asarray(mean, dtype=np.float64) if mean is not None and np.size(mean) == n_cols
            else None
        )
        self._loc = ArrayLocator(self.path, "/" + quantity, self.columns)

    @property
    def n_samples(self) -> int:
        """Number of samples n."""
        return int(self.time_s.shape[0])

    @property
    def n_columns(self) -> int:
        """Number of series C."""
        return len(self.columns)

    def _check(self, values: np.ndarray, row0: int, col: int | None) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        block = values if col is None else values[:, None]
        loc = self._loc if col is None else _ColumnLocator(self._loc, col)
        check_finite(block, loc, row0)
        if self.quantity == "rate_bps":
            check_non_negative_rate(block, loc, row0)
        else:
            check_snr_range(block, loc, allow=self.allow_out_of_range_snr, row0=row0)
        return values

    def read(self, col: int, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of column ``col`` (float64, checked)."""
        return self._check(self._values[start:stop, col], start, col)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of every column (float64, checked)."""
        return self._check(self._values[start:stop, :], start, None)

    def load(self) -> ChannelTrace:
        """The whole trace in memory (for small files, conversion and tests)."""
        return ChannelTrace(
            self.time_s, self.read_rows(0, self.n_samples), self.quantity, self.end_s,
            self.columns, self.path, self.provenance,
        )

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> H5Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _ColumnLocator:
    """Adapts a whole-dataset locator to a one-column slice."""

    def __init__(self, loc: ArrayLocator, col: int) -> None:
        self._loc, self._col = loc, col

    def error(self, row: int, col: int | None, message: str) -> TraceFormatError:
        return self._loc.error(row, self._col, message)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_native_h5(
    path: str | os.PathLike[str], *, allow_out_of_range_snr: bool = False
) -> ChannelTrace:
    """Load a native HDF5 trace fully."""
    with H5Store(path, allow_out_of_range_snr=allow_out_of_range_snr) as store:
        return store.load()
