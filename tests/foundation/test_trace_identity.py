"""The bit-for-bit trace comparison: same rows → identical; any changed byte → reported."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import h5py
import numpy as np

from cosim.trace.identity import PROVENANCE_ATTRS, trace_differences
from cosim.trace.recorder import Recorder
from cosim.trace.writer import TraceWriter


def _trace(path: Path, snr_db: float = 3.5, scenario: str = "name: t\n") -> Path:
    with TraceWriter(path, scenario_yaml=scenario, resolved_config={"name": "t"}, seed=5,
                     command="test", scenario_path=str(path)) as writer:
        rec = Recorder(writer)
        rec.event(0.0, 1, "encode", 0, n_bytes=10, k=np.nan, snr_db=snr_db, detail="ü")
        rec.event(0.5, -1, "round_end", 0)
        rec.round(0, start_s=0.0, deadline_s=None, end_s=0.5, n_selected=2, n_delivered=1,
                  n_partial=0, n_missed=1, uplink_bytes=10, downlink_bytes=0)
        rec.flush()
    return path


def test_two_runs_with_the_same_rows_are_identical_despite_provenance(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a.h5")
    time.sleep(1.1)  # another wall-clock second, and another path
    b = _trace(tmp_path / "b.h5")
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert fa.attrs["scenario_path"] != fb.attrs["scenario_path"]
    assert trace_differences(a, b) == []
    assert set(PROVENANCE_ATTRS) >= {"start_wall_time", "end_wall_time", "versions_json"}


def test_one_changed_value_or_attribute_is_reported(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a.h5")
    b = _trace(tmp_path / "b.h5", snr_db=3.5000000000000004)  # one ULP
    assert trace_differences(a, b) == [
        "/events/snr_db: 1 of 2 values differ (first at 0: np.float64(3.5) != "
        "np.float64(3.5000000000000004))"
    ]
    c = _trace(tmp_path / "c.h5", scenario="name: u\n")
    assert [d.split(":")[0] for d in trace_differences(a, c)] == ["/@scenario_yaml"]


def test_an_extra_dataset_and_a_dataset_attribute_are_reported(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a.h5")
    b = tmp_path / "b.h5"
    shutil.copy(a, b)
    with h5py.File(b, "r+") as f:
        f["rounds/extra"] = np.arange(3)
        f["events/k"].attrs["units"] = "bit"
    assert trace_differences(a, b) == [
        "/events/k@units: '1' != 'bit'",
        "/rounds/extra: only in second trace",
    ]


def test_dimension_scale_references_compare_by_what_they_point_to(tmp_path: Path) -> None:
    from cosim.trace.identity import _resolve

    a = _trace(tmp_path / "a.h5")
    with h5py.File(a) as f:
        targets = _resolve(f["events/k"].attrs["DIMENSION_LIST"], f)
    assert targets and all(t.startswith("/events/") for ref in targets for t in ref)
