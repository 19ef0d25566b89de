"""Mistakes caught by ``cosim validate``: preset typos, missing traces, hopeless clients."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from cosim.cli import main
from cosim.errors import ScenarioError
from cosim.scenario import load_scenario
from cosim.scenario_checks import model_kind, optimistic_uplink_bps, scenario_warnings

BASE = """\
name: checks
clients:
  - {{name: near, model: {{preset: {preset}}}, distance_m: 50}}
  - {{name: edge, model: {{preset: tiny-gpt2}}, distance_m: {far}}}
wireless:
  path_loss: {{model: free_space}}
  fading: {{distribution: none}}
server: {{round_deadline_s: {deadline}}}
"""


def _write(tmp_path: Path, preset: str = "tiny-llama", far: float = 300.0,
           deadline: float = 1.0, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(BASE.format(preset=preset, far=far, deadline=deadline) + extra)
    return path


def test_preset_typo_exits_2_quickly_with_did_you_mean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, preset="tiny-lama")
    start = time.perf_counter()
    code = main(["validate", str(path)])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert len(err) == 1 and "clients[0].model.preset" in err[0]
    assert "did you mean 'tiny-llama'?" in err[0]


@pytest.mark.parametrize(("name", "kind"), [
    ("tiny-qwen2", "preset"), ("smollm2-12l", "preset"), ("./models/x", "local"),
    ("/abs/model", "local"), ("HuggingFaceTB/SmolLM2-135M", "hub")])
def test_model_kinds(name: str, kind: str) -> None:
    assert model_kind(name) == kind


@pytest.mark.parametrize("name", ["tiny-lama", "gpt2", "smollm2"])
def test_a_bare_name_is_never_a_hub_id(name: str) -> None:
    with pytest.raises(ScenarioError, match="unknown model preset"):
        model_kind(name)


def test_hub_is_offline_unless_the_scenario_names_a_hub_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    load_scenario(_write(tmp_path, preset="org/some-model"))
    assert "HF_HUB_OFFLINE" not in __import__("os").environ
    load_scenario(_write(tmp_path))
    assert __import__("os").environ["HF_HUB_OFFLINE"] == "1"


def test_missing_channel_trace_fails_validation(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, extra="channel: {trace: gone.csv}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "channel.trace" in err and "gone.csv: no such file" in err


def test_optimistic_rate_is_shannon_over_the_band_at_free_space_loss(tmp_path: Path) -> None:
    cfg = load_scenario(_write(tmp_path)).config
    w = cfg.wireless
    d = 300.0
    # Friis: PL = 20 log10(4π d f / c); noise = N0 + 10 log10 B + NF.
    pl = 20 * math.log10(4 * math.pi * d * w.carrier_hz / 299_792_458.0)
    snr_db = (w.uplink_tx_power_dbm - pl
              - (w.noise_psd_dbm_per_hz + 10 * math.log10(w.bandwidth_hz) + w.noise_figure_db))
    gap = getattr(w.link, "snr_gap_db", 0.0)
    expected = w.bandwidth_hz * math.log2(1 + 10 ** ((snr_db - gap) / 10))
    assert optimistic_uplink_bps(cfg, d) == pytest.approx(expected, rel=1e-3)


def test_warnings_name_the_client_beyond_the_cell_and_the_hopeless_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert scenario_warnings(load_scenario(_write(tmp_path)).config) == []
    path = _write(tmp_path, far=1e5, deadline=1e-3)  # 100 km: free-space SNR ≈ −24 dB
    lines = scenario_warnings(load_scenario(path).config)
    assert len(lines) == 2
    assert lines[0].startswith("client edge: distance_m 100000 is beyond the cell radius")
    assert lines[1].startswith("client edge: at 100000 m") and "miss every round" in lines[1]
    capsys.readouterr()
    assert main(["validate", str(path)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "client edge" in line]
    assert len(err) <= 2  # each line once per process (the load above already reported)
