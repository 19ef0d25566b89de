"""Bit-for-bit comparison of two HDF5 traces, provenance aside.

Two runs of the same scenario, seed and code must write the same trace. This
module lists every difference between two trace files: groups and datasets
present in one file only, a dataset's dtype, shape or bytes, and every
attribute of the file, its groups and its datasets. Floats compare by their
bytes, so NaN equals NaN and −0.0 differs from 0.0. Object references (the
attributes of HDF5 dimension scales) compare by the path they point to.

Only provenance that legitimately differs between two runs is left out
(:data:`PROVENANCE_ATTRS`, root attributes): the wall-clock start and end
times, the path of the scenario file, and the software versions (cosim's own
version string and ``versions_json``, which holds the Python, torch,
transformers, peft, numpy and cosim versions and the platform). Storage layout
(chunking, compression filters) is not part of a trace's content and is not
compared.
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

#: Root attributes that differ between two identical runs, and why.
PROVENANCE_ATTRS: dict[str, str] = {
    "start_wall_time": "wall-clock time the run started",
    "end_wall_time": "wall-clock time the run ended",
    "scenario_path": "absolute path of the scenario file",
    "cosim_version": "cosim package version",
    "versions_json": "versions of Python, torch, transformers, peft, numpy, cosim; platform",
}


def _resolve(value: Any, f: h5py.File) -> Any:
    """``value`` with every object reference replaced by the path it points to.

    References (e.g. the ``DIMENSION_LIST`` / ``REFERENCE_LIST`` attributes of
    dimension scales) hold file addresses, which differ between two files of
    the same content; what they point to does not.
    """
    if isinstance(value, h5py.Reference):
        return f[value].name if value else None
    if isinstance(value, np.void) and value.dtype.names:
        return tuple(_resolve(value[n], f) for n in value.dtype.names)
    if isinstance(value, np.ndarray) and (value.dtype.kind == "O" or value.dtype.names):
        return [_resolve(v, f) for v in value.ravel()]
    return value


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(
            _same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return a.tobytes() == b.tobytes()
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return type(a) is type(b) and bool(a == b)


def _attr_differences(where: str, a: h5py.AttributeManager, b: h5py.AttributeManager,
                      skip: frozenset[str], files: tuple[h5py.File, h5py.File]) -> list[str]:
    out = []
    for name in sorted((set(a) | set(b)) - skip):
        if name not in a or name not in b:
            out.append(f"{where}@{name}: only in {'first' if name in a else 'second'} trace")
            continue
        va, vb = _resolve(a[name], files[0]), _resolve(b[name], files[1])
        if not _same_value(va, vb):
            out.append(f"{where}@{name}: {va!r:.120} != {vb!r:.120}")
    return out


def _dataset_differences(name: str, a: h5py.Dataset, b: h5py.Dataset) -> list[str]:
    if a.dtype != b.dtype:
        return [f"{name}: dtype {a.dtype} != {b.dtype}"]
    if a.shape != b.shape:
        return [f"{name}: shape {a.shape} != {b.shape}"]
    va, vb = a[()], b[()]
    if h5py.check_string_dtype(a.dtype) is not None:
        la, lb = np.asarray(va, dtype=object).ravel(), np.asarray(vb, dtype=object).ravel()
        bad = [i for i, (x, y) in enumerate(zip(la, lb, strict=True)) if x != y]
    else:
        ra, rb = np.asarray(va), np.asarray(vb)
        if ra.ndim == 0:
            bad = [] if ra.tobytes() == rb.tobytes() else [0]
        else:
            width = ra.dtype.itemsize
            ba = np.frombuffer(np.ascontiguousarray(ra).tobytes(), np.uint8).reshape(-1, width)
            bb = np.frombuffer(np.ascontiguousarray(rb).tobytes(), np.uint8).reshape(-1, width)
            bad = np.flatnonzero((ba != bb).any(axis=1)).tolist()
    if not bad:
        return []
    i = bad[0]
    first = (np.asarray(va).ravel()[i], np.asarray(vb).ravel()[i])
    return [f"{name}: {len(bad)} of {a.size} values differ (first at {i}: {first[0]!r} != "
            f"{first[1]!r})"]


def _members(f: h5py.File) -> dict[str, Any]:
    """Every group and dataset below the root, by path."""
    out: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:  # returns None: visititems goes on
        out[name] = obj

    f.visititems(visit)
    return out


def trace_differences(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str],
                      ignore_attrs: frozenset[str] = frozenset(PROVENANCE_ATTRS)) -> list[str]:
    """Every difference between two HDF5 files, one line each ([] when identical).

    ``ignore_attrs`` are root attributes left out (default: :data:`PROVENANCE_ATTRS`).
    """
    out: list[str] = []
    with h5py.File(path_a, "r") as fa, h5py.File(path_b, "r") as fb:
        out += _attr_differences("/", fa.attrs, fb.attrs, ignore_attrs, (fa, fb))
        names_a, names_b = _members(fa), _members(fb)
        for name in sorted(set(names_a) | set(names_b)):
            if name not in names_a or name not in names_b:
                out.append(f"/{name}: only in {'first' if name in names_a else 'second'} trace")
                continue
            oa, ob = names_a[name], names_b[name]
            if type(oa) is not type(ob):
                out.append(f"/{name}: {type(oa).__name__} != {type(ob).__name__}")
                continue
            out += _attr_differences(f"/{name}", oa.attrs, ob.attrs, frozenset(), (fa, fb))
            if isinstance(oa, h5py.Dataset):
                out += _dataset_differences(f"/{name}", oa, ob)
    return out
