"""Hostile outputs and damaged files (issue 16, items 7-12).

Locked outputs, refused overwrites, damaged traces that must not hang
readers, damaged checkpoints, resuming from another directory, and the
command line's behaviour on a closed pipe or a full disk. Each failure is
one ``cosim: error:`` line with exit 2 (bad input) or 1 (runtime failure).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from cosim.cli import main
from cosim.errors import OutputError, TraceFormatError
from cosim.scenario import load_scenario
from cosim.sim.checkpoint import FORMAT_VERSION, load_checkpoint
from cosim.sim.runner import checkpoint_config_json, loaded_from_trace, run_scenario
from cosim.trace.lock import OutputLock
from cosim.trace.reader import read_trace
from cosim.trace.writer import TraceWriter, check_writable
from tests.conftest import cosim_command
from tests.reliability.test_hostile_files import OK, expect_one_line
from tests.sim.conftest import DETERMINISTIC, ScriptedBackend


def _hold_lock(out: Path) -> subprocess.Popen[str]:
    """Another process holding ``out``'s lock (as a running ``cosim run`` does)."""
    code = ("import sys, time\nfrom cosim.trace.lock import OutputLock\n"
            "OutputLock(sys.argv[1]).acquire()\nprint('locked', flush=True)\ntime.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


# ------------------------------------------------------------------ 7: the output lock
def test_a_second_run_on_a_locked_output_refuses(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(OK)
    out = tmp_path / "run.h5"
    holder = _hold_lock(out)
    try:
        line = expect_one_line(capsys, ["run", str(scenario), "--out", str(out),
                                        "--no-progress"], 2, "being written by another run")
        assert f"pid {holder.pid}" in line
        with pytest.raises(OutputError, match=f"pid {holder.pid}"):
            TraceWriter(out, scenario_yaml="", resolved_config={}, seed=0, command="t")
        with pytest.raises(OutputError, match="another run"):
            main(["--debug", "run", "--resume", str(out)])
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the dead holder's lock: the output is free again.
    TraceWriter(out, scenario_yaml="", resolved_config={}, seed=0, command="t").close()
    assert read_trace(out).status == "completed"
    assert not (tmp_path / "run.h5.lock").exists()


def test_the_lock_is_reentrant_and_released(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    with OutputLock(out), OutputLock(out):
        assert (tmp_path / "run.h5.lock").read_text().startswith(f"pid {os.getpid()}")
    assert not (tmp_path / "run.h5.lock").exists()


def test_a_run_holds_the_lock_while_it_writes(tmp_path: Path) -> None:
    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    out = tmp_path / "run.h5"
    seen: list[bool] = []

    class Probe(ScriptedBackend):
        def local_update(self, *args: object, **kwargs: object) -> object:
            seen.append((tmp_path / "run.h5.lock").exists())
            return super().local_update(*args, **kwargs)

    run_scenario(load_scenario(scenario), out, progress=False, plots=False, backend=Probe())
    assert seen and all(seen)
    assert not (tmp_path / "run.h5.lock").exists()


# ------------------------------------------------------------------ 8: overwriting
def test_an_existing_non_hdf5_out_is_not_overwritten(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(OK)
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("years of work\n")
    expect_one_line(capsys, ["run", str(scenario), "--out", str(thesis), "--no-progress"], 2,
                    "not an HDF5 trace; refusing to overwrite it")
    assert thesis.read_text() == "years of work\n"
    check_writable(thesis, replace_foreign=True)  # what --overwrite allows


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_out_equal_to_the_scenario_is_refused(flags: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("s.yaml").write_text(OK)
    expect_one_line(capsys, ["run", "s.yaml", "--out", "./s.yaml", "--no-progress", *flags], 2,
                    "is the scenario file itself")
    assert Path("s.yaml").read_text() == OK


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_a_device_as_out_is_refused(flags: list[str], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(OK)
    expect_one_line(capsys, ["run", str(scenario), "--out", "/dev/full", "--no-progress",
                             *flags], 2, "not a regular file")
    assert Path("/dev/full").exists()


# ------------------------------------------------------------------ 9: damaged traces
def _killed_trace(path: Path) -> bytes:
    """A trace whose writer was SIGKILLed after three flushes (flagged open for write)."""
    code = (
        "import os, sys\nfrom cosim.trace.writer import TraceWriter\n"
        "from cosim.trace.schema import TABLES\n"
        "w = TraceWriter(sys.argv[1], scenario_yaml='x', resolved_config={}, seed=0, "
        "command='run')\n"
        "for i in range(3):\n"
        "    w.append('events', {c.name: ([0] * 500 if c.dtype != 'str' else ['a'] * 500)"
        " for c in TABLES['events']})\n"
        "    w.flush()\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], timeout=60)
    assert proc.returncode == -9
    return path.read_bytes()


@pytest.mark.slow
def test_killed_traces_with_4_kib_zeroed_never_hang(tmp_path: Path) -> None:
    """Every 4 KiB-aligned zeroed block (and half-block shifts): an answer within 5 s.

    Before: a zeroed global heap collection sent HDF5's decoder into an
    endless loop (``cosim inspect`` and ``cosim plot`` hung past 60 s).
    """
    original = _killed_trace(tmp_path / "killed.h5")
    damaged = tmp_path / "damaged.h5"
    refused = 0
    for offset in range(0, len(original), 2048):
        data = bytearray(original)
        data[offset:offset + 4096] = bytes(len(data[offset:offset + 4096]))
        damaged.write_bytes(bytes(data))
        start = time.monotonic()
        try:
            read_trace(damaged)
        except TraceFormatError as exc:
            assert "\n" not in str(exc)
            refused += 1
        assert time.monotonic() - start < 5.0, f"offset {offset}"
    assert refused > 0


def test_inspect_of_a_damaged_killed_trace_is_one_line(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    original = _killed_trace(tmp_path / "killed.h5")
    assert read_trace(tmp_path / "killed.h5").status == "running"
    data = bytearray(original)
    data[40960:45056] = bytes(4096)  # a global heap collection: the case that hung
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(bytes(data))
    expect_one_line(capsys, ["inspect", str(damaged)], 2, "corrupt trace", seconds=5.0)
    expect_one_line(capsys, ["plot", str(damaged)], 2, "corrupt trace", seconds=30.0)


# ------------------------------------------------------------------ 10: damaged checkpoints
class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def _torch_save(obj: object, path: Path) -> None:
    import torch

    torch.save(obj, path)


GOOD = {"format": FORMAT_VERSION, "config_json": "{}", "next_round": 1, "now_s": 1.0,
        "rows": {"events": 3}, "engine": None,
        "journal": {"calls": [], "applied": {}, "downlink": ""}}


def _checkpoint_cases(tmp: Path) -> dict[str, tuple[object, str]]:
    marker = str(tmp / "pwned")
    return {
        "random bytes": (os.urandom(4096), "unreadable checkpoint"),
        "empty file": (b"", "unreadable checkpoint"),
        "plain pickle that would run code": (pickle.dumps({"x": _Boom(marker)}),
                                             "unreadable checkpoint"),
        "torch file that would run code": (("torch", {"x": _Boom(marker)}),
                                           "unreadable checkpoint"),
        "a list": (("torch", [1, 2]), "not a cosim checkpoint"),
        "format 99": (("torch", {**GOOD, "format": 99}), "not a cosim checkpoint"),
        # Format 2 journals named clients; 3 numbers them (same keys, so the version decides).
        "format 2, clients by name": (("torch", {**GOOD, "format": 2, "journal": {
            **GOOD["journal"], "applied": {"a": ""}}}), f"of format {FORMAT_VERSION}"),
        "applied downlinks keyed by name": (("torch", {**GOOD, "journal": {
            **GOOD["journal"], "applied": {"a": ""}}}), "not keyed by client index"),
        "no config_json": (("torch", {k: v for k, v in GOOD.items() if k != "config_json"}),
                           "missing 'config_json'"),
        "config_json not JSON": (("torch", {**GOOD, "config_json": "{"}), "not JSON"),
        "rows of strings": (("torch", {**GOOD, "rows": {"events": "x"}}), "'rows'"),
        "next_round a string": (("torch", {**GOOD, "next_round": "1"}), "'next_round'"),
        "negative time": (("torch", {**GOOD, "now_s": -1.0}), "negative"),
        "journal without calls": (("torch", {**GOOD, "journal": {"applied": {}}}),
                                  "engine journal lacks"),
        "journal calls not a list": (("torch", {**GOOD, "journal": {**GOOD["journal"],
                                                                    "calls": "x"}}),
                                     "engine journal is not"),
        "other configuration": (("torch", {**GOOD, "config_json": '{"a": 1}'}),
                                "different configuration"),
    }


@pytest.mark.parametrize("case", list(_checkpoint_cases(Path("."))))
def test_damaged_checkpoints_give_one_line(case: str, tmp_path: Path) -> None:
    content, fragment = _checkpoint_cases(tmp_path)[case]
    path = tmp_path / "run.h5.ckpt"
    if isinstance(content, tuple):
        _torch_save(content[1], path)
    else:
        path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's weights-only notices must not leak
        with pytest.raises(TraceFormatError) as info:
            load_checkpoint(path, "{}")
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_a_well_formed_but_wrong_checkpoint_state_is_one_line(tmp_path: Path) -> None:
    """Structure right, contents wrong (a crafted engine journal): TraceFormatError on resume."""
    import torch

    scenario = tmp_path / "det.yaml"
    scenario.write_text(DETERMINISTIC)
    out = tmp_path / "run.h5"
    loaded = load_scenario(scenario)
    run_scenario(loaded, out, progress=False, plots=False, backend=ScriptedBackend())
    ckpt = tmp_path / "run.h5.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["journal"]["calls"][0] = ["update", "no such client"]
    torch.save(state, ckpt)
    with pytest.raises(TraceFormatError, match="checkpoint state does not fit this run"):
        run_scenario(loaded, out, progress=False, plots=False, backend=ScriptedBackend(),
                     resume=True)


# ------------------------------------------------------------------ 11: resume elsewhere
def test_resume_from_another_directory_resolves_paths_as_the_original(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "scen").mkdir(parents=True)
    (project / "scen" / "t.csv").write_text("time_s,snr_db\n0,10\n1,12\n")
    (project / "scen" / "s.yaml").write_text(DETERMINISTIC.replace(
        "output: {plots: false}", "output: {plots: false}\nchannel: {trace: t.csv}"))
    monkeypatch.chdir(project)
    loaded = load_scenario("scen/s.yaml")  # relative, as typed on the command line
    out = project / "run.h5"
    run_scenario(loaded, out, progress=False, plots=False, backend=ScriptedBackend())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = loaded_from_trace(out)
    assert again.resolved_plain() == loaded.resolved_plain()
    assert again.config.channel is not None
    assert again.config.channel.trace == str((project / "scen" / "t.csv").resolve())
    # …so the checkpoint (which stores the resolved config) is accepted.
    load_checkpoint(project / "run.h5.ckpt", checkpoint_config_json(again))


# ------------------------------------------------------------------ 12: pipes, full disks
def test_inspect_into_a_closed_pipe_exits_quietly(run_trace: Path) -> None:
    """``cosim inspect RUN.h5 | head``: the reader leaves early; no traceback, exit 141."""
    trace = run_trace
    proc = subprocess.Popen([*cosim_command(), "inspect", str(trace)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| true`: the reader is gone before anything is written
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


@pytest.mark.parametrize("argv", [["inspect", "{trace}"], ["validate", "{scenario}",
                                                            "--print", "yaml"]])
def test_output_to_a_full_device_is_one_line(argv: list[str], run_trace: Path,
                                            tmp_path: Path) -> None:
    trace = run_trace
    (tmp_path / "det.yaml").write_text(DETERMINISTIC)
    args = [a.format(trace=trace, scenario=tmp_path / "det.yaml") for a in argv]
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*cosim_command(), *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert lines == ["cosim: error: cannot write output: No space left on device"], proc.stderr


def test_multi_line_messages_are_folded(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import cosim.cli.foundation
    from cosim.errors import ScenarioError

    def handler(args: object) -> int:
        raise ScenarioError("first\nsecond\n  third")

    monkeypatch.setattr(cosim.cli.foundation, "run_inspect", handler)
    assert main(["inspect", "x.h5"]) == 2
    assert capsys.readouterr().err == "cosim: error: first second third\n"
