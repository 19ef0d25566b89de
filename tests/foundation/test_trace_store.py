"""HDF5 trace store: round trip, units, schema doc, and survival of a SIGKILLed writer."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from cosim.errors import OutputError, TraceFormatError
from cosim.trace.docs import render_markdown
from cosim.trace.reader import dataset_units, read_trace
from cosim.trace.schema import SCHEMA_VERSION, TABLES
from cosim.trace.writer import TraceWriter

REPO = Path(__file__).resolve().parents[2]


def _writer(path: Path) -> TraceWriter:
    return TraceWriter(
        path, scenario_yaml="name: t\n", resolved_config={"name": "t"}, seed=5, command="test"
    )


def _event_rows(start: int, n: int) -> dict[str, object]:
    return {
        "time_s": np.arange(start, start + n) * 0.5,
        "client": np.arange(start, start + n) % 3,
        "kind": [f"kind{i}" for i in range(start, start + n)],
        "round": 0,
        "bytes": np.arange(start, start + n) * 10,
        "k": np.nan,
        "tokens": 0,
        "snr_db": 3.5,
        "detail": "ü",
    }


def test_round_trip_with_units_and_root_attributes(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with _writer(path) as trace:
        trace.append("events", _event_rows(0, 5))
        trace.flush()
        trace.append("events", _event_rows(5, 3))
    run = read_trace(path)
    events = run["events"]
    assert list(events["kind"]) == [f"kind{i}" for i in range(8)]
    np.testing.assert_array_equal(events["bytes"], np.arange(8) * 10)
    assert events["detail"].iloc[0] == "ü"
    assert run.status == "completed"
    assert run.attrs["schema_version"] == SCHEMA_VERSION
    assert run.attrs["seed"] == 5
    assert run.config == {"name": "t"}
    assert run.attrs["end_wall_time"] >= run.attrs["start_wall_time"]
    units = dataset_units(path)
    for table, columns in TABLES.items():
        for column in columns:
            assert units[f"/{table}/{column.name}"] == column.unit
    with h5py.File(path) as f:
        ds = f["events/time_s"]
        assert ds.chunks is not None and ds.compression == "gzip"


def test_failed_run_is_marked(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with pytest.raises(RuntimeError), _writer(path) as trace:
        trace.append("events", _event_rows(0, 2))
        raise RuntimeError("boom")
    assert read_trace(path).status == "failed"
    assert len(read_trace(path)["events"]) == 2


def test_schema_document_lists_every_column() -> None:
    doc = (REPO / "docs" / "trace-format.md").read_text()
    assert doc == render_markdown(), "regenerate: python -m cosim.trace.docs > docs/trace-format.md"
    assert f"Schema version: {SCHEMA_VERSION}" in doc
    for table, columns in TABLES.items():
        assert f"### `{table}`" in doc
        for column in columns:
            assert re.search(rf"\| `{column.name}` \| {re.escape(column.unit)} \|", doc), (
                table,
                column.name,
            )


def test_unwritable_output_fails_before_anything_is_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create output directory"):
        _writer(blocker / "sub" / "run.h5")
    with pytest.raises(OutputError, match="is a directory"):
        _writer(tmp_path)


def test_reader_rejects_non_traces(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(TraceFormatError, match="not a readable HDF5 trace"):
        read_trace(junk)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(TraceFormatError, match="not a cosim trace"):
        read_trace(tmp_path / "other.h5")
    with pytest.raises(TraceFormatError, match="no such trace file"):
        read_trace(tmp_path / "missing.h5")


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from cosim.trace.writer import TraceWriter
    w = TraceWriter(sys.argv[1], scenario_yaml="x: 1", resolved_config={}, seed=1,
                    command="test")
    r = 0
    while True:
        n = 200
        w.append("events", {"time_s": np.full(n, r, float), "client": 0, "kind": "tick",
                            "round": r, "bytes": n, "k": 1.0, "tokens": 0, "snr_db": 0.0,
                            "detail": ""})
        w.append("metrics", {"time_s": float(r), "round": r, "client": 0, "split": "own",
                             "loss": 1.0, "perplexity": 2.7, "accuracy": 0.5})
        w.flush()
        print(r, flush=True)
        r += 1
    """
)


@pytest.mark.slow
def test_sigkilled_writer_leaves_readable_trace_with_complete_rounds(tmp_path: Path) -> None:
    """Kill a writer 6 times at random moments; every flushed round must be intact."""
    rng = np.random.default_rng(1234)
    for attempt in range(6):
        path = tmp_path / f"killed{attempt}.h5"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # at least one flushed round
        assert first.strip() == "0"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run = read_trace(path)
        assert run.status == "running"
        events, metrics = run["events"], run["metrics"]
        rounds = int(metrics["round"].max()) + 1
        assert rounds >= 1
        assert list(metrics["round"]) == list(range(rounds))
        # Rows of a round are all there, never a torn round.
        assert len(events) == 200 * rounds
        assert (events.groupby("round").size() == 200).all()
