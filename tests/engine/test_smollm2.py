"""The real pretrained SmolLM2-135M preset (GGUF → cached safetensors) and a LoRA step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cosim.engine.config import ModelSpec
from cosim.engine.evaluation import evaluate_sequences
from cosim.engine.model_loading import VOCAB_SIZE, cache_root, load_base_model, load_tokenizer
from cosim.engine.models import ModelPool
from cosim.engine.training import LocalTrainer, LossWeights

pytestmark = pytest.mark.slow

TEXT = (
    "In the beginning God created the heaven and the earth. And the earth was without "
    "form, and void; and darkness was upon the face of the deep."
)


def test_tokenizer_is_smollm2s() -> None:
    tok = load_tokenizer()
    assert len(tok) == VOCAB_SIZE
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == TEXT
    assert (cache_root() / "smollm2-tokenizer" / "tokenizer.json").is_file()


def test_pretrained_preset_predicts_text_and_takes_a_lora_step() -> None:
    tok = load_tokenizer()
    pool = ModelPool(seed=0, device=torch.device("cpu"))
    client = pool.add_client("big", ModelSpec("smollm2-135m", lora_rank=4))
    assert (cache_root() / "smollm2-135m" / "model.safetensors").is_file()
    assert client.n_layers == 30 and client.hidden_size == 576
    ids = torch.tensor([tok(TEXT, add_special_tokens=False)["input_ids"][:24]])
    loss, accuracy, _ = evaluate_sequences(client, ids, batch_size=1)
    # A pretrained 135M model knows Genesis 1:1-2 well; a random one scores ln V ≈ 10.8.
    assert loss < 3.0 and accuracy > 0.4, (loss, accuracy)

    shard = ids[:, :16].repeat(2, 1)
    trainer = LocalTrainer(client, shard, lr=1e-3, weight_decay=0.0, grad_clip=1.0,
                           batch_size=2, projection=None, hidden_index=None)
    before = client.adapter_state()
    report = trainer.update(0, 1, np.random.default_rng(0),
                            LossWeights(0.5, 0.0, 2.0), None, None)
    assert not report.skipped and math.isfinite(report.loss)
    assert report.tokens == 32 and report.flops == client.train_flops(32)
    after = client.adapter_state()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_truncated_preset_keeps_the_first_layers() -> None:
    full = load_base_model(ModelSpec("smollm2-135m"), seed=0)
    short = load_base_model(ModelSpec("smollm2-4l"), seed=0)
    assert len(short.model.layers) == short.config.num_hidden_layers == 4
    for name, param in short.model.layers.named_parameters():
        torch.testing.assert_close(param, dict(full.model.layers.named_parameters())[name])
