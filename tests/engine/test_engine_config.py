"""Engine config validation and method resolution."""

from __future__ import annotations

import pytest

from cosim.engine.config import DataConfig, DistillationConfig, EngineClientSpec, ModelSpec
from cosim.engine.methods import plan_for
from cosim.errors import ConfigFieldError


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


def test_methods_resolve_to_plans() -> None:
    assert plan_for(DistillationConfig(method="local_only")).upload == "none"
    assert plan_for(DistillationConfig(method="fedavg_lora")).upload == "adapters"
    dense = plan_for(DistillationConfig(method="fd_full"))
    assert dense.upload == "dense" and not dense.hidden
    topk = plan_for(DistillationConfig(method="fd_topk", k_policy="entropy_adaptive"))
    assert (topk.k_policy, topk.aggregation, topk.hidden) == ("fixed", "zero_pad", False)
    full = plan_for(DistillationConfig(method="adaptive"))
    assert (full.k_policy, full.aggregation, full.hidden) == ("channel_adaptive", "residual", True)
    ablated = plan_for(DistillationConfig(
        method="adaptive", adaptive_k=False, residual_aggregation=False, hidden_projection=False
    ))
    assert (ablated.k_policy, ablated.aggregation, ablated.hidden) == (
        "fixed", "masked_mean", False
    )
    assert not plan_for(DistillationConfig(method="adaptive", beta=0.0)).hidden
    forced = plan_for(DistillationConfig(method="adaptive", aggregation="zero_pad"))
    assert forced.aggregation == "zero_pad"
