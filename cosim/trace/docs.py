"""Render ``docs/trace-format.md`` from the schema, so the two never drift.

Regenerate with ``python -m cosim.trace.docs > docs/trace-format.md``; a test
checks the committed file equals the rendering.
"""

from __future__ import annotations

from cosim.trace.schema import (
    ROOT_ATTRIBUTES,
    ROW_DIMENSION,
    SCHEMA_VERSION,
    TABLE_DIMENSION,
    TABLES,
)

_INTRO = """# cosim run-trace format

Schema version: {version}

One HDF5 file per run (`cosim run`, `cosim engine`, `cosim wireless`), written by
`cosim.trace.writer.TraceWriter` and read by `cosim.trace.reader.read_trace`,
which returns one pandas DataFrame per table. This page is generated from
`cosim/trace/schema.py` (`python -m cosim.trace.docs > docs/trace-format.md`).

## Layout

- Root attributes describe the run (below).
- Each table is a group `/<table>` holding one 1-D dataset per column, all of
  the same length. Datasets are resizable, chunked (4096 rows) and
  gzip-compressed, and each carries a `units` attribute (`1` means
  dimensionless) and a `description`.
- `/_committed` (int64, one entry per table, in the order of its `tables`
  attribute) holds the number of rows of each table that were durable at the
  last flush. Readers cut every table to it.
- Strings are variable-length UTF-8. Missing floats are NaN.

## Dimensions (schema 1.3)

Each table group also holds `/<table>/{row}` (int64, 0, 1, ... n-1), an HDF5
dimension scale named `{row}` that is attached to every column of the table
and grows with it; `/{table}` (the table names, UTF-8) is the dimension scale
of `/_committed`. netCDF-4 readers therefore see named dimensions and
coordinates, without `phony_dims`:

```python
import xarray as xr  # with h5netcdf installed (pip install "cosim[netcdf]")

events = xr.open_dataset("run.h5", group="events", engine="h5netcdf")
events["snr_db"]                   # DataArray over dimension "{row}", attrs: units, description
committed = xr.open_dataset("run.h5", engine="h5netcdf")["_committed"]  # indexed by "{table}"
```

The index datasets are not columns: `read_trace`, `cosim inspect` and the
tables below leave them out. Traces of schema 1.2 and older have no scales and
read as before with `read_trace`. xarray opens a finished trace; a trace whose
writer was killed (`status` `running`) may hold rows past the last flush, so
read it with `read_trace`, which cuts every table to `/_committed`.

## Crash safety

The writer creates every table up front, then switches the file to HDF5 SWMR
mode and flushes at least once per round. A writer killed at any moment (even
SIGKILL) leaves a file that opens (the reader reopens it in SWMR-read mode,
since HDF5 still flags it as open for writing) with every row up to the last
flush intact; `status` then reads `running`.

## Versioning

`schema_version` is `MAJOR.MINOR`. A minor bump only adds tables, columns,
attributes or index datasets (1.1: `channel.rate_bps`; 1.2: `versions_json`;
1.3: dimension scales); readers accept any minor version of their major version and
reject other majors with a clear error.

## Root attributes

| attribute | meaning |
|---|---|
"""


def render_markdown() -> str:
    """The whole trace-format document."""
    parts = [_INTRO.format(version=SCHEMA_VERSION, row=ROW_DIMENSION, table=TABLE_DIMENSION)]
    parts.extend(f"| `{name}` | {meaning} |\n" for name, meaning in ROOT_ATTRIBUTES.items())
    parts.append("\n## Tables\n")
    for table, columns in TABLES.items():
        parts.append(f"\n### `{table}`\n\n| column | units | type | meaning |\n|---|---|---|---|\n")
        parts.extend(
            f"| `{c.name}` | {c.unit} | {c.dtype} | {c.description} |\n" for c in columns
        )
    return "".join(parts)


if __name__ == "__main__":
    print(render_markdown(), end="")
