"""Traces open in xarray (h5netcdf) with named dimensions: HDF5 dimension scales (schema 1.3).

Also: a schema 1.2 trace (no scales) still reads, and the index datasets never
show up as columns in ``read_trace``, ``dataset_units`` or ``cosim inspect``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr  # the dev extra installs xarray and h5netcdf

from cosim.cli import main
from cosim.trace.reader import dataset_units, read_trace
from cosim.trace.schema import ROW_DIMENSION, SCHEMA_VERSION, TABLE_DIMENSION, TABLES
from cosim.trace.writer import TraceWriter


def test_schema_names_do_not_collide_with_columns() -> None:
    assert all(c.name != ROW_DIMENSION for columns in TABLES.values() for c in columns)
    assert TABLE_DIMENSION not in TABLES


def test_every_table_opens_in_xarray_with_named_dimension_and_coordinate(
        run_trace: Path) -> None:
    run = read_trace(run_trace)
    assert run.attrs["schema_version"] == SCHEMA_VERSION == "1.3"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no phony_dims fallback, no decoding warnings
        for table, columns in TABLES.items():
            frame = run[table]
            with xr.open_dataset(run_trace, group=table, engine="h5netcdf") as ds:
                assert dict(ds.sizes) == {ROW_DIMENSION: len(frame)}, table
                assert list(ds.coords) == [ROW_DIMENSION]
                np.testing.assert_array_equal(ds[ROW_DIMENSION].values, np.arange(len(frame)))
                assert set(ds.data_vars) == {c.name for c in columns}, table
                for column in columns:
                    var = ds[column.name]
                    assert var.dims == (ROW_DIMENSION,)
                    assert var.attrs["units"] == column.unit
                    assert var.attrs["description"] == column.description
                    expected = frame[column.name].to_numpy()
                    if column.dtype == "str":
                        assert [str(v) for v in var.values] == list(expected), (table, column)
                    else:
                        np.testing.assert_array_equal(var.values, expected.astype(column.dtype),
                                                      err_msg=f"{table}.{column.name}")
        assert len(run["packets"]) > 0 and len(run["events"]) > 0  # the check had rows
        with xr.open_dataset(run_trace, engine="h5netcdf") as root:
            assert list(root[TABLE_DIMENSION].values) == list(TABLES)
            assert dict(zip(TABLES, root["_committed"].values.tolist(), strict=True)) == {
                t: len(run[t]) for t in TABLES}
            assert root.attrs["status"] == "completed"


def test_scales_grow_with_appends_across_flushes_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    metrics = {"time_s": [0.0, 1.0, 2.0], "round": 0, "client": 0, "split": "own",
               "loss": 1.0, "perplexity": 2.7, "accuracy": 0.5}
    with TraceWriter(path, scenario_yaml="x: 1", resolved_config={}, seed=1,
                     command="test") as trace:
        trace.append("metrics", metrics)
        trace.flush()
        trace.append("metrics", metrics)
    writer = TraceWriter.reopen(path, {"metrics": 4})
    writer.append("metrics", metrics)
    writer.close()
    with xr.open_dataset(path, group="metrics", engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds[ROW_DIMENSION].values, np.arange(7))
        np.testing.assert_array_equal(ds["time_s"].values, [0, 1, 2, 0, 0, 1, 2])
    with xr.open_dataset(path, group="packets", engine="h5netcdf") as ds:
        assert dict(ds.sizes) == {ROW_DIMENSION: 0}


def test_index_datasets_are_not_columns(run_trace: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with h5py.File(run_trace) as f:
        for table in TABLES:
            index = f[table][ROW_DIMENSION]
            assert index.is_scale
            assert all(f[table][c.name].dims[0][0] == index for c in TABLES[table])
    assert all(list(frame.columns) == [c.name for c in TABLES[t]]
               for t, frame in read_trace(run_trace).tables.items())
    units = dataset_units(run_trace)
    assert not any(k.endswith("/" + ROW_DIMENSION) or k == "/" + TABLE_DIMENSION for k in units)
    assert main(["inspect", str(run_trace), "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "completed" and len(doc["rounds"]) == 2


def _write_schema_1_2(path: Path, source: Path) -> None:
    """The layout before dimension scales: the same tables, no index datasets."""
    run = read_trace(source)
    with h5py.File(path, "w", libver="latest") as f:
        for table, columns in TABLES.items():
            group = f.create_group(table)
            for column in columns:
                values = run[table][column.name].to_numpy()
                dtype = h5py.string_dtype() if column.dtype == "str" else column.dtype
                ds = group.create_dataset(column.name, data=values.astype(
                    object if column.dtype == "str" else column.dtype), dtype=dtype,
                    maxshape=(None,), chunks=True)
                ds.attrs["units"] = column.unit
        committed = f.create_dataset("_committed", data=[len(run[t]) for t in TABLES])
        committed.attrs["tables"] = json.dumps(list(TABLES))
        f.attrs.update({k: v for k, v in run.attrs.items()})
        f.attrs["schema_version"] = "1.2"


def test_schema_1_2_trace_without_scales_still_reads(run_trace: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.h5"
    _write_schema_1_2(old, run_trace)
    new_run, old_run = read_trace(run_trace), read_trace(old)
    assert old_run.attrs["schema_version"] == "1.2"
    for table in TABLES:
        assert old_run[table].equals(new_run[table]), table
    assert main(["inspect", str(old), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
