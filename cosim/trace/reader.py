"""Read a run trace into pandas DataFrames.

Works on finished traces and on traces whose writer was killed: such a file
is still flagged "open for writing" by HDF5, so it is reopened in SWMR-read
mode, and every table is cut to the row count committed at the last flush.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from cosim.errors import TraceFormatError
from cosim.trace.schema import SCHEMA_VERSION, TABLES

# A SWMR reader retries a metadata read whose checksum fails (HDF5's default is 100
# attempts with back-off sleeps: minutes on a damaged file). A trace whose writer is
# dead never changes again, so a few attempts tell a damaged file from a torn read.
SWMR_READ_ATTEMPTS = 4


@cache
def _hdf5_library() -> ctypes.CDLL | None:
    """The HDF5 shared library h5py itself loaded (h5py exposes no read-attempts setter)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            found = re.findall(r"(/\S*/libhdf5(?:-[0-9a-f]+)?\.so[.0-9]*)\s*$", maps.read(),
                               re.MULTILINE)
        return ctypes.CDLL(found[0]) if found else None
    except (OSError, IndexError):
        return None


def _swmr_fapl() -> h5py.h5p.PropFAID:
    """A file-access property list with :data:`SWMR_READ_ATTEMPTS` metadata read attempts."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    lib = _hdf5_library()
    if lib is not None:
        lib.H5Pset_metadata_read_attempts(ctypes.c_int64(fapl.id),
                                          ctypes.c_uint(SWMR_READ_ATTEMPTS))
    return fapl


def _global_heap_problem(path: Path) -> str | None:
    """Where a global heap collection would send HDF5 into an endless loop, if anywhere.

    Variable-length strings live in global heap collections ("GCOL", version 1,
    collection size, then objects: index u16, refcount u16, 4 reserved bytes,
    size u64, data padded to 8 bytes). HDF5's decoder advances by each object's
    size and never checks for an object of index 0 and size 0, so a zeroed
    stretch inside a collection (a damaged or half-written trace) makes it spin
    forever. Walk every collection the same way first and refuse such a file.
    """
    size = path.stat().st_size
    if size < 16:
        return None
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = data.find(b"GCOL")
        while start >= 0:
            if start + 16 <= size and data[start + 4] == 1:
                end = start + int.from_bytes(data[start + 8:start + 16], "little")
                if end <= size:  # else HDF5 reports a read past the end itself
                    p = start + 16
                    while p + 16 <= end:
                        index = int.from_bytes(data[p:p + 2], "little")
                        length = int.from_bytes(data[p + 8:p + 16], "little")
                        need = 16 + (-(-length // 8) * 8) if index else length
                        if need == 0:
                            return f"empty object in the global heap at byte {p}"
                        p += need
                    if p > end:
                        return f"global heap object overruns its collection at byte {start}"
            start = data.find(b"GCOL", start + 4)
    return None


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise TraceFormatError(f"{path}: no such trace file")
    problem = _global_heap_problem(path)
    if problem is not None:
        raise TraceFormatError(f"{path}: corrupt trace ({problem})")
    try:
        return h5py.File(path, "r")
    except OSError as first:
        # Only a killed writer's "open for write" flag warrants SWMR mode: a SWMR
        # reader of a truncated or corrupt file retries failed metadata reads with
        # back-off sleeps, which looks like a hang (bounded by _swmr_fapl).
        if "already open for write" not in str(first):
            raise TraceFormatError(f"{path}: not a readable HDF5 trace ({_first_line(first)})"
                                   ) from None
        try:
            flags = h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ
            fid = h5py.h5f.open(os.fsencode(path), flags, fapl=_swmr_fapl())
            return h5py.File(fid)
        except OSError:
            raise TraceFormatError(f"{path}: not a readable HDF5 trace ({_first_line(first)})"
                                   ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _decode(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "O" or values.dtype.kind == "S":
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object
        )
    return values


@dataclass
class RunTrace:
    """An opened trace: root attributes, resolved config and tables as DataFrames."""

    path: Path
    attrs: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def config(self) -> dict[str, Any]:
        """The resolved scenario config (plain dict)."""
        return json.loads(self.attrs.get("resolved_config_json", "{}"))

    @property
    def status(self) -> str:
        """'completed', 'running' (writer killed or still going), 'failed' or 'interrupted'."""
        return str(self.attrs.get("status", "unknown"))

    @property
    def versions(self) -> dict[str, str]:
        """Python, torch, transformers, peft, numpy, cosim and platform that wrote the
        trace (``{}`` before schema 1.2)."""
        return json.loads(self.attrs.get("versions_json", "{}"))

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def read_trace(path: str | os.PathLike[str], tables: list[str] | None = None) -> RunTrace:
    """Read ``path`` (all tables, or just ``tables``).

    Raises:
        TraceFormatError: not an HDF5 file, not a cosim trace, a corrupt
            one, or a newer major schema version than this reader knows.
    """
    path = Path(path)
    try:
        return _read(path, tables)
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        # h5py reports corrupt metadata or chunks as any of these.
        raise TraceFormatError(
            f"{path}: corrupt trace ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


#: Columns schema 1.1 added; a 1.0 trace reads them as NaN.
ADDED_IN_1_1 = {("channel", "rate_bps")}


def _read(path: Path, tables: list[str] | None) -> RunTrace:
    with _open(path) as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        if "schema_version" not in attrs or "_committed" not in f:
            raise TraceFormatError(f"{path}: HDF5 file is not a cosim trace")
        major = str(attrs["schema_version"]).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise TraceFormatError(
                f"{path}: trace schema {attrs['schema_version']} is not readable by this "
                f"cosim (schema {SCHEMA_VERSION})"
            )
        names = json.loads(f["_committed"].attrs["tables"])
        committed = dict(zip(names, (int(n) for n in f["_committed"][()]), strict=True))
        out: dict[str, pd.DataFrame] = {}
        for table in tables or list(TABLES):
            if table not in TABLES:
                known = ", ".join(TABLES)
                raise TraceFormatError(f"unknown trace table {table!r}; tables: {known}")
            n = committed.get(table, 0)
            group = f.get(table)
            data = {}
            for column in TABLES[table]:
                if group is not None and (table, column.name) in ADDED_IN_1_1 and \
                        column.name not in group:
                    data[column.name] = np.full(n, np.nan)  # a 1.0 trace: not recorded
                    continue
                if group is None or column.name not in group:
                    raise TraceFormatError(f"{path}: missing dataset /{table}/{column.name}")
                data[column.name] = _decode(group[column.name][:n])
            frame = pd.DataFrame(data)
            # Units and meanings travel with the table (pandas keeps attrs through copies).
            frame.attrs["units"] = {c.name: c.unit for c in TABLES[table]}
            frame.attrs["descriptions"] = {c.name: c.description for c in TABLES[table]}
            out[table] = frame
    return RunTrace(path=path, attrs=attrs, tables=out)


def dataset_units(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{"/table/column": units}`` for every data column and ``/_committed`` (for docs and
    checks); the index datasets that serve as dimension scales (schema 1.3) are skipped."""
    units: dict[str, str] = {}
    with _open(Path(path)) as f:
        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and not obj.is_scale:
                units["/" + name] = str(obj.attrs.get("units", ""))

        f.visititems(visit)
    return units
