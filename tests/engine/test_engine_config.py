"""Engine config validation and method resolution."""

from __future__ import annotations

import pytest

from cosim.engine.config import (
    DataConfig,
    DistillationConfig,
    EngineClientSpec,
    ModelSpec,
    check_method_clients,
)
from cosim.engine.strategies import METHODS, Strategy, build_strategy
from cosim.errors import ConfigFieldError, ScenarioError
from cosim.scenario import parse_scenario


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ModelSpec(lora_rank=0), "lora_rank: must be in [1, 1024], got 0"),
        (lambda: ModelSpec(lora_dropout=1.0), "lora_dropout: must be in [0.0, 1.0), got 1.0"),
        (lambda: ModelSpec(preset=" "), "preset: must be a non-empty"),
        (lambda: ModelSpec(lora_targets=()), "lora_targets: must name at least one module"),
        (lambda: EngineClientSpec(""), "name: must be a non-empty string"),
        (lambda: DataConfig(domains=("kjv",)), "domains: must look like 'source/group'"),
        (lambda: DataConfig(partition="iid"), "partition: must be one of"),
        (lambda: DataConfig(dirichlet_alpha=0), "dirichlet_alpha: must be > 0, got 0"),
        (lambda: DataConfig(seq_len=64, shard_tokens=10), "shard_tokens: must be >= 64"),
        (lambda: DataConfig(test_fraction=0.0), "test_fraction: must be in (0.0, 0.9]"),
        (lambda: DistillationConfig(method="fedprox"), "method: must be one of"),
        (lambda: DistillationConfig(k_min=8, k_max=4), "k_max: must be >= 8, got 4"),
        (lambda: DistillationConfig(safety_factor=0.0), "safety_factor: must be in (0.0, 1.0]"),
        (lambda: DistillationConfig(hidden_layer=0.0), "hidden_layer: must be a negative"),
        (lambda: DistillationConfig(hidden_layer=-1.5), "hidden_layer: must be a negative"),
        (lambda: DistillationConfig(temperature=-1), "temperature: must be > 0, got -1"),
        (lambda: DistillationConfig(device="tpu"), "device: must be one of"),
    ],
)
def test_bad_values_name_the_field(factory, message: str) -> None:
    with pytest.raises(ConfigFieldError) as info:
        factory()
    assert message in str(info.value)


def test_trust_remote_code_warns() -> None:
    with pytest.warns(UserWarning, match="trust_remote_code=True runs code"):
        ModelSpec(preset="some/hub-model", trust_remote_code=True)


def test_methods_resolve_to_strategies() -> None:
    def build(**kw: object) -> Strategy:
        return build_strategy(DistillationConfig(**kw))  # type: ignore[arg-type]

    assert set(METHODS) == {"local_only", "fedavg_lora", "fd_full", "fd_topk", "adaptive"}
    local = build(method="local_only")
    assert not local.uploads and not local.distils
    fedavg = build(method="fedavg_lora")
    assert fedavg.uploads and not fedavg.distils
    dense = build(method="fd_full")
    assert dense.distils and not dense.hidden
    topk = build(method="fd_topk", k_policy="entropy_adaptive")
    assert (topk.k_policy, topk.aggregation, topk.hidden) == ("fixed", "zero_pad", False)
    full = build(method="adaptive")
    assert (full.k_policy, full.aggregation, full.hidden) == ("channel_adaptive", "residual", True)
    ablated = build(method="adaptive", adaptive_k=False, residual_aggregation=False,
                    hidden_projection=False)
    assert (ablated.k_policy, ablated.aggregation, ablated.hidden) == (
        "fixed", "masked_mean", False
    )
    assert not build(method="adaptive", beta=0.0).hidden
    assert build(method="adaptive", aggregation="zero_pad").aggregation == "zero_pad"
    assert DistillationConfig().client_weighting == "likelihood"


def test_fedavg_needs_two_clients_of_one_architecture() -> None:
    a = EngineClientSpec("a", ModelSpec(preset="tiny-llama"))
    b = EngineClientSpec("b", ModelSpec(preset="tiny-gpt2"))
    c = EngineClientSpec("c", ModelSpec(preset="tiny-llama", lora_rank=4))
    with pytest.raises(ConfigFieldError, match=r"method: fedavg_lora .* a \(tiny-llama, LoRA r8\)"):
        check_method_clients("fedavg_lora", [a, b, c])
    check_method_clients("fedavg_lora", [a, b, EngineClientSpec("d", ModelSpec("tiny-llama"))])
    check_method_clients("fd_topk", [a, b])


def test_fedavg_rejected_at_scenario_load() -> None:
    text = """
clients:
  - {name: x, model: {preset: tiny-llama}}
  - {name: y, model: {preset: tiny-gpt2}}
distillation: {method: fedavg_lora}
"""
    with pytest.raises(ScenarioError, match=r"distillation.method.*fedavg_lora.*x \(tiny-llama"):
        parse_scenario(text, "s.yaml")
    parse_scenario(text.replace("tiny-gpt2", "tiny-llama"), "s.yaml")
