"""Same scenario and seed → identical HDF5 datasets (issue 7, item 1).

The real engine (tiny SLMs) through the real ``cosim run`` console script,
twice, and a one-run study through each executor (local process, dask
LocalCluster). Every dataset is compared bit for bit; root attributes must be
equal except the wall-clock start and end times.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cosim.study.config import load_study
from cosim.study.runner import run_study
from tests.conftest import cosim_command
from tests.reliability.conftest import trace_differences
from tests.sim.conftest import TINY_REAL

pytestmark = pytest.mark.slow

STUDY = """\
name: det
base: tiny.yaml
seeds: [7]
executor: {{kind: {kind}, workers: 1}}
output_dir: {out}
"""


def _cosim_run(scenario: Path, out: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        [*cosim_command(), "run", str(scenario), "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr


def test_cosim_run_twice_gives_identical_traces(tmp_path: Path, cosim_env: dict[str, str]
                                                ) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_REAL)
    # Different hash seeds per process: dict/set ordering must not leak into the data.
    first = dict(cosim_env, PYTHONHASHSEED="1")
    second = dict(cosim_env, PYTHONHASHSEED="2")
    _cosim_run(scenario, tmp_path / "a.h5", first)
    _cosim_run(scenario, tmp_path / "b.h5", second)
    assert trace_differences(tmp_path / "a.h5", tmp_path / "b.h5") == []


# The dask executor's traces are compared with the local executor's in
# tests/sim/test_study.py (one LocalCluster instead of two here).
@pytest.mark.parametrize("kind", ["local"])
def test_study_executor_runs_are_reproducible(tmp_path: Path, kind: str) -> None:
    """Two executions of the same one-run study write identical traces.

    Both executions write to the same output directory (the first one's is
    moved away before the second), so even the ``output.trace_path`` override
    stored in the trace's attributes is the same.
    """
    (tmp_path / "tiny.yaml").write_text(TINY_REAL)
    out = tmp_path / "out"
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(kind=kind, out=out))
    traces = []
    for attempt in ("first", "second"):
        config, study_dir = load_study(study)
        _, outcomes = run_study(config, study_dir)
        assert [o.status for o in outcomes] == ["completed"], outcomes
        kept = tmp_path / attempt
        shutil.move(out, kept)
        traces.append(kept / "runs" / "seed=7.h5")
    assert trace_differences(*traces) == []
