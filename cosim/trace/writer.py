"""Append-only, crash-safe HDF5 trace writer.

Crash safety: the file is opened with the latest HDF5 format and switched to
SWMR (single-writer/multiple-reader) mode once every table exists; SWMR orders
metadata writes so the file stays readable after a SIGKILL at any moment. Each
table's columns are appended separately, so a kill between two column writes
could leave ragged columns; the writer therefore stores the committed row
count of every table in ``/_committed`` at each :meth:`TraceWriter.flush`, and
readers cut every table to it. Rows appended after the last flush are lost,
rows before it never are.

Dimension scales (schema 1.3): each table group holds a ``row`` index dataset
(0, 1, ... n-1) that grows with the table and is attached to every column as
an HDF5 dimension scale; ``/_committed`` is indexed by a ``/table`` scale of
table names. Attaching a scale writes attributes (``DIMENSION_LIST`` on the
column, ``REFERENCE_LIST`` on the scale), and SWMR mode forbids creating
attributes or objects, so every scale is made and attached before
``swmr_mode`` is switched on; afterwards only dataset extents and data change.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5s

from cosim import __version__
from cosim.errors import CosimError, OutputError
from cosim.trace.lock import OutputLock
from cosim.trace.provenance import environment_versions
from cosim.trace.schema import (
    ROW_DIMENSION,
    SCHEMA_VERSION,
    TABLE_DIMENSION,
    TABLES,
    Column,
)

CHUNK_ROWS = 4096
# Deflate level of every column (with byte shuffle for numbers). Each flush
# compresses every table's last, partial chunk again, so compression is most of
# a flush: level 1 writes the 100-UE benchmark's rows in 0.36 CPU-s against
# 0.44 at level 4, for a 2.8% larger file (3.73 against 3.63 MB).
GZIP_LEVEL = 1
# Free space kept in reserve on the trace's file system [bytes]. HDF5 writes
# metadata lazily, often while freeing objects, where a failed write cannot be
# reported: on a full disk it prints errors and may crash. So appends stop with
# an OutputError before the disk fills, leaving room to close the file cleanly.
RESERVE_BYTES = 4 << 20
_STR = h5py.string_dtype(encoding="utf-8")


def utc_now_iso() -> str:
    """Current UTC wall-clock time, ISO-8601 with seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _h5_dtype(column: Column) -> Any:
    return _STR if column.dtype == "str" else np.dtype(column.dtype)


def _create_column(group: h5py.Group, column: Column) -> h5py.Dataset:
    """An empty, resizable, chunked, compressed 1-D dataset with units and description."""
    ds = group.create_dataset(
        column.name,
        shape=(0,),
        maxshape=(None,),
        chunks=(CHUNK_ROWS,),
        dtype=_h5_dtype(column),
        compression="gzip",
        compression_opts=GZIP_LEVEL,
        shuffle=column.dtype != "str",
    )
    ds.attrs["units"] = column.unit
    ds.attrs["description"] = column.description
    return ds


def _write_rows(ds: h5py.Dataset, start: int, array: np.ndarray) -> None:
    """Grow ``ds`` to ``start + len(array)`` rows and write ``array`` there: what
    ``ds.resize(...); ds[start:] = array`` does, through h5py's low-level calls
    (the high-level slice assignment costs more than a small append itself)."""
    n = array.shape[0]
    dsid = ds.id
    dsid.set_extent((start + n,))
    space = dsid.get_space()
    space.select_hyperslab((start,), (n,))
    dsid.write(h5s.create_simple((n,)), space, array)


def _is_scalar(values: Any) -> bool:
    if isinstance(values, np.ndarray):
        return values.ndim == 0
    if isinstance(values, list):  # np.ndim would build a whole array to find the rank
        return False
    return isinstance(values, (str, bytes)) or np.ndim(values) == 0


def _as_column(column: Column, values: Any, n: int, table: str) -> np.ndarray:
    if _is_scalar(values):
        values = [values] * n
    if column.dtype != "str":
        array = np.ascontiguousarray(values, dtype=np.dtype(column.dtype))
    elif isinstance(values, np.ndarray) and values.dtype.kind == "U":
        array = values.astype(_STR)  # each element a str, as str(v) gives
    else:
        array = np.asarray([str(v) for v in values], dtype=_STR)
    if array.shape != (n,):
        raise ValueError(f"trace table '{table}' column '{column.name}': {array.shape} != ({n},)")
    return array


class TraceWriter:
    """Write one run's HDF5 trace (schema in :mod:`cosim.trace.schema`).

    Usage::

        with TraceWriter(path, scenario_yaml=text, resolved_config=cfg, seed=7) as trace:
            trace.append("events", {"time_s": [0.0], "client": [0], ...})
            trace.flush()          # at least once per round

    Args:
        path: output file. Its directory must exist and be writable.
        overwrite: replace an existing HDF5 file; otherwise an existing file is an error.
        lock: hold :class:`~cosim.trace.lock.OutputLock` on ``path`` until closed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        scenario_yaml: str,
        resolved_config: Mapping[str, Any],
        seed: int,
        command: str,
        scenario_path: str = "",
        overrides: Sequence[str] = (),
        overwrite: bool = True,
        lock: bool = True,
    ) -> None:
        self.path = Path(path)
        self._lock = OutputLock(self.path) if lock else None
        check_writable(self.path, overwrite=overwrite)
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._file = h5py.File(self.path, "w", libver="latest")
        except OSError as exc:
            self._release()
            raise OutputError(f"{self.path}: cannot create trace file: "
                              f"{_first_line(exc)}") from None
        self._rows = dict.fromkeys(TABLES, 0)
        self._dirty: set[str] = set()
        self._closed = False
        # Set by a failed write: rows appended since the last flush may be partial
        # (some tables of a round, not others), so they are never committed.
        self._failed = False
        try:
            f = self._file
            for table, columns in TABLES.items():
                group = f.create_group(table)
                index = _create_column(group, Column(
                    ROW_DIMENSION, "i8", "1", f"row index of table '{table}', from 0"))
                index.make_scale(ROW_DIMENSION)
                for column in columns:
                    _create_column(group, column).dims[0].attach_scale(index)
            names = f.create_dataset(TABLE_DIMENSION, data=np.array(list(TABLES), dtype=object),
                                     dtype=_STR)
            names.attrs["units"] = "1"
            names.attrs["description"] = "table names, the index of /_committed"
            names.make_scale(TABLE_DIMENSION)
            committed = f.create_dataset("_committed", data=np.zeros(len(TABLES), dtype="i8"))
            committed.attrs["units"] = "rows"
            committed.attrs["tables"] = json.dumps(list(TABLES))
            committed.attrs["description"] = "rows of each table durable at the last flush"
            committed.dims[0].attach_scale(names)
            f.attrs.update(
                {
                    "schema_version": SCHEMA_VERSION,
                    "cosim_version": __version__,
                    "versions_json": json.dumps(environment_versions(), sort_keys=True),
                    "scenario_yaml": scenario_yaml,
                    "scenario_path": scenario_path,
                    "overrides_json": json.dumps(list(overrides)),
                    "resolved_config_json": json.dumps(resolved_config, sort_keys=True),
                    "seed": int(seed),
                    "command": command,
                    "status": "running",
                    "start_wall_time": utc_now_iso(),
                    "end_wall_time": "",
                }
            )
            f.flush()
            f.swmr_mode = True
            self._open_datasets()
        except BaseException:
            self._file.close()
            self.path.unlink(missing_ok=True)
            self._release()
            raise

    def _open_datasets(self) -> None:
        """Keep each table's datasets (schema columns, then the row scale): a lookup
        by name costs more than a small append."""
        self._datasets = {
            table: [self._file[table][name]
                    for name in (*(c.name for c in columns), ROW_DIMENSION)]
            for table, columns in TABLES.items()
        }

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @classmethod
    def reopen(cls, path: str | os.PathLike[str], rows: Mapping[str, int]) -> TraceWriter:
        """Continue a trace (resume): keep the first ``rows[table]`` rows of each table.

        A killed writer leaves HDF5's "open for writing" flag set, so the file
        cannot be opened for appending; instead its attributes and kept rows
        are copied into a fresh file that then replaces it atomically. Rows past
        ``rows`` (written after the checkpoint being resumed) are dropped, so the
        continued trace equals an uninterrupted run's.
        """

        path = Path(path)
        lock = OutputLock(path).acquire()
        try:
            return cls._reopen(path, rows, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _reopen(cls, path: Path, rows: Mapping[str, int], lock: OutputLock) -> TraceWriter:
        from cosim.trace.reader import read_trace

        old = read_trace(path)
        tmp = path.with_name(path.name + ".resume-tmp")
        tmp.unlink(missing_ok=True)  # left by a resume that was itself killed
        attrs = old.attrs
        writer = cls(
            tmp,
            lock=False,
            scenario_yaml=str(attrs["scenario_yaml"]),
            resolved_config=json.loads(str(attrs["resolved_config_json"])),
            seed=int(attrs["seed"]),
            command=str(attrs["command"]),
            scenario_path=str(attrs["scenario_path"]),
            overrides=json.loads(str(attrs["overrides_json"])),
        )
        try:
            for table in TABLES:
                keep = int(rows.get(table, 0))
                frame = old.tables[table]
                if keep > len(frame):
                    raise OutputError(
                        f"{path}: table '{table}' has {len(frame)} rows, "
                        f"the checkpoint needs {keep}"
                    )
                if keep:
                    writer.append(table, {c: frame[c].to_numpy()[:keep] for c in frame.columns})
            writer.flush()
            # Attributes are fixed in SWMR mode: set the original start time via a reopen.
            writer._file.close()
            with h5py.File(tmp, "r+") as f:
                f.attrs["start_wall_time"] = str(attrs["start_wall_time"])
            os.replace(tmp, path)
        except BaseException:
            writer._closed = True
            writer._file.close()
            tmp.unlink(missing_ok=True)
            raise
        writer.path = path
        writer._lock = lock
        writer._file = h5py.File(path, "r+", libver="latest")
        writer._file.swmr_mode = True
        writer._open_datasets()
        return writer

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            status = "completed"
        elif exc_type is KeyboardInterrupt:
            status = "interrupted"
        else:
            status = "failed"
        self.close(status=status)

    def rows(self, table: str) -> int:
        """Rows appended so far to ``table``."""
        return self._rows[table]

    def append(self, table: str, rows: Mapping[str, Any]) -> None:
        """Append rows given column-wise; every schema column must be present.

        Raises:
            ValueError: unknown table/column, missing column or ragged lengths
                (a programming error, not user input).
        """
        if table not in TABLES:
            raise ValueError(f"unknown trace table {table!r}; tables: {', '.join(TABLES)}")
        columns = TABLES[table]
        names = {c.name for c in columns}
        extra = set(rows) - names
        missing = names - set(rows)
        if extra or missing:
            raise ValueError(
                f"trace table '{table}': unknown columns {sorted(extra)}, missing {sorted(missing)}"
            )
        n = max((len(v) for v in rows.values() if not _is_scalar(v)), default=1)
        if n == 0:
            return
        start = self._rows[table]
        arrays = [_as_column(c, rows[c.name], n, table) for c in columns]
        arrays.append(np.arange(start, start + n, dtype="i8"))  # the row-index scale
        self._check_space(sum(
            sum(map(len, a)) + 16 * n if a.dtype == object else a.nbytes for a in arrays
        ))
        try:
            for ds, array in zip(self._datasets[table], arrays, strict=True):
                _write_rows(ds, start, array)
        except OSError as exc:
            self._failed = True
            raise _io_error(self.path, exc) from None
        self._rows[table] = start + n
        self._dirty.add(table)

    def _check_space(self, n_bytes: int) -> None:
        """Raise OutputError (and stop writing) unless ``n_bytes`` fit above the reserve."""
        if shutil.disk_usage(self.path.parent).free < 2 * n_bytes + RESERVE_BYTES:
            self._failed = True
            raise _io_error(self.path, OSError(errno.ENOSPC, "No space left on device"))

    def flush(self) -> None:
        """Make every appended row durable (call at least once per round)."""
        if self._failed:
            raise OutputError(f"{self.path}: an earlier write failed; the trace is kept as "
                              "it was at the last flush")
        try:
            for table, datasets in self._datasets.items():
                if table in self._dirty:  # appended to since the last flush
                    for ds in datasets:
                        ds.flush()
            self._dirty.clear()
            self._file.flush()
            committed = self._file["_committed"]
            committed[:] = np.array([self._rows[t] for t in TABLES], dtype="i8")
            committed.flush()
            self._file.flush()
        except OSError as exc:
            self._failed = True
            raise _io_error(self.path, exc) from None

    def close(self, status: str = "completed") -> None:
        """Flush, then record ``status`` and the end wall time. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close(status)
        finally:
            self._release()

    def _close(self, status: str) -> None:
        if self._failed:
            # No flush (it would commit partial rows) and no reopen to record the
            # status: a plain-mode reopen on a full disk leaves the file flagged
            # "open for write" and unreadable. The committed rows stay readable.
            self._file.close()
            return
        try:
            self.flush()
        finally:
            self._file.close()
        # A plain-mode reopen that fails half-way (disk full) leaves the file flagged
        # "open for write" and unreadable: without room, keep status 'running' instead.
        if shutil.disk_usage(self.path.parent).free < RESERVE_BYTES // 2:
            return
        # Attributes cannot change in SWMR mode; reopen briefly in plain mode.
        try:
            with h5py.File(self.path, "r+") as f:
                f.attrs["status"] = status
                f.attrs["end_wall_time"] = utc_now_iso()
        except OSError as exc:
            raise _io_error(self.path, exc) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _io_error(path: Path, exc: OSError) -> CosimError:
    text = _first_line(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space" in text:
        return OutputError(
            f"{path}: disk full while writing the trace; data up to the last flush is intact"
        )
    return OutputError(f"{path}: cannot write trace: {text}")


def check_writable(path: Path, *, overwrite: bool = True, replace_foreign: bool = False) -> None:
    """Fail early, before any work, if ``path`` cannot be created.

    An existing HDF5 file (an earlier trace) is replaced when ``overwrite``;
    any other existing file only when ``replace_foreign`` too (``--overwrite``:
    a typo in ``--out`` must not silently destroy a document); a device, FIFO
    or socket never.

    Raises:
        OutputError: the directory is missing or not writable, the path is a
            directory or not a regular file, or it exists and may not be replaced.
    """
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path}: output path is a directory")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: output path exists and is not a regular file")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists (pass --overwrite to replace it)")
    if path.exists() and not replace_foreign and not is_hdf5_file(path):
        raise OutputError(f"{path}: exists and is not an HDF5 trace; refusing to overwrite it "
                          "(remove it, or pass --overwrite)")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create output directory {parent}: {exc}") from None
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: output location is not writable")


def is_hdf5_file(path: Path) -> bool:
    """Whether ``path`` holds an HDF5 file (by its signature)."""
    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False
