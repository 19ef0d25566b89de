"""The HDF5 run-trace schema (version :data:`SCHEMA_VERSION`).

One file per run. Each table is an HDF5 group ``/<table>`` holding one
resizable, chunked, gzip-compressed 1-D dataset per column, all of equal
length; every dataset carries ``units`` and ``description`` attributes.
Since schema 1.3 each table group also holds a row-index dataset
(:data:`ROW_DIMENSION`) attached to every column as an HDF5 dimension scale,
and ``/_committed`` is indexed by a ``/table`` scale of table names, so
netCDF tools (xarray with h5netcdf) see named dimensions and coordinates.
``docs/trace-format.md`` documents the same schema for people; a test keeps
the two in sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SCHEMA_VERSION = "1.3"

#: Name of each table's row-index dataset and dimension (schema 1.3): 0, 1, ... n-1.
ROW_DIMENSION = "row"
#: Name of the root dataset and dimension indexing ``/_committed`` by table name (schema 1.3).
TABLE_DIMENSION = "table"

ColumnType = Literal["f8", "i8", "bool", "str"]


@dataclass(frozen=True)
class Column:
    """One column: name, storage type, unit ('1' for dimensionless) and meaning."""

    name: str
    dtype: ColumnType
    unit: str
    description: str


def _c(name: str, dtype: ColumnType, unit: str, description: str) -> Column:
    return Column(name, dtype, unit, description)


TABLES: dict[str, tuple[Column, ...]] = {
    "clients": (
        _c("client", "i8", "1", "client index"),
        _c("name", "str", "1", "client name (group name + index)"),
        _c("model", "str", "1", "model preset, local path or hub id"),
        _c("domain", "str", "1", "private data domain ('' when mixed)"),
        _c("distance_m", "f8", "m", "distance to the base station"),
        _c("speed_mps", "f8", "m/s", "speed (gives the Doppler frequency)"),
        _c("device", "str", "1", "compute device profile"),
        _c("n_params", "i8", "1", "model parameters (frozen + trainable)"),
        _c("n_trainable", "i8", "1", "trainable (LoRA/projection) parameters"),
    ),
    "rounds": (
        _c("round", "i8", "1", "round index, from 0"),
        _c("start_s", "f8", "s", "simulated start time"),
        _c("deadline_s", "f8", "s", "uplink deadline (NaN when none)"),
        _c("end_s", "f8", "s", "simulated end time (aggregation done)"),
        _c("n_selected", "i8", "1", "clients selected"),
        _c("n_delivered", "i8", "1", "uploads complete by the deadline"),
        _c("n_partial", "i8", "1", "uploads cut off with some records delivered"),
        _c("n_missed", "i8", "1", "uploads with nothing usable by the deadline"),
        _c("uplink_bytes", "i8", "B", "payload bytes delivered on the uplink"),
        _c("downlink_bytes", "i8", "B", "payload bytes sent on the downlink"),
    ),
    "events": (
        _c("time_s", "f8", "s", "simulated time of the event"),
        _c("client", "i8", "1", "client index, -1 for the server"),
        _c("kind", "str", "1", "event kind, e.g. downlink_done, compute_done, uplink_start"),
        _c("round", "i8", "1", "round index"),
        _c("bytes", "i8", "B", "payload bytes involved (0 when none)"),
        _c("k", "f8", "1", "mean Top-k entries per token (NaN when not applicable)"),
        _c("tokens", "i8", "1", "token positions in the payload (0 when not applicable)"),
        _c("snr_db", "f8", "dB", "client SNR at the event (NaN when not applicable)"),
        _c("detail", "str", "1", "free-form detail"),
    ),
    "transfers": (
        _c("transfer", "i8", "1", "transfer id, unique in the run"),
        _c("client", "i8", "1", "client index (-1 for a broadcast)"),
        _c("round", "i8", "1", "round index"),
        _c("direction", "str", "1", "'ul' or 'dl'"),
        _c("size_bytes", "i8", "B", "payload size"),
        _c("delivered_bytes", "i8", "B", "bytes delivered by the deadline (whole packets)"),
        _c("start_s", "f8", "s", "enqueue time"),
        _c("end_s", "f8", "s", "completion or cut-off time"),
        _c("deadline_s", "f8", "s", "deadline (NaN when none)"),
        _c("complete", "bool", "1", "every byte delivered by the deadline"),
    ),
    "packets": (
        _c("transfer", "i8", "1", "transfer id"),
        _c("client", "i8", "1", "client index"),
        _c("round", "i8", "1", "round index"),
        _c("direction", "str", "1", "'ul' or 'dl'"),
        _c("seq", "i8", "1", "packet sequence number within the transfer"),
        _c("size_bytes", "i8", "B", "packet size"),
        _c("enqueue_s", "f8", "s", "time the packet was queued"),
        _c("first_tx_s", "f8", "s", "first transmission time (NaN if never sent)"),
        _c("delivery_s", "f8", "s", "delivery time (NaN if lost or cut off)"),
        _c("attempts", "i8", "1", "transmissions used (HARQ + ARQ)"),
        _c("lost", "bool", "1", "never delivered"),
    ),
    "metrics": (
        _c("time_s", "f8", "s", "simulated time of the evaluation"),
        _c("round", "i8", "1", "round index"),
        _c("client", "i8", "1", "client index (-1 for a server-side metric)"),
        _c("split", "str", "1", "evaluation split, e.g. 'own' or 'union'"),
        _c("loss", "f8", "nat/token", "mean next-token cross-entropy"),
        _c("perplexity", "f8", "1", "exp(loss)"),
        _c("accuracy", "f8", "1", "next-token top-1 accuracy in [0, 1]"),
    ),
    "channel": (
        _c("time_s", "f8", "s", "sample time"),
        _c("client", "i8", "1", "client index"),
        _c("snr_db", "f8", "dB", "wideband uplink SNR (NaN when a rate trace is replayed)"),
        _c("rate_bps", "f8", "bit/s",
           "replayed rate-trace rate with every RB (NaN under an SNR channel)"),
    ),
}

ROOT_ATTRIBUTES: dict[str, str] = {
    "schema_version": "trace schema version (this document's)",
    "cosim_version": "cosim package version that wrote the file",
    "versions_json": "JSON {python, torch, transformers, peft, numpy, cosim, platform} of the "
                     "writing environment (schema 1.2; no host name)",
    "scenario_yaml": "the scenario file's text, verbatim",
    "scenario_path": "the scenario file's path as given",
    "overrides_json": "JSON list of --set overrides applied",
    "resolved_config_json": "the fully resolved config as JSON (defaults included)",
    "seed": "the scenario seed",
    "command": "the cosim command that wrote the trace (run, engine, wireless)",
    "status": "'running', 'completed', 'failed' or 'interrupted'",
    "start_wall_time": "ISO-8601 UTC wall-clock time the run started",
    "end_wall_time": "ISO-8601 UTC wall-clock time the run ended ('' while running)",
}
