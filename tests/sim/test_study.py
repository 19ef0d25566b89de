"""Studies: grid expansion, local executor with resume, dask executor, outputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cosim.errors import ScenarioError
from cosim.study.config import StudyConfig, expand_runs, load_study
from cosim.study.runner import run_study
from tests.conftest import cosim_command
from tests.sim.conftest import TINY_REAL

STUDY = """\
name: mini
base: tiny.yaml
seeds: [1, 2]
grid:
  distillation.method: [fd_topk, adaptive]
set:
  distillation.rounds: 1
executor: {{kind: {kind}, workers: {workers}}}
output_dir: {out}
time_budget_s: 5.0
"""


def _write(tmp_path: Path, kind: str = "local", workers: int = 1) -> Path:
    (tmp_path / "tiny.yaml").write_text(TINY_REAL)
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(kind=kind, workers=workers, out=tmp_path / "out"))
    return study


def test_grid_expands_to_every_method_and_seed(tmp_path: Path) -> None:
    config, study_dir = load_study(_write(tmp_path))
    runs = expand_runs(config, study_dir)
    assert [r.run_id for r in runs] == [
        "method=fd_topk,seed=1", "method=fd_topk,seed=2",
        "method=adaptive,seed=1", "method=adaptive,seed=2",
    ]  # fmt: skip
    assert "distillation.method=adaptive" in runs[2].overrides
    assert "seed=2" in runs[3].overrides


def test_bad_grid_key_fails_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_REAL)
    config = StudyConfig(base="tiny.yaml", grid={"distillation.mehtod": ("adaptive",)},
                         output_dir=str(tmp_path / "o"))
    with pytest.raises(ScenarioError, match="did you mean 'method'"):
        run_study(config, tmp_path)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_local_study_runs_then_resumes_after_deleting_one_run(tmp_path: Path) -> None:
    study = _write(tmp_path)
    proc = subprocess.run([*cosim_command(), "study", str(study)], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4 and set(summary["status"]) == {"completed"}
    assert {"final_mean_accuracy", "uplink_bytes", "latency_p50_s", "latency_p95_s",
            "deadline_misses", "accuracy_at_budget"} <= set(summary.columns)
    for name in ("accuracy_vs_time", "accuracy_vs_uplink_bytes", "pareto_latency_accuracy",
                 "round_latency_cdf", "k_vs_snr"):
        assert (out / "plots" / f"{name}.png").is_file()
    # Common random numbers: both methods see the same channel for a given seed.
    from cosim.trace.reader import read_trace

    a = read_trace(out / "runs" / "method=fd_topk,seed=1.h5")["channel"]
    b = read_trace(out / "runs" / "method=adaptive,seed=1.h5")["channel"]
    # Each run samples the slots it simulates; where both sampled, the SNR is identical.
    common = a.merge(b, on=["time_s", "client"], suffixes=("_a", "_b"))
    assert len(common) >= 4
    assert (common["snr_db_a"] == common["snr_db_b"]).all()

    victim = out / "runs" / "method=adaptive,seed=2.h5"
    kept = out / "runs" / "method=fd_topk,seed=1.h5"
    kept_mtime = kept.stat().st_mtime_ns
    victim.unlink()
    config, study_dir = load_study(study)
    _, outcomes = run_study(config, study_dir)
    status = {o.run_id: o.status for o in outcomes}
    assert status == {
        "method=fd_topk,seed=1": "skipped", "method=fd_topk,seed=2": "skipped",
        "method=adaptive,seed=1": "skipped", "method=adaptive,seed=2": "completed",
    }  # fmt: skip
    assert victim.is_file()
    assert kept.stat().st_mtime_ns == kept_mtime


@pytest.mark.slow
def test_dask_executor_on_a_local_cluster_matches_the_local_executor(tmp_path: Path) -> None:
    """Two runs on a two-worker LocalCluster; their traces equal the local executor's."""
    pytest.importorskip("distributed")  # the optional 'dask' extra
    import dataclasses
    import shutil

    from cosim.trace.identity import trace_differences

    kept = {}
    for kind, workers in (("dask", 2), ("local", 1)):
        config, study_dir = load_study(_write(tmp_path, kind=kind, workers=workers))
        config = dataclasses.replace(config, seeds=(1,))
        summary, outcomes = run_study(config, study_dir)
        assert sorted(o.status for o in outcomes) == ["completed", "completed"]
        assert len(summary) == 2
        # Same output path for both (it is stored in the trace), then moved aside.
        kept[kind] = shutil.move(tmp_path / "out", tmp_path / kind)
    for run in ("method=fd_topk,seed=1.h5", "method=adaptive,seed=1.h5"):
        assert trace_differences(kept["dask"] / "runs" / run, kept["local"] / "runs" / run) == []


def test_dry_run_with_set_and_out_lists_runs_without_running(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cosim.cli import main

    study = _write(tmp_path)
    out = tmp_path / "elsewhere"
    argv = ["study", str(study), "--dry-run", "--set", "distillation.rounds=2", "--out", str(out)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"to run    method=fd_topk,seed=1  {out}/runs/method=fd_topk,seed=1.h5"
    assert lines[-1] == "4 runs, 4 to run (dry run: nothing was run)"
    assert not out.exists()
    assert main(["study", str(study), "--dry-run", "--set", "distillation.rouns=2"]) == 2
    assert "did you mean 'rounds'" in capsys.readouterr().err
