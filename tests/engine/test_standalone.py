"""Two-round standalone runs with tiny models for every method; determinism; the trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosim.engine.codec import HEADER_BYTES
from cosim.engine.model_loading import VOCAB_SIZE
from cosim.sim.engine_only import StandaloneResult, run_standalone, write_trace_run
from cosim.trace.reader import read_trace
from tests.engine.tiny_setup import TINY_DATA, tiny_clients, tiny_distillation

# Whole multi-round runs of 3 models each: a few seconds per test on 2 cores.
pytestmark = pytest.mark.slow

METHODS = ("local_only", "fedavg_lora", "fd_full", "fd_topk", "adaptive")


def _run(method: str, seed: int = 0, **overrides: object) -> StandaloneResult:
    # Two rounds of untrained tiny models are no better than uniform, so the default
    # likelihood weighting would exclude every upload; these tests check the mechanics.
    settings = {"client_weighting": "uniform", **overrides}
    return run_standalone(tiny_clients(), TINY_DATA, tiny_distillation(method, **settings), seed)


@pytest.fixture(scope="module")
def results() -> dict[str, StandaloneResult]:
    return {method: _run(method) for method in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_two_rounds(results: dict[str, StandaloneResult], method: str) -> None:
    result = results[method]
    assert [r.round for r in result.rounds] == [0, 1]
    for summary in result.rounds:
        assert len(summary.metrics) == 2 * 3  # own + union per client
        for row in summary.metrics:
            assert np.isfinite(row.loss) and row.loss > 0
            assert row.perplexity == pytest.approx(np.exp(row.loss))
            assert 0.0 <= row.accuracy <= 1.0
        assert not summary.skipped and not summary.excluded


def test_payload_sizes_per_method(results: dict[str, StandaloneResult]) -> None:
    T = 32  # public_tokens_per_round with seq_len 16
    assert results["local_only"].uplink_bytes == 0
    assert results["local_only"].downlink_bytes == 0
    # fd_full: header + T records of V fp16 values, per client and round.
    assert results["fd_full"].rounds[0].uplink_bytes == 3 * (HEADER_BYTES + T * VOCAB_SIZE * 2)
    assert results["fd_topk"].rounds[0].k_mean == 8
    for summary in results["adaptive"].rounds:
        assert summary.uplink_bytes <= 3 * 600  # default_budget_bytes per client
    up = {m: results[m].uplink_bytes for m in METHODS}
    assert up["adaptive"] < up["fd_topk"] < up["fd_full"]
    assert up["fedavg_lora"] > 0


def test_runs_are_deterministic_per_seed(results: dict[str, StandaloneResult]) -> None:
    again = _run("adaptive")
    for one, two in zip(results["adaptive"].rounds, again.rounds, strict=True):
        assert one.uplink_bytes == two.uplink_bytes
        assert [m.loss for m in one.metrics] == [m.loss for m in two.metrics]
    other = _run("adaptive", seed=1)
    assert [m.loss for m in other.rounds[-1].metrics] != [
        m.loss for m in results["adaptive"].rounds[-1].metrics
    ]


def test_ablation_switches_change_the_payload() -> None:
    plain = _run("adaptive", rounds=1, hidden_projection=False, adaptive_k=False,
                 residual_aggregation=False)
    full = _run("adaptive", rounds=1)
    assert plain.rounds[0].k_mean == 8  # fixed k when adaptive_k is off
    assert full.rounds[0].k_mean != plain.rounds[0].k_mean


def test_trace_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    write_trace_run(
        tiny_clients(), TINY_DATA, tiny_distillation("fd_topk", rounds=1), 0, out,
        scenario_yaml="name: test\n", resolved_config={"name": "test"},
    )
    trace = read_trace(out)
    assert trace.status == "completed" and trace.attrs["command"] == "engine"
    tables = trace.tables
    metrics = tables["metrics"]
    assert len(metrics) == 6 and set(metrics["split"]) == {"own", "union"}
    rounds = tables["rounds"]
    assert list(rounds["round"]) == [0] and int(rounds["uplink_bytes"][0]) > 0
    assert list(tables["clients"]["name"]) == ["llama-a", "llama-b", "gpt2"]
    kinds = set(tables["events"]["kind"])
    assert {"compute_done", "uplink_done", "aggregate", "downlink_done"} <= kinds
