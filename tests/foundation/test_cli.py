"""The real ``cosim`` console script: exit codes, one-line errors, no half-written output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from cosim.trace.writer import TraceWriter
from tests.conftest import cosim_command

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cosim_command(), *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cosim: error: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_validate_shipped_scenarios() -> None:
    files = sorted(str(p) for p in (REPO / "scenarios").glob("*.yaml"))
    proc = run_cli("validate", *files)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok: ") == len(files)


def test_validate_prints_resolved_config() -> None:
    proc = run_cli("validate", "scenarios/quickstart.yaml", "--print", "json")
    assert proc.returncode == 0
    assert '"bandwidth_hz": 5000000.0' in proc.stdout


def test_bad_yaml_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("clients:\n  - name: a\n    distance_m: -3\n")
    proc = run_cli("validate", str(bad))
    assert_one_line_error(proc, 2, f"{bad}:3 clients[0].distance_m: must be > 0, got -3.0")


def test_bad_override_is_one_line_exit_2() -> None:
    proc = run_cli("validate", "scenarios/quickstart.yaml", "--set", "wireless.nope=1")
    assert_one_line_error(proc, 2, "--set wireless.nope: no such setting 'nope'")


def test_usage_errors_exit_2() -> None:
    proc = run_cli("no-such-command")
    assert proc.returncode == 2
    assert "cosim: error:" in proc.stderr
    proc = run_cli("validate", "--bogus-flag", "x.yaml")
    assert proc.returncode == 2


def test_debug_shows_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [\n")
    proc = run_cli("--debug", "validate", str(bad))
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_inspect_summarises_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with TraceWriter(
        path, scenario_yaml="x", resolved_config={"distillation": {"method": "adaptive"}},
        seed=1, command="test",
    ) as trace:
        trace.append("rounds", {
            "round": [0, 1], "start_s": [0.0, 1.0], "deadline_s": [0.9, 1.9],
            "end_s": [1.0, 2.2], "n_selected": 2, "n_delivered": [2, 1], "n_partial": [0, 1],
            "n_missed": 0, "uplink_bytes": [1000, 1500], "downlink_bytes": 300,
        })
        trace.append("metrics", {
            "time_s": 2.2, "round": 1, "client": [0, 1], "split": "own",
            "loss": [2.0, 3.0], "perplexity": np.exp([2.0, 3.0]), "accuracy": [0.3, 0.2],
        })
    proc = run_cli("inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "status     completed" in proc.stdout
    assert "rounds     2" in proc.stdout
    assert "uplink 2.50 kB" in proc.stdout
    assert "method     adaptive" in proc.stdout


def test_inspect_bad_file_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_text("nope")
    assert_one_line_error(run_cli("inspect", str(junk)), 2, "not a readable HDF5 trace")
