"""A client's work does not grow with the number of clients sharing its base (issue 14).

The shortcuts of :mod:`cosim.engine.shared_base` and :class:`ClientModel`
must leave exactly the model state peft's own (O(N)) calls leave, and a
client's update, forward, evaluation and adapter state must make the same
number of Python calls whether 1 or 7 other clients share its base.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pytest
import torch

from cosim.engine.config import ModelSpec
from cosim.engine.evaluation import evaluate_client
from cosim.engine.model_loading import VOCAB_SIZE
from cosim.engine.models import ClientModel, ModelPool
from cosim.engine.training import LocalTrainer, LossWeights

SPECS = [
    ModelSpec("tiny-llama", lora_rank=4, lora_dropout=0.1),
    ModelSpec("tiny-gpt2", lora_rank=4),
    ModelSpec("tiny-llama", lora_rank=8),
    ModelSpec("tiny-llama", lora_rank=4, lora_targets=("q_proj", "v_proj")),
    ModelSpec("tiny-gpt2", lora_rank=2, lora_dropout=0.2),
    ModelSpec("tiny-llama", lora_rank=4),
]


def _pool(isolate: bool) -> tuple[ModelPool, list[ClientModel]]:
    pool = ModelPool(seed=2, device=torch.device("cpu"), isolate_adds=isolate)
    return pool, [pool.add_client(f"c{i}", s) for i, s in enumerate(SPECS)]


def _state(model: torch.nn.Module) -> list[tuple]:
    """Everything peft's calls decide: names, order, values, grads flags, modes, active adapters."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import AuxiliaryTrainingWrapper

    out: list[tuple] = [("active", model.active_adapter, model.base_model.active_adapter)]
    for name, p in model.named_parameters():
        out.append((name, tuple(p.shape), p.requires_grad, p.detach().clone()))
    for name, m in model.named_modules():
        active = None
        if isinstance(m, BaseTunerLayer | AuxiliaryTrainingWrapper):
            active = (list(m.active_adapters), sorted(m._adapters)
                      if isinstance(m, AuxiliaryTrainingWrapper) else None)
        out.append((name, type(m).__name__, m.training, active))
    return out


def _assert_same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y), (x[0], y[0])
        for u, v in zip(x, y, strict=True):
            same = torch.equal(u, v) if isinstance(u, torch.Tensor) else u == v
            assert same, (x[:3], y[:3])


def test_isolated_adds_and_fast_activation_match_peft() -> None:
    _, fast = _pool(isolate=True)
    _, ref = _pool(isolate=False)
    x = torch.randint(0, VOCAB_SIZE, (2, 10), generator=torch.Generator().manual_seed(0))
    for a, b in zip(fast, ref, strict=True):
        _assert_same(_state(a.model), _state(b.model))
    for i in (3, 0, 5, 2, 2, 4, 1, 0):
        a, b = fast[i], ref[i]
        a.activate()
        b.model.set_adapter(b.adapter)  # peft's own walk over every adapter
        _assert_same(_state(a.model), _state(b.model))
        a.set_training(True)
        b.model.train()
        torch.manual_seed(1)
        out_a, _ = a.forward(x)
        torch.manual_seed(1)
        out_b, _ = b.forward(x)
        assert torch.equal(out_a, out_b)
        a.set_training(False)
        b.model.eval()
        assert a.adapter_parameters() == [
            p for n, p in a.model.named_parameters() if f".{a.adapter}." in n
        ]


def test_set_training_reaches_every_module_the_client_runs() -> None:
    _, clients = _pool(isolate=True)
    llama = [c for c in clients if c.spec.preset == "tiny-llama"]
    for mode in (True, False, True):
        for c in llama:
            c.activate()
            c.set_training(mode)
            others = {o.adapter for o in llama} - {c.adapter}
            for name, module in c.model.named_modules():
                if not others.intersection(name.split(".")):
                    assert module.training is mode, name
            assert c.training is mode


def test_adapter_state_is_peft_state_dict() -> None:
    from peft.utils import get_peft_model_state_dict  # imported lazily: see tests/conftest.py

    _, clients = _pool(isolate=True)
    a, b = clients[0], clients[5]  # two tiny-llama clients of rank 4
    with torch.no_grad():
        for p in a.adapter_parameters():
            p.add_(0.01 * torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape).sin())
    ours = a.adapter_state()
    theirs = get_peft_model_state_dict(a.model, adapter_name=a.adapter)
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    b.load_adapter_state(ours)
    for loaded in (b.adapter_state(), get_peft_model_state_dict(b.model, adapter_name=b.adapter)):
        assert list(loaded) == list(ours)
        assert all(torch.equal(loaded[k], ours[k]) for k in ours)
    with pytest.raises(ValueError, match="unknown keys"):
        b.load_adapter_state({"base_model.nope.weight": torch.zeros(1)})
    key = next(iter(ours))
    with pytest.raises(ValueError, match="has shape"):
        clients[2].load_adapter_state({key: ours[key]})  # rank 4 tensor into rank 8


def _count_calls(fn: Callable[[], object]) -> int:
    """Python and C function calls made by the second of two ``fn()`` calls.

    The first call is not counted: it pays for lazy imports and caches.
    """
    fn()
    calls = 0

    def profiler(frame, event, arg) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profiler)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def _one_client_round(n_clients: int) -> dict[str, int]:
    """Call counts of client 1's work on a base shared by ``n_clients`` tiny-llama clients."""
    pool = ModelPool(seed=4, device=torch.device("cpu"))
    clients = [pool.add_client(f"c{i}", ModelSpec("tiny-llama", lora_rank=4))
               for i in range(n_clients)]
    shard = torch.randint(0, VOCAB_SIZE, (8, 12), generator=torch.Generator().manual_seed(3))
    trainer = LocalTrainer(clients[1], shard, lr=1e-3, weight_decay=0.0, grad_clip=1.0,
                           batch_size=2, projection=None, hidden_index=None)
    rng = np.random.default_rng(0)
    weights = LossWeights(alpha=1.0, beta=0.0, temperature=2.0)
    client = clients[1]

    def forward() -> None:
        client.activate()
        client.set_training(False)
        with torch.no_grad():
            client.forward(shard[:2])

    counts = {}
    clients[0].activate()  # every step starts from another client being active
    counts["update"] = _count_calls(lambda: trainer.update(0, 1, rng, weights, None, None))
    clients[0].activate()
    counts["forward"] = _count_calls(forward)
    clients[0].activate()
    counts["evaluate"] = _count_calls(lambda: evaluate_client(client, {"own": shard}, 4))
    state = client.adapter_state()
    counts["adapter_state"] = _count_calls(client.adapter_state)
    counts["load_adapter_state"] = _count_calls(lambda: client.load_adapter_state(state))
    counts["flops"] = _count_calls(lambda: client.train_flops(10))
    late = iter(range(2))
    counts["add_client"] = _count_calls(
        lambda: pool.add_client(f"late{next(late)}", ModelSpec("tiny-llama", lora_rank=4)))
    return counts


def test_a_clients_work_does_not_depend_on_how_many_share_its_base() -> None:
    few, many = _one_client_round(2), _one_client_round(8)
    add_few, add_many = few.pop("add_client"), many.pop("add_client")
    assert few == many
    assert few["update"] > 1000  # the counter sees the work (forward, backward, AdamW)
    # Adding a client: peft's adapter-config checks loop over every adapter's
    # config (~140 calls each); everything that walks modules sees two adapters.
    assert add_many - add_few < 0.02 * add_few
