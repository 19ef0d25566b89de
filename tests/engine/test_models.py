"""Shared-base multi-adapter models, tiny presets, FLOP accounting."""

from __future__ import annotations

import pytest
import torch

from cosim.engine.config import ModelSpec
from cosim.engine.model_loading import VOCAB_SIZE, load_base_model, tiny_config
from cosim.engine.models import ModelPool, hidden_layer_index
from cosim.errors import ScenarioError


def _step(client, x: torch.Tensor) -> None:
    """One SGD step on the client's trainable weights (lr large enough to move them)."""
    client.activate()
    opt = torch.optim.SGD(client.trainable_parameters(), lr=1.0)
    logits, _ = client.forward(x[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB_SIZE), x[:, 1:].reshape(-1))
    loss.backward()
    opt.step()
    opt.zero_grad()


def test_same_base_is_shared_and_adapters_are_independent() -> None:
    pool = ModelPool(seed=0, device=torch.device("cpu"))
    a = pool.add_client("a", ModelSpec("tiny-llama", lora_rank=4))
    b = pool.add_client("b", ModelSpec("tiny-llama", lora_rank=8))
    g = pool.add_client("g", ModelSpec("tiny-gpt2", lora_rank=4))
    assert len(pool.bases) == 2
    assert a.model is b.model and a.model is not g.model
    norms = 5 * 128  # tiny presets train their 5 norms (2 per layer + final), width 128
    assert (a.n_trainable() - norms) * 2 == b.n_trainable() - norms  # rank 4 vs 8 LoRA
    base_before = {n: p.clone() for n, p in a.model.named_parameters() if ".client" not in n}
    b_before = b.adapter_state()
    x = torch.randint(0, VOCAB_SIZE, (2, 12), generator=torch.Generator().manual_seed(1))
    b.activate()
    out_b_before, _ = b.forward(x)
    a_before = a.adapter_state()
    _step(a, x)
    a_after = a.adapter_state()
    assert any(not torch.equal(a_before[k], a_after[k]) for k in a_before)
    for key, value in b.adapter_state().items():
        assert torch.equal(value, b_before[key]), key
    for name, param in a.model.named_parameters():
        if ".client" not in name:  # neither an adapter's LoRA nor its own norms
            assert torch.equal(param, base_before[name]), name
            assert not param.requires_grad
    b.activate()
    out_b_after, _ = b.forward(x)
    torch.testing.assert_close(out_b_after, out_b_before, rtol=0, atol=0)
    a.activate()
    out_a, _ = a.forward(x)
    assert not torch.allclose(out_a, out_b_after)


def test_only_the_active_adapter_is_trainable() -> None:
    pool = ModelPool(seed=0, device=torch.device("cpu"))
    a = pool.add_client("a", ModelSpec("tiny-qwen2", lora_rank=2))
    b = pool.add_client("b", ModelSpec("tiny-qwen2", lora_rank=2))
    a.activate()
    trainable = {n for n, p in a.model.named_parameters() if p.requires_grad}
    assert trainable and all(f".{a.adapter}." in n for n in trainable)
    b.activate()
    assert all(f".{b.adapter}." in n for n, p in b.model.named_parameters() if p.requires_grad)


def test_adapter_state_round_trip_between_clients() -> None:
    pool = ModelPool(seed=3, device=torch.device("cpu"))
    a = pool.add_client("a", ModelSpec("tiny-gpt2", lora_rank=2))
    b = pool.add_client("b", ModelSpec("tiny-gpt2", lora_rank=2))
    x = torch.randint(0, VOCAB_SIZE, (1, 8), generator=torch.Generator().manual_seed(0))
    _step(a, x)
    b.load_adapter_state(a.adapter_state())
    a.activate()
    out_a, _ = a.forward(x)
    b.activate()
    out_b, _ = b.forward(x)
    torch.testing.assert_close(out_a, out_b)


@pytest.mark.slow
def test_tiny_presets_are_deterministic_and_share_the_vocabulary() -> None:
    for preset in ("tiny-gpt2", "tiny-llama", "tiny-qwen2"):
        cfg = tiny_config(preset)
        assert cfg.vocab_size == VOCAB_SIZE
        one = load_base_model(ModelSpec(preset), seed=4)
        two = load_base_model(ModelSpec(preset), seed=4)
        other = load_base_model(ModelSpec(preset), seed=5)
        params = [dict(m.named_parameters()) for m in (one, two, other)]
        assert all(torch.equal(params[0][n], params[1][n]) for n in params[0])
        assert any(not torch.equal(params[0][n], params[2][n]) for n in params[0])
        # The (tied) embedding is SmolLM2's, reduced to width 128, for every seed.
        embedding = one.get_input_embeddings().weight
        torch.testing.assert_close(embedding, other.get_input_embeddings().weight)
        assert embedding.norm(dim=1).mean().item() == pytest.approx(0.6, rel=1e-4)
        assert not any(p.requires_grad for p in one.parameters())


def test_global_torch_rng_is_left_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ModelPool(seed=0, device=torch.device("cpu")).add_client("a", ModelSpec("tiny-llama"))
    torch.testing.assert_close(torch.rand(3), expected)


def test_flops_follow_the_documented_formula() -> None:
    pool = ModelPool(seed=0, device=torch.device("cpu"))
    c = pool.add_client("a", ModelSpec("tiny-llama", lora_rank=4))
    n, n_train = c.n_params(), c.n_trainable()
    assert n == sum(p.numel() for p in c.model.parameters())  # one client on the base
    assert c.forward_flops(10) == 2 * n * 10
    assert c.train_flops(10) == (4 * n + 2 * n_train) * 10


def test_hidden_layer_index() -> None:
    assert hidden_layer_index(-1, 30) == 30  # output_hidden_states has 31 entries
    assert hidden_layer_index(-2, 30) == 29
    assert hidden_layer_index(0.5, 30) == 15
    assert hidden_layer_index(1.0, 4) == 4
    assert hidden_layer_index(0.01, 4) == 1


def test_unknown_model_is_a_scenario_error(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="neither a preset"):
        load_base_model(ModelSpec(str(tmp_path / "nope")), seed=0)
    with pytest.raises(ScenarioError, match="layers must be in"):
        load_base_model(ModelSpec("smollm2-31l"), seed=0)


def test_local_hf_directory_loads_with_safetensors_only(tmp_path) -> None:
    base = load_base_model(ModelSpec("tiny-qwen2"), seed=9)
    base.save_pretrained(tmp_path / "qwen", safe_serialization=True)
    loaded = load_base_model(ModelSpec(str(tmp_path / "qwen")), seed=0)
    assert loaded.config.model_type == "qwen2"
    for (name, a), (_, b) in zip(base.state_dict().items(), loaded.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    pool = ModelPool(seed=0, device=torch.device("cpu"))
    client = pool.add_client("local", ModelSpec(str(tmp_path / "qwen"), lora_rank=2))
    assert client.n_trainable() == 2 * 2 * (2 * 128 + 128 + 64)  # q (128→128), v (128→64)
    # Pickled weights are never unpickled: a .bin-only directory is refused.
    pickled = tmp_path / "pickled"
    base.config.save_pretrained(pickled)
    torch.save(base.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(ScenarioError, match="neither a preset"):
        load_base_model(ModelSpec(str(pickled)), seed=0)
