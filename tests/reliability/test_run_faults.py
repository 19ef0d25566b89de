"""Faults inside a run (issue 7, item 6): they are data, the run goes on.

- NaN in a client's loss, or in its logits at encode time: that client's update
  is dropped for the round (``update_skipped``), the others are aggregated,
  and the client takes part again in the next round.
- A payload that does not decode: ``payload_rejected`` and excluded.
- Disk full or an unwritable output: one clear ``OutputError`` line, exit
  code 2, and the trace readable with every round flushed before the fault.

The real engine (tiny SLMs) runs in-process through
``run_scenario(..., backend=FaultyBackend(real))``; the wrapper only corrupts
what the named client produces in the named round.
"""

from __future__ import annotations

import dataclasses
import errno
import shutil
import subprocess
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from cosim.errors import OutputError
from cosim.scenario import load_scenario
from cosim.sim.build import build_backend
from cosim.sim.runner import run_scenario
from cosim.trace import writer as trace_writer
from cosim.trace.reader import read_trace
from tests.conftest import cosim_command
from tests.reliability.conftest import round_consistency_problems
from tests.sim.conftest import DETERMINISTIC, TINY_REAL, ScriptedBackend

ROUNDS = 3
VICTIM, BAD_ROUND = 1, 1  # client 1 of TINY_REAL: "far"


class FaultyBackend:
    """Delegates to the real engine; injects one fault for ``VICTIM`` in ``BAD_ROUND``."""

    def __init__(self, real: Any, fault: str) -> None:
        self.real = real
        self.fault = fault
        self.round = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _poisoned_forward(self, client: int) -> Any:
        model = self.real.client_model(client)
        original = model.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            logits, hidden = original(*args, **kwargs)
            value = float("nan") if self.fault.startswith("nan") else float("inf")
            return logits * value, hidden

        return model, original, forward

    def local_update(self, client: int, round_index: int) -> Any:
        self.round = round_index
        if self.fault in ("nan_loss", "inf_loss") and (client, round_index) == (VICTIM, BAD_ROUND):
            model, original, forward = self._poisoned_forward(client)
            model.forward = forward
            try:
                return self.real.local_update(client, round_index)
            finally:
                model.forward = original
        return self.real.local_update(client, round_index)

    def encode_upload(self, client: int, **kwargs: Any) -> Any:
        hit = (client, self.round) == (VICTIM, BAD_ROUND)
        if self.fault == "nan_logits" and hit:
            model, original, forward = self._poisoned_forward(client)
            model.forward = forward
            try:
                return self.real.encode_upload(client, **kwargs)
            finally:
                model.forward = original
        upload = self.real.encode_upload(client, **kwargs)
        if self.fault == "corrupt_payload" and hit:
            upload = dataclasses.replace(upload, data=b"XXXX" + bytes(upload.data[4:]))
        return upload


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "tiny.yaml"
    text = TINY_REAL.replace("rounds: 2", f"rounds: {ROUNDS}").replace(
        "server: {round_deadline_s: 0.6}", "server: {round_deadline_s: 5.0}")
    path.write_text(text)
    return path


def _run_with(fault: str, scenario_file: Path, out: Path) -> Any:
    loaded = load_scenario(scenario_file)
    backend = FaultyBackend(build_backend(loaded.config), fault)
    run_scenario(loaded, out, progress=False, plots=False, backend=backend)
    return read_trace(out)


def _events(trace: Any, r: int, client: int) -> list[str]:
    ev = trace["events"]
    return list(ev[(ev["round"] == r) & (ev["client"] == client)]["kind"])


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["nan_loss", "inf_loss", "nan_logits"])
def test_non_finite_update_is_dropped_and_the_run_continues(
        fault: str, scenario_file: Path, tmp_path: Path) -> None:
    trace = _run_with(fault, scenario_file, tmp_path / "run.h5")
    assert trace.status == "completed"
    names = list(trace["clients"]["name"])
    victim, other = names.index("far"), names.index("near")
    assert victim == VICTIM
    bad = _events(trace, BAD_ROUND, victim)
    assert "update_skipped" in bad, bad
    assert "uplink_start" not in bad  # nothing of the poisoned round is sent
    skipped = trace["events"][trace["events"]["kind"] == "update_skipped"]
    assert list(zip(skipped["round"], skipped["client"], strict=True)) == [(BAD_ROUND, victim)]
    assert "non-finite" in skipped["detail"].iloc[0]
    # The other client is aggregated that round; the victim is back the next round.
    assert "uplink_done" in _events(trace, BAD_ROUND, other)
    aggregate = trace["events"][(trace["events"]["kind"] == "aggregate")
                                & (trace["events"]["round"] == BAD_ROUND)]
    assert aggregate["detail"].iloc[0] == "included=1"
    assert "uplink_done" in _events(trace, BAD_ROUND + 1, victim)
    # The dropped update left the victim's model sound.
    metrics = trace["metrics"]
    assert np.isfinite(metrics[metrics["client"] == victim]["loss"]).all()
    assert round_consistency_problems(trace, 1, ROUNDS, n_clients=2) == []


@pytest.mark.slow
def test_undecodable_payload_is_rejected_and_excluded(scenario_file: Path,
                                                      tmp_path: Path) -> None:
    trace = _run_with("corrupt_payload", scenario_file, tmp_path / "run.h5")
    assert trace.status == "completed"
    victim = list(trace["clients"]["name"]).index("far")
    assert victim == VICTIM
    ev = trace["events"]
    rejected = ev[ev["kind"] == "payload_rejected"]
    assert list(zip(rejected["round"], rejected["client"], strict=True)) == [(BAD_ROUND, victim)]
    assert "magic" in rejected["detail"].iloc[0]
    included = ev[ev["kind"] == "aggregate"].set_index("round")["detail"]
    assert included[BAD_ROUND] == "included=1"
    assert included[BAD_ROUND + 1] == "included=2"


# ---------------------------------------------------------------- disk full / unwritable
def _on_every_write(monkeypatch: pytest.MonkeyPatch, before: Any) -> None:
    """Call ``before()`` ahead of every HDF5 dataset write of the trace: rows go
    through ``cosim.trace.writer._write_rows`` (h5py's low-level calls), other
    datasets (``/_committed``) through ``h5py.Dataset.__setitem__``."""
    def wrapped(original: Any) -> Any:
        def write(*args: Any) -> None:
            before()
            original(*args)
        return write

    monkeypatch.setattr(h5py.Dataset, "__setitem__", wrapped(h5py.Dataset.__setitem__))
    monkeypatch.setattr(trace_writer, "_write_rows", wrapped(trace_writer._write_rows))


def _enospc_after(monkeypatch: pytest.MonkeyPatch, n_writes: int) -> None:
    """Make HDF5 dataset writes fail with ENOSPC after ``n_writes`` successful ones."""
    count = [0]

    def count_or_fail() -> None:
        count[0] += 1
        if count[0] > n_writes:
            raise OSError(errno.ENOSPC, "No space left on device")

    _on_every_write(monkeypatch, count_or_fail)


def test_write_failure_raises_output_error_and_keeps_flushed_rounds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC.replace("rounds: 2", "rounds: 6"))
    loaded = load_scenario(scenario)
    reference = tmp_path / "ok.h5"
    run_scenario(loaded, reference, progress=False, plots=False, backend=ScriptedBackend())
    full = read_trace(reference)
    # Fail somewhere inside the fourth round's flush: count the writes of three rounds.
    writes: list[int] = [0]

    def counting() -> None:
        writes[0] += 1

    _on_every_write(monkeypatch, counting)
    probe = tmp_path / "probe.h5"
    run_scenario(load_scenario(scenario, ["distillation.rounds=3"]), probe, progress=False,
                 plots=False, backend=ScriptedBackend())
    monkeypatch.undo()
    _enospc_after(monkeypatch, writes[0] + 5)

    out = tmp_path / "full.h5"
    with pytest.raises(OutputError, match="disk full") as err:
        run_scenario(loaded, out, progress=False, plots=False, backend=ScriptedBackend())
    assert "\n" not in str(err.value)
    monkeypatch.undo()
    trace = read_trace(out)
    n = len(trace["rounds"])
    assert 1 <= n < 6
    assert round_consistency_problems(trace, 1, 6, n_clients=1) == []
    # What survived is exactly the first n rounds of the complete run.
    for table in ("rounds", "metrics"):
        kept = trace[table]
        assert kept.equals(full[table][full[table]["round"] < n].reset_index(drop=True))


def test_unwritable_output_fails_before_any_work(tmp_path: Path) -> None:
    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [*cosim_command(), "run", str(scenario), "--out", str(blocker / "run.h5"),
         "--no-progress"], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cosim: error: "), proc.stderr
    assert "cannot create output directory" in lines[0]


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Any:
    """A 6 MiB tmpfs (root only; skipped where mounting is not permitted)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
def test_cli_on_a_full_disk_exits_2_with_one_line_and_a_readable_trace(
        tiny_tmpfs: Path, tmp_path: Path, cosim_env: dict[str, str]) -> None:
    from cosim.trace.writer import RESERVE_BYTES

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_REAL.replace("rounds: 2", "rounds: 30"))
    # Leave the trace ~120 KB above the writer's reserve: a few rounds fit, then it is full.
    free = shutil.disk_usage(tiny_tmpfs).free
    (tiny_tmpfs / "filler").write_bytes(b"\0" * (free - RESERVE_BYTES - 120_000))
    out = tiny_tmpfs / "run.h5"
    proc = subprocess.run(
        [*cosim_command(), "run", str(scenario), "--out", str(out), "--no-progress",
         "--no-plots", "--set", "output.checkpoint_every_rounds=0"],
        capture_output=True, text=True, timeout=600, env=cosim_env,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    # Engine diagnostics (WARNING log lines about learning) may precede the error.
    lines = [x for x in proc.stderr.strip().splitlines() if not x.startswith("WARNING ")]
    assert len(lines) == 1 and "disk full" in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    trace = read_trace(out)
    assert 1 <= len(trace["rounds"]) < 30
    assert round_consistency_problems(trace, 1, 30, n_clients=2) == []

