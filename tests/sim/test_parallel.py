"""engine.parallel: serial, local processes and Dask give bit-identical traces (issue 14).

One tiny real scenario (three clients, two architectures, so a worker's first
adapter on a base is not the serial engine's first) is run serially and on
two workers; every table of the HDF5 traces must be equal exactly. Then: a
run stopped after a round and resumed on processes, and a run whose worker is
killed mid-run (its clients rebuilt from the last checkpoint), give the same
trace again. The runs are marked slow (each spawns engine processes that
import torch and build models); the config checks stay in the fast tier.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from cosim.errors import ScenarioError
from cosim.scenario import LoadedScenario, parse_scenario
from cosim.sim.build import build_backend
from cosim.sim.runner import RunInterrupted, StopFlag, run_scenario
from cosim.trace.reader import read_trace
from cosim.trace.schema import TABLES
from tests.sim.conftest import TINY_REAL

# A third client (tiny-gpt2): on two workers it is worker 0's first gpt2 adapter.
TEXT = TINY_REAL.replace(
    "wireless:\n",
    "  - {name: mid, model: {preset: tiny-gpt2, lora_rank: 4}, domain: kjv/law, "
    "distance_m: 200,\n     device: laptop}\nwireless:\n", 1,
)
BASE = ["distillation.rounds=2", "engine.parallel.threads=1"]
PROCESSES = ["engine.parallel.executor=processes", "engine.parallel.workers=2"]


def _loaded(overrides: list[str]) -> LoadedScenario:
    overrides = BASE + overrides
    return LoadedScenario(parse_scenario(TEXT, "t.yaml", overrides), TEXT, None,
                          tuple(overrides))


def assert_same_tables(a: Path, b: Path) -> None:
    """Every dataset of the two traces equal, bit for bit."""
    ta, tb = read_trace(a), read_trace(b)
    for table in TABLES:
        pd.testing.assert_frame_equal(ta[table], tb[table], check_exact=True, obj=table)
    assert len(ta["metrics"]) > 0 and len(ta["events"]) > 0


@pytest.fixture(scope="module")
def serial_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("serial") / "serial.h5"
    try:
        run_scenario(_loaded([]), out, progress=False, plots=False)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.slow  # spawns engine workers (torch imports, model builds): tens of s
def test_processes_equal_serial(serial_trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "proc.h5"
    run_scenario(_loaded(PROCESSES), out, progress=False, plots=False)
    assert_same_tables(serial_trace, out)


@pytest.mark.slow
def test_dask_local_cluster_equals_serial(serial_trace: Path, tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dask.h5"
    run_scenario(_loaded(["engine.parallel.executor=dask", "engine.parallel.workers=2"]),
                 out, progress=False, plots=False)
    assert_same_tables(serial_trace, out)


@pytest.mark.slow  # spawns engine workers (torch imports, model builds): tens of s
def test_resume_on_processes_equals_serial(serial_trace: Path, tmp_path: Path) -> None:
    loaded = _loaded(PROCESSES)
    out = tmp_path / "cut.h5"
    flag = StopFlag()
    backend = build_backend(loaded.config)
    aggregate = backend.aggregate

    def stop_after_first(received, round_index):
        if round_index == 0:
            flag.signum = signal.SIGTERM
        return aggregate(received, round_index)

    backend.aggregate = stop_after_first
    try:
        with pytest.raises(RunInterrupted):
            run_scenario(loaded, out, progress=False, plots=False, backend=backend, stop=flag)
    finally:
        backend.close()
    assert read_trace(out).status == "interrupted"
    run_scenario(loaded, out, progress=False, plots=False, resume=True)
    assert read_trace(out).status == "completed"
    assert_same_tables(serial_trace, out)


@pytest.mark.slow  # spawns engine workers (torch imports, model builds): tens of s
def test_lost_worker_is_rebuilt_from_the_checkpoint(serial_trace: Path, tmp_path: Path) -> None:
    loaded = _loaded(PROCESSES)
    backend = build_backend(loaded.config)
    aggregate = backend.aggregate
    killed: list[int] = []

    def kill_in_round_two(received, round_index):
        if round_index == 1 and not killed:  # after round 0's checkpoint, before the end
            pid = backend.executor.pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return aggregate(received, round_index)

    backend.aggregate = kill_in_round_two
    out = tmp_path / "lost.h5"
    try:
        run_scenario(loaded, out, progress=False, plots=False, backend=backend)
        assert killed and backend.executor.pids()[0] != killed[0]  # a new worker took over
    finally:
        backend.close()
    assert_same_tables(serial_trace, out)


@pytest.mark.parametrize(("override", "message"), [
    ("engine.parallel.executor=threads", "must be one of 'serial', 'processes', 'dask'"),
    ("engine.parallel.workers=0", "engine.parallel.workers: must be in [1, 4096]"),
    ("engine.parallel.address=tcp://h:8786", "executor is 'serial'"),
])
def test_bad_parallel_settings_name_the_field(override: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=r"engine\.parallel") as info:
        parse_scenario(TEXT, "t.yaml", [override])
    assert message in str(info.value)
