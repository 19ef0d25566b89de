"""``cosim inspect``: JSON/CSV exports that parse, wording, wireless-only traces."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from cosim.cli import main


def test_inspect_json_is_pure_json_with_summary_and_rounds(
        run_trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(run_trace), "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "completed" and doc["command"] == "run"
    assert len(doc["rounds"]) == 2 == doc["summary"]["rounds"]
    assert doc["rounds"][1]["cum_uplink_bytes"] == doc["summary"]["uplink_bytes"]


def test_inspect_csv_is_the_round_table(run_trace: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(run_trace), "--csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table["round"]) == [0, 1]
    assert (table["latency_s"] == table["end_s"] - table["start_s"]).all()


def test_summary_wording(run_trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(run_trace)]) == 0
    out = capsys.readouterr().out
    assert "rounds 2 of 2 planned" in out
    assert "transmissions per sent packet" in out and "mean attempts" not in out
    assert "after round 2 of 2" in out


def test_wireless_only_trace_shows_no_method_or_rounds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "w.yaml"
    scenario.write_text("name: w\nseed: 4\nclients:\n  - {name: a, count: 2, distance_m: 100}\n"
                        "wireless:\n  traffic: {payload_bytes: 2000, period_s: 0.1, rounds: 1}\n")
    out = tmp_path / "w.h5"
    assert main(["wireless", str(scenario), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "method" not in text and "rounds " not in text
    assert "transfers" in text


def test_cosim_plot_writes_png_and_pdf_quietly(run_trace: Path, tmp_path: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figs"
    assert main(["plot", str(run_trace), "--out", str(out)]) == 0
    captured = capfd.readouterr()
    printed = [Path(line) for line in captured.out.splitlines()]
    assert printed and all(p.is_file() and p.parent == out for p in printed)
    assert {p.suffix for p in printed} == {".png", ".pdf"}
    assert "Warning" not in captured.err
