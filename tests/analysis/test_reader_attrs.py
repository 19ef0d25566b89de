"""Reader conveniences: units in DataFrame.attrs, str columns, recorded versions."""

from __future__ import annotations

import platform
import socket
from pathlib import Path

from cosim.scenario import load_scenario
from cosim.sim.runner import run_scenario
from cosim.trace.reader import read_trace
from cosim.trace.schema import TABLES
from tests.sim.conftest import DETERMINISTIC, ScriptedBackend


def _trace(tmp_path: Path) -> Path:
    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    out = tmp_path / "run.h5"
    run_scenario(load_scenario(scenario), out, progress=False, plots=False,
                 backend=ScriptedBackend())
    return out


def test_units_descriptions_str_columns_and_versions(tmp_path: Path) -> None:
    trace = read_trace(_trace(tmp_path))
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
