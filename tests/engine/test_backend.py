"""The backend interface: FedAvg groups, bad and partial payloads, skipped updates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cosim.engine import backend as backend_module
from cosim.engine import codec, evaluation
from cosim.engine.backend import DistillationBackend
from cosim.engine.methods import adapters_from_bytes, pack_downlink, unpack_downlink
from cosim.engine.strategies import build_strategy
from cosim.errors import PayloadError, ScenarioError
from tests.engine.tiny_setup import TINY_DATA, tiny_clients, tiny_distillation

# The backend names clients by index: their positions in tiny_clients().
LLAMA_A, LLAMA_B, GPT2 = 0, 1, 2


def _backend(method: str, **overrides: object) -> DistillationBackend:
    return DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation(method, **overrides), 0)


@pytest.fixture(scope="module")
def adaptive() -> DistillationBackend:
    # Untrained tiny models are no better than uniform, and the default likelihood
    # weighting would (rightly) exclude them: these mechanics tests weigh uniformly.
    backend = _backend("adaptive", client_weighting="uniform")
    for c in range(len(backend.client_names)):
        backend.local_update(c, 0)
    return backend


def test_fedavg_averages_within_architecture_groups() -> None:
    backend = _backend("fedavg_lora")
    assert backend.client_names == ["llama-a", "llama-b", "gpt2"]
    names = [LLAMA_A, LLAMA_B, GPT2]  # llama-a, llama-b (one group), gpt2 (alone)
    for name in names:
        backend.local_update(name, 0)
    uploads = {n: backend.encode_upload(n) for n in names}
    before = {n: adapters_from_bytes(u.data) for n, u in uploads.items()}
    assert uploads[LLAMA_A].n_bytes == len(uploads[LLAMA_A].data) > 0
    downlink, _ = backend.aggregate({n: u.data for n, u in uploads.items()}, 0)
    for name in names:
        backend.apply_downlink(name, downlink)
    a = backend.client_model(LLAMA_A).adapter_state()
    b = backend.client_model(LLAMA_B).adapter_state()
    g = backend.client_model(GPT2).adapter_state()
    for key in a:
        torch.testing.assert_close(a[key], b[key])
        torch.testing.assert_close(a[key], (before[LLAMA_A][key] + before[LLAMA_B][key]) / 2)
    for key in g:
        torch.testing.assert_close(g[key], before[GPT2][key])


def test_fedavg_group_starts_from_one_adapter_and_others_independently() -> None:
    # FedAvg averages A and B separately; from different random A's the mean of
    # the products is not the product of the means, so a group must share its start.
    fedavg = _backend("fedavg_lora")
    a = fedavg.client_model(LLAMA_A).adapter_state()
    b = fedavg.client_model(LLAMA_B).adapter_state()
    lora_a = [key for key in a if "lora_A" in key]
    assert lora_a and a[lora_a[0]].abs().sum() > 0
    for key in a:
        assert torch.equal(a[key], b[key]), key
    local = _backend("local_only")
    a = local.client_model(LLAMA_A).adapter_state()
    b = local.client_model(LLAMA_B).adapter_state()
    assert not all(torch.equal(a[key], b[key]) for key in lora_a)


def test_public_batch_is_shared_and_seeded(adaptive: DistillationBackend) -> None:
    assert adaptive.public_batch_tokens == 32
    one, two = adaptive.public_batch(3), adaptive.public_batch(3)
    assert torch.equal(one, two) and one.shape == (2, 16)
    assert not torch.equal(adaptive.public_batch(3), adaptive.public_batch(4))


def test_upload_respects_budget_and_k(adaptive: DistillationBackend) -> None:
    big = adaptive.encode_upload(LLAMA_A, budget_bits=8 * 2000)
    small = adaptive.encode_upload(LLAMA_A, budget_bits=8 * 400)
    assert small.n_bytes <= 400 < big.n_bytes <= 2000
    assert small.k_mean < big.k_mean
    assert big.hidden_dim == 4 and big.n_tokens == big.n_tokens_total == 32
    tiny = adaptive.encode_upload(LLAMA_A, budget_bits=8 * 150)  # not even k_min everywhere
    assert tiny.below_k_min and 0 < tiny.n_tokens < 32 and tiny.n_bytes <= 150
    forced = adaptive.encode_upload(LLAMA_A, k=5)
    assert forced.k_min == forced.k_max == 5
    wide = adaptive.encode_upload(LLAMA_A, k=40)  # above k_max = 16: the caller decides
    assert wide.k_min == wide.k_max == 40
    decoded = codec.decode(big.data)
    assert decoded.complete and decoded.logits.hidden.shape == (32, 4)


def test_bad_payloads_are_excluded_and_prefixes_used(adaptive: DistillationBackend) -> None:
    good = adaptive.encode_upload(LLAMA_A, budget_bits=8 * 2000).data
    partial = adaptive.encode_upload(LLAMA_B, budget_bits=8 * 2000).data
    cut = codec.HEADER_BYTES + (len(partial) - codec.HEADER_BYTES) // 2
    corrupt = bytearray(adaptive.encode_upload(GPT2).data)
    corrupt[:4] = b"XXXX"
    downlink, report = adaptive.aggregate(
        {LLAMA_A: good, LLAMA_B: partial[:cut], GPT2: bytes(corrupt)}, 0
    )
    assert report.included == [LLAMA_A, LLAMA_B]
    assert set(report.excluded) == {GPT2}
    assert report.tokens[LLAMA_A] == 32 and 0 < report.tokens[LLAMA_B] < 32
    assert report.downlink_bytes == len(downlink)
    rnd, _kind, body = unpack_downlink(downlink)
    assert rnd == 0 and codec.decode(body).n_tokens == 32
    _, report = adaptive.aggregate(
        {GPT2: bytes(corrupt), LLAMA_A: good[: codec.HEADER_BYTES]}, 0
    )
    assert report.included == []
    assert set(report.excluded) == {GPT2, LLAMA_A}


def test_downlink_knowledge_drives_distillation(adaptive: DistillationBackend) -> None:
    uploads = {n: adaptive.encode_upload(n, budget_bits=8 * 2000).data
               for n in range(len(adaptive.client_names))}
    downlink, _ = adaptive.aggregate(uploads, 0)
    adaptive.apply_downlink(LLAMA_A, downlink)
    report = adaptive.local_update(LLAMA_A, 1)
    assert report.kd_loss > 0 and report.hidden_loss > 0 and not report.skipped
    # private minibatch (2 x 16) + the public batch (32 positions)
    assert report.tokens == 2 * 16 + 32
    model = adaptive.client_model(LLAMA_A)
    assert report.flops == model.train_flops(report.tokens)


def test_corrupt_downlink_raises(adaptive: DistillationBackend) -> None:
    with pytest.raises(PayloadError, match="bad magic"):
        adaptive.apply_downlink(LLAMA_A, b"NOPE" + bytes(20))
    with pytest.raises(PayloadError):
        adaptive.apply_downlink(LLAMA_A, pack_downlink(0, 1, b"garbage"))
    adaptive.apply_downlink(LLAMA_A, b"")  # nothing sent: nothing changes


def test_non_finite_loss_skips_the_update(adaptive: DistillationBackend,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    model = adaptive.client_model(GPT2)
    before = model.adapter_state()
    real_forward = model.forward

    def poisoned(input_ids: torch.Tensor, hidden_index: int | None = None):
        logits, hidden = real_forward(input_ids, hidden_index)
        return logits * float("nan"), hidden

    monkeypatch.setattr(model, "forward", poisoned)
    report = adaptive.local_update(GPT2, 2)
    assert report.skipped and "non-finite" in report.reason and np.isnan(report.loss)
    assert report.flops > 0
    for key, value in model.adapter_state().items():
        assert torch.equal(value, before[key])
    monkeypatch.undo()
    assert not adaptive.local_update(GPT2, 2).skipped


def test_evaluate_rows(adaptive: DistillationBackend) -> None:
    rows = adaptive.evaluate(LLAMA_B)
    assert [r.split for r in rows] == ["own", "union"]
    assert all(r.client == LLAMA_B and r.tokens > 0 for r in rows)


def test_reports_name_clients_by_index(adaptive: DistillationBackend) -> None:
    update = adaptive.local_update(GPT2, 3)
    upload = adaptive.encode_upload(GPT2, budget_bits=8 * 2000)
    assert update.client == upload.client == GPT2
    assert adaptive.model_size(GPT2) == (adaptive.client_model(GPT2).n_params(),
                                         adaptive.client_model(GPT2).n_trainable())
    _, report = adaptive.aggregate({GPT2: upload.data, 3: upload.data, -1: upload.data}, 3)
    assert report.included == [GPT2] and set(report.tokens) == {GPT2}
    assert report.excluded == {3: "unknown client", -1: "unknown client"}


def test_fedavg_without_shared_architecture_is_rejected() -> None:
    clients = tiny_clients()  # llama-a, llama-b (same model), gpt2
    with pytest.raises(ScenarioError, match=r"fedavg_lora.*llama-a \(tiny-llama.*gpt2"):
        DistillationBackend([clients[0], clients[2]], TINY_DATA, tiny_distillation("fedavg_lora"),
                            0)


def test_backend_implements_the_simulator_interface() -> None:
    from cosim.sim.backend import Backend
    from tests.sim.conftest import ScriptedBackend

    assert issubclass(DistillationBackend, Backend) and issubclass(ScriptedBackend, Backend)
    assert not Backend.__abstractmethods__ - {
        "local_update", "encode_upload", "aggregate", "apply_downlink", "evaluate",
        "state_dict", "load_state_dict"}


def test_likelihood_weighting_excludes_uniform_uploads(
    adaptive: DistillationBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fake upload that is exactly uniform over V scores ℓ = −log V: weight 0, excluded.
    from cosim.engine.codec_sparse import sparse_from_rows

    likelihood = replace(adaptive.config, client_weighting="likelihood")
    monkeypatch.setattr(adaptive, "strategy", build_strategy(likelihood))
    V, T = 49152, adaptive.public_batch_tokens
    uniform = sparse_from_rows(np.tile(np.arange(4), (T, 1)), np.full((T, 4), 1.0 / V),
                               np.full(T, 4), V)
    uploads = {n: adaptive.encode_upload(n, budget_bits=8 * 2000).data
               for n in (LLAMA_A, LLAMA_B)}
    uploads[GPT2] = codec.encode(uniform)
    targets = adaptive.public_targets(0)
    assert targets.shape == (T,) and (targets == -1).sum() == T // 16  # one per sequence
    _, report = adaptive.aggregate(uploads, 0)
    assert report.weights[GPT2] == 0.0
    # the real uploads are scored by their mean log-prob of the true tokens
    assert all(w >= 0 for w in report.weights.values())
    assert "no better than uniform" in report.excluded[GPT2]
    assert GPT2 not in report.included


def test_fd_full_distils_toward_the_dense_teacher() -> None:
    backend = _backend("fd_full", client_weighting="uniform")
    names = range(len(backend.client_names))
    uploads = {n: backend.encode_upload(n).data for n in names}
    downlink, report = backend.aggregate(uploads, 0)
    assert report.included == sorted(names)
    backend.apply_downlink(GPT2, downlink)
    knowledge = backend.clients["gpt2"].knowledge
    T = backend.public_batch_tokens
    # the dense teacher as is (rows sum to 1), never a k = V sparse expansion
    assert knowledge.targets is None and knowledge.dense.shape == (T, 49152)
    torch.testing.assert_close(knowledge.dense.sum(dim=1), torch.ones(T), atol=2e-3, rtol=0)
    update = backend.local_update(GPT2, 1)
    assert update.kd_loss > 0 and not update.skipped


def test_bad_client_lists() -> None:
    clients = tiny_clients()
    with pytest.raises(ScenarioError, match="names must be unique"):
        DistillationBackend([clients[0], clients[0]], TINY_DATA, tiny_distillation(), 0)
    backend = _backend("local_only")  # a refused call changes nothing: one serves both
    with pytest.raises(ScenarioError, match="unknown client 3: clients are indices 0 to 2"):
        backend.local_update(3, 0)
    with pytest.raises(ScenarioError, match="unknown client 'gpt2'"):
        backend.local_update("gpt2", 0)  # type: ignore[arg-type]


def test_held_update_is_not_scored_until_committed_and_survives_checkpoints() -> None:
    """Causal evaluation: an update still running in simulated time is not scored."""
    engine = DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation("local_only"), 0,
                                 hold_updates=True)
    before = engine.evaluate(GPT2)
    report = engine.local_update(GPT2, 0)
    assert not report.skipped
    assert engine.evaluate(GPT2) == before  # the update is still computing
    state = engine.state_dict()  # a checkpoint while it is
    engine.commit_update(GPT2)
    after = engine.evaluate(GPT2)
    assert [r.loss for r in after] != [r.loss for r in before]
    assert engine.evaluate(GPT2) == after  # scoring restored the updated weights

    resumed = DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation("local_only"),
                                  0, hold_updates=True)
    resumed.load_state_dict(state)
    assert resumed.evaluate(GPT2) == before
    resumed.commit_update(GPT2)
    assert resumed.evaluate(GPT2) == after
    # Without holding (a driver that calls no commit), the update is scored at once.
    plain = DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation("local_only"), 0)
    plain.local_update(GPT2, 0)
    assert plain.evaluate(GPT2) == after


def test_evaluation_runs_the_model_only_when_the_scored_weights_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A repeat evaluation of unchanged weights reuses the last rows; any change re-scores."""
    engine = DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation("local_only"), 0,
                                 hold_updates=True)
    passes: list[int] = []
    scored = backend_module.evaluate_client

    def counted(*args: object, **kwargs: object) -> list:
        passes.append(1)
        return scored(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backend_module, "evaluate_client", counted)
    first = engine.evaluate(GPT2)
    assert engine.evaluate(GPT2) == first and len(passes) == 1
    engine.local_update(GPT2, 0)
    assert engine.evaluate(GPT2) == first and len(passes) == 1  # held: the same weights
    engine.commit_update(GPT2)
    updated = engine.evaluate(GPT2)
    assert len(passes) == 2 and updated != first
    with torch.no_grad():  # any change to a trainable weight is seen
        engine._state(GPT2).trainer.params[0].view(-1)[0] += 1e-3
    engine.evaluate(GPT2)
    assert len(passes) == 3
    # the reused rows are what scoring the same weights again gives
    fresh = DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation("local_only"), 0)
    assert fresh.evaluate(GPT2) == first


def test_a_batch_in_two_splits_is_run_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The union split's share of the own domain, batch-aligned, reuses the own split's
    scores: one forward pass fewer, the same rows as scoring each split alone."""
    engine = DistillationBackend(tiny_clients(), TINY_DATA, tiny_distillation("local_only"), 0)
    client = engine.client_model(GPT2)
    own = engine.data.tests["shakespeare/comedies"][:4]
    other = engine.data.tests["kjv/law"][:2]
    splits = {"own": own, "union": torch.cat([own[:2], other])}
    alone = [evaluation.evaluate_sequences(client, s, batch_size=2) for s in splits.values()]
    passes: list[int] = []
    run = evaluation.score_batch

    def counted(*args: object) -> tuple[float, int, int]:
        passes.append(1)
        return run(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "score_batch", counted)
    rows = evaluation.evaluate_client(client, splits, batch_size=2)
    assert len(passes) == 3  # own: 2 batches, union: 1 new (its first is own's first)
    assert [(r.loss, r.accuracy, r.tokens) for r in rows] == alone
