"""Reader conveniences: units in DataFrame.attrs, str columns, recorded versions."""

from __future__ import annotations

import platform
import socket
from pathlib import Path

from cosim.trace.reader import read_trace
from cosim.trace.schema import TABLES


def test_units_descriptions_str_columns_and_versions(run_trace: Path) -> None:
    trace = read_trace(run_trace)
    events = trace["events"]
    assert events.attrs["units"]["time_s"] == "s"
    assert events.attrs["units"]["bytes"] == "B"
    assert set(events.attrs["descriptions"]) == {c.name for c in TABLES["events"]}
    assert all(isinstance(v, str) for v in events["kind"])
    assert all(isinstance(v, str) for v in trace["clients"]["name"])
    selected = events[events["kind"] == "encode"]  # attrs survive filtering
    assert selected.attrs["units"]["snr_db"] == "dB"
    versions = trace.versions
    assert set(versions) == {"python", "torch", "transformers", "peft", "numpy", "cosim",
                             "platform"}
    assert versions["python"] == platform.python_version()
    assert versions["cosim"] and versions["numpy"] and versions["torch"]
    assert socket.gethostname() not in versions["platform"]
