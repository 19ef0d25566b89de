"""The notebook API: cosim.run / cosim.study return trace paths and DataFrames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import cosim
from cosim.errors import ScenarioError
from tests.sim.conftest import DETERMINISTIC, ScriptedBackend


def test_import_cosim_loads_neither_torch_nor_pandas() -> None:
    code = ("import sys, cosim; cosim.run; "
            "print('torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_run_from_a_path_with_overrides(tmp_path: Path) -> None:
    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    result = cosim.run(scenario, out=tmp_path / "r.h5", backend=ScriptedBackend(),
                       distillation__rounds=3)
    assert result.path == tmp_path / "r.h5"
    assert isinstance(result.rounds, pd.DataFrame) and list(result.rounds["round"]) == [0, 1, 2]
    assert result.summary["rounds"] == 3 and result.summary["status"] == "completed"
    assert result.metrics.attrs["units"]["accuracy"] == "1"
    assert not (tmp_path / "r.h5.ckpt").exists()


def test_run_from_a_mapping_with_a_set_dict(tmp_path: Path) -> None:
    data = yaml.safe_load(DETERMINISTIC)
    result = cosim.run(data, out=tmp_path / "m.h5", backend=ScriptedBackend(),
                       set={"distillation.rounds": 1})
    assert len(result.rounds) == 1 and len(result.events) > 0


def test_bad_override_raises_the_cli_error(tmp_path: Path) -> None:
    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    with pytest.raises(ScenarioError, match="did you mean 'rounds'"):
        cosim.run(scenario, out=tmp_path / "x.h5", distillation__rouns=1)


@pytest.mark.slow
def test_study_returns_summary_and_comparison(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import cosim.study.runner as runner
    from cosim.scenario import load_scenario
    from cosim.sim.runner import run_scenario

    def scripted(spec, threads=1):  # the real engine is exercised by the slow study test
        run_scenario(load_scenario(spec.scenario_path, list(spec.overrides)), spec.trace_path,
                     progress=False, plots=False, backend=ScriptedBackend())
        return runner.RunOutcome(spec.run_id, "completed")

    monkeypatch.setattr(runner, "execute_run", scripted)
    (tmp_path / "det.yaml").write_text(DETERMINISTIC)
    (tmp_path / "s.yaml").write_text(
        "name: s\nbase: det.yaml\nseeds: [1, 2, 3]\n"
        "grid: {distillation.method: [fd_topk, adaptive]}\n")
    result = cosim.study(tmp_path / "s.yaml", out=tmp_path / "out")
    assert result.out_dir == tmp_path / "out"
    assert len(result.summary) == 6 and list(result.summary.columns).count("method") == 1
    assert len(result.traces) == 6
    assert {"config", "mean_diff", "ci_low", "ci_high"} <= set(result.comparison.columns)
    assert any(p.suffix == ".pdf" for p in result.plots)
    assert result.run("method=adaptive,seed=2").summary["seed"] == 2
