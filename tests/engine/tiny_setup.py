"""Tiny engine configs shared by the engine tests (run in seconds on 2 cores)."""

from __future__ import annotations

from cosim.engine.config import DataConfig, DistillationConfig, EngineClientSpec, ModelSpec

TINY_DATA = DataConfig(
    domains=("shakespeare/comedies", "kjv/law"),
    seq_len=16,
    public_tokens=512,
    shard_tokens=256,
    eval_tokens=32,
)


def tiny_distillation(method: str = "adaptive", **overrides: object) -> DistillationConfig:
    """A 2-round config with one step per round and 32 public tokens."""
    settings: dict[str, object] = {
        "method": method,
        "rounds": 2,
        "public_tokens_per_round": 32,
        "local_steps": 1,
        "batch_size": 2,
        "k": 8,
        "k_min": 2,
        "k_max": 16,
        "downlink_k": 16,
        "default_budget_bytes": 600,
        "hidden_rank": 4,
    }
    settings.update(overrides)
    return DistillationConfig(**settings)  # type: ignore[arg-type]


def tiny_clients() -> list[EngineClientSpec]:
    """Two tiny-llama clients (one shared base) and a tiny-gpt2, non-IID domains."""
    return [
        EngineClientSpec("llama-a", ModelSpec("tiny-llama", lora_rank=4), "kjv/law"),
        EngineClientSpec("llama-b", ModelSpec("tiny-llama", lora_rank=4), "shakespeare/comedies"),
        EngineClientSpec("gpt2", ModelSpec("tiny-gpt2", lora_rank=4), "shakespeare/comedies"),
    ]
