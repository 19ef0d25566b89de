"""``cosim validate --print``: parseable output, only the settings that apply, auto resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cosim.cli import main

SCENARIO = """\
name: p
clients: [{name: a, model: {preset: tiny-llama}, distance_m: 50}]
distillation: {method: METHOD}
"""
STUDY = """\
name: s
base: p.yaml
seeds: [1, 2]
grid: {distillation.method: [fd_topk, adaptive]}
output_dir: out
"""


def _scenario(tmp_path: Path, method: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(SCENARIO.replace("METHOD", method))
    return path


@pytest.mark.parametrize("flag", ["-q", None])
def test_print_json_is_pure_json_with_only_fd_topk_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str | None) -> None:
    argv = ["validate", str(_scenario(tmp_path, "fd_topk")), "--print", "json"]
    assert main(([flag] if flag else []) + argv) == 0
    doc = json.loads(capsys.readouterr().out)
    d = doc["distillation"]
    assert d["method"] == "fd_topk" and d["k"] == 32
    assert d["aggregation"] == "zero_pad"  # auto resolved
    for key in ("adaptive_k", "hidden_projection", "k_policy", "k_min", "coverage"):
        assert key not in d


def test_print_yaml_resolves_adaptive_aggregation_and_drops_fixed_k(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(_scenario(tmp_path, "adaptive")), "--print", "yaml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ok: ")
    d = yaml.safe_load(out)["distillation"]
    assert d["aggregation"] == "residual" and "k" not in d and d["adaptive_k"] is True


def test_local_only_prints_no_distillation_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(_scenario(tmp_path, "local_only")), "--print", "json"]) == 0
    d = json.loads(capsys.readouterr().out)["distillation"]
    assert not {"temperature", "alpha", "aggregation", "k", "client_weighting"} & set(d)


def test_print_works_for_study_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _scenario(tmp_path, "adaptive")
    (tmp_path / "s.yaml").write_text(STUDY)
    assert main(["validate", str(tmp_path / "s.yaml"), "--print", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["study"]["seeds"] == [1, 2]
    assert [r["run_id"] for r in doc["runs"]] == [
        "method=fd_topk,seed=1", "method=fd_topk,seed=2",
        "method=adaptive,seed=1", "method=adaptive,seed=2"]


def test_several_files_print_a_json_list(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    a = _scenario(tmp_path, "fd_full")
    b = tmp_path / "b.yaml"
    b.write_text(a.read_text())
    assert main(["validate", str(a), str(b), "--print", "json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 2 and "k" not in docs[0]["distillation"]
