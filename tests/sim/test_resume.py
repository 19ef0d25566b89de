"""Checkpoints, resume and graceful stop: a resumed run's trace equals an uninterrupted one."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.scenario import LoadedScenario, parse_scenario
from cosim.sim.runner import RunInterrupted, StopFlag, run_scenario
from cosim.trace.reader import read_trace
from cosim.trace.schema import TABLES
from tests.conftest import cosim_command
from tests.sim.conftest import DETERMINISTIC, TINY_REAL, ScriptedBackend

WALL_CLOCK = {"start_wall_time", "end_wall_time"}


def assert_same_trace(a: Path, b: Path) -> None:
    """Every table equal, and every root attribute but the wall-clock ones."""
    ta, tb = read_trace(a), read_trace(b)
    for table in TABLES:
        pd.testing.assert_frame_equal(ta[table], tb[table], check_exact=True, obj=table)
    keys = (set(ta.attrs) | set(tb.attrs)) - WALL_CLOCK
    assert {k: ta.attrs.get(k) for k in keys} == {k: tb.attrs.get(k) for k in keys}


def _loaded(text: str, overrides: list[str]) -> LoadedScenario:
    return LoadedScenario(parse_scenario(text, "t.yaml", overrides), text, None, tuple(overrides))


class StopAfter(ScriptedBackend):
    """Raises the stop flag when round ``stop_round`` aggregates."""

    def __init__(self, flag: StopFlag, stop_round: int) -> None:
        super().__init__()
        self.flag, self.stop_round = flag, stop_round

    def aggregate(self, received, round_index):
        if round_index == self.stop_round:
            self.flag.signum = signal.SIGTERM
        return super().aggregate(received, round_index)


@pytest.mark.parametrize("stop_round", [pytest.param(0, marks=pytest.mark.slow), 1,
                                        pytest.param(2, marks=pytest.mark.slow)])
def test_interrupt_then_resume_equals_uninterrupted(tmp_path: Path, stop_round: int) -> None:
    overrides = ["distillation.rounds=4", "server.round_deadline_s=1.752",
                 "wireless.fading={distribution: rayleigh, correlation: jakes}"]
    text = DETERMINISTIC.replace("{name: a, distance_m: 10, device: unit}",
                                 "{name: a, distance_m: 10, device: unit}\n"
                                 "  - {name: b, distance_m: 900, device: unit, speed_mps: 3}")
    loaded = _loaded(text, overrides)
    full = tmp_path / "full.h5"
    run_scenario(loaded, full, progress=False, plots=False, backend=ScriptedBackend())

    cut = tmp_path / "cut.h5"
    flag = StopFlag()
    with pytest.raises(RunInterrupted) as info:
        run_scenario(loaded, cut, progress=False, plots=False,
                     backend=StopAfter(flag, stop_round), stop=flag)
    assert info.value.rounds_done == stop_round + 1 or info.value.rounds_done == stop_round
    assert read_trace(cut).status == "interrupted"
    run_scenario(loaded, cut, progress=False, plots=False, backend=ScriptedBackend(),
                 resume=True)
    assert_same_trace(full, cut)


def test_resume_keeps_late_clients_pending(tmp_path: Path) -> None:
    """A client still computing at a checkpoint finishes (late) after the resume as before."""
    overrides = ["distillation.rounds=4", "server.round_deadline_s=2.0"]
    loaded = _loaded(DETERMINISTIC, overrides)
    full, cut = tmp_path / "full.h5", tmp_path / "cut.h5"
    run_scenario(loaded, full, progress=False, plots=False,
                 backend=ScriptedBackend(update_flops=3000.0))
    flag = StopFlag()
    backend = StopAfter(flag, 0)
    backend.update_flops = 3000.0
    with pytest.raises(RunInterrupted):
        run_scenario(loaded, cut, progress=False, plots=False, backend=backend, stop=flag)
    run_scenario(loaded, cut, progress=False, plots=False,
                 backend=ScriptedBackend(update_flops=3000.0), resume=True)
    assert_same_trace(full, cut)
    assert "late" in set(read_trace(cut)["events"]["kind"])


def _wait_for_checkpoint(ckpt: Path, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    start = time.monotonic()
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < timeout_s
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_then_resume_real_engine_via_cli(tmp_path: Path) -> None:
    """Real tiny engine: SIGKILL after the first checkpoint, `cosim run --resume`, compare."""
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_REAL.replace("rounds: 2", "rounds: 3"))
    full, cut = tmp_path / "full.h5", tmp_path / "cut.h5"
    base = [*cosim_command(), "run", str(scenario), "--no-progress"]
    done = subprocess.run([*base, "--out", str(full)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen([*base, "--out", str(cut)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(cut.with_name(cut.name + ".ckpt"), proc)
    proc.kill()
    proc.communicate()
    assert read_trace(cut).status == "running"  # killed: flag still set, still readable
    resumed = subprocess.run([*cosim_command(), "run", "--resume", str(cut), "--no-progress"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_trace(full, cut)
    metrics = read_trace(cut)["metrics"]
    assert np.isfinite(metrics["loss"]).all()


@pytest.mark.slow
def test_sigterm_stops_gracefully_with_143_and_resume_hint(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_REAL.replace("rounds: 2", "rounds: 3"))
    cut = tmp_path / "cut.h5"
    proc = subprocess.Popen([*cosim_command(), "run", str(scenario), "--no-progress",
                             "--out", str(cut)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(cut.with_name(cut.name + ".ckpt"), proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 143, stderr
    assert f"resume with: cosim run --resume {cut}" in stderr
    assert read_trace(cut).status == "interrupted"
    resumed = subprocess.run([*cosim_command(), "run", "--resume", str(cut), "--no-progress"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert read_trace(cut).status == "completed"
