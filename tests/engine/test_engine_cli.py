"""``cosim engine``: prints rounds and bytes, writes the trace, rejects bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cosim.cli.engine import add_parser
from cosim.errors import ScenarioError, UsageError
from cosim.trace.reader import read_trace

SCENARIO = """\
name: cli-test
seed: 2
clients:
  - name: a
    model: {preset: tiny-llama, lora_rank: 2}
    domain: kjv/law
  - name: b
    model: {preset: tiny-qwen2, lora_rank: 2}
    domain: shakespeare/comedies
data:
  domains: [shakespeare/comedies, kjv/law]
  seq_len: 16
  public_tokens: 256
  shard_tokens: 128
  eval_tokens: 32
distillation:
  method: fd_topk
  rounds: 3
  public_tokens_per_round: 16
  local_steps: 1
  batch_size: 2
  k: 4
"""


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["engine", *argv])
    return args.handler(args)


def test_engine_command_runs_and_writes_trace(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run.h5"
    code = _run([str(scenario), "--out", str(out), "--rounds", "1",
                 "--set", "distillation.k=3"])
    assert code == 0
    text = capsys.readouterr().out
    assert "cli-test: method fd_topk, 2 clients, 1 rounds (no network)" in text
    assert "round   0" in text and "k   3.0" in text and f"trace: {out}" in text
    trace = read_trace(out)
    assert trace.status == "completed"
    assert list(trace["rounds"]["round"]) == [0]
    assert "distillation.k=3" in trace.attrs["overrides_json"]


def test_engine_command_rejects_bad_input(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.replace("method: fd_topk", "method: fedprox"))
    with pytest.raises(ScenarioError, match="method"):
        _run([str(scenario), "--out", str(tmp_path / "x.h5")])
    with pytest.raises(UsageError, match="--rounds: must be >= 1"):
        _run([str(scenario), "--rounds", "0"])
