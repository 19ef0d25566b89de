"""Healing depth-truncated SmolLM2 models once, cached on disk (DESIGN.md 1.7).

Cutting SmolLM2 after n of its 30 layers feeds the final norm and the tied
output head a hidden state from the wrong depth: unhealed, ``smollm2-4l`` and
``smollm2-8l`` are far worse than uniform (perplexity 4e7–1e8). Healing
inserts an affine *translator* before the final norm (a "tuned lens")::

    logits = E · RMSNorm_w(W h_n + b)

and fits W, b by distilling the full model's last hidden state: the ridge
regression, over the healing tokens j, of the full model's unit-RMS final
state ``u_j = h_30,j / rms(h_30,j)`` (what its final norm feeds the head,
before the norm weight w) on ``[h_n,j, 1]``::

    [W b]ᵀ = (XᵀX + λ I)⁻¹ Xᵀ U,   X = [h_n, 1] [N, d+1],  λ = RIDGE · tr(XᵀX)/(d+1)

so that RMSNorm_w(W h_n + b) ≈ RMSNorm_w(h_30) and the head reads what the
full model would. It is closed form: one forward pass of the full model over
the healing text (shown with tqdm) and one (d+1)² solve, seconds, not a
training run. The n pretrained layers and w stay exactly as they were, so
the healed model is still "the first n layers of SmolLM2" and LoRA adapts
them as before. Measured on 1,024 held-out Shakespeare-comedy tokens (full
model: CE 4.53): ``smollm2-4l`` 18.41 → 6.14 nats, ``smollm2-8l`` 19.36 →
5.99 (uniform: 10.80).

Healing text (``HEAL_DOMAINS``): the first ``HEAL_SEQUENCES`` sequences of
``HEAL_SEQ_LEN`` tokens of Shakespeare's histories, the KJV wisdom books and
the FreeBSD fortunes, interleaved. It may overlap a client's domain; what is
learnt is one d×d affine map, so the effect on a client's held-out text is
small, and all methods share the same healed base.

The healed tensors are cached as ``<cache>/healed/<key>.safetensors``, key =
sha256 of the recipe (version, layer count, ridge, the healing tokens and
the GGUF file's name and size); the cache directory is
``$COSIM_CACHE_DIR`` or ``~/.cache/cosim``. Progress is shown with tqdm.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

if TYPE_CHECKING:  # transformers' model classes cost seconds to import
    from transformers import PreTrainedModel

HEAL_VERSION = 2  # 2: fitted on one thread (model_loading.single_threaded)
HEAL_DOMAINS = ("shakespeare/histories", "kjv/wisdom", "fortunes/fortunes")
HEAL_SEQ_LEN = 64
HEAL_SEQUENCES = 64
HEAL_BATCH = 8
RIDGE = 1e-3


class Translator(nn.Module):
    """Affine map ``W h + b`` [d → d], identity at initialisation."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(width))
            self.linear.bias.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h)


class HealedNorm(nn.Module):
    """The final norm of a healed model: ``norm(translator(h))``."""

    def __init__(self, translator: Translator, norm: nn.Module) -> None:
        super().__init__()
        self.translator = translator
        self.norm = norm

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(self.translator(h))


def healing_tokens() -> torch.Tensor:
    """The healing text as [HEAL_SEQUENCES, HEAL_SEQ_LEN] token ids (see module docstring)."""
    from cosim.engine.data import tokenize_documents
    from cosim.engine.data_sources import domain_documents
    from cosim.engine.model_loading import cache_root, load_tokenizer

    tokenizer = load_tokenizer()
    per_domain = -(-HEAL_SEQUENCES // len(HEAL_DOMAINS))
    parts = []
    for name in HEAL_DOMAINS:
        stream = tokenize_documents(domain_documents(name), tokenizer, cache_root() / "tokens")
        n = min(per_domain, len(stream) // HEAL_SEQ_LEN)
        parts.append(torch.from_numpy(
            stream[: n * HEAL_SEQ_LEN].astype(np.int64).reshape(n, HEAL_SEQ_LEN)
        ))
    # interleave domains so every batch mixes them
    rows = [p[i] for i in range(per_domain) for p in parts if i < len(p)]
    return torch.stack(rows[:HEAL_SEQUENCES])


def heal_key(n_layers: int, tokens: torch.Tensor, model_id: str) -> str:
    """Content hash naming a healed model in the cache."""
    digest = hashlib.sha256()
    digest.update(f"v{HEAL_VERSION}|{model_id}|{n_layers}|ridge={RIDGE}".encode())
    digest.update(tokens.numpy().tobytes())
    return digest.hexdigest()[:32]


def install_translator(model: PreTrainedModel) -> Translator:
    """Wrap ``model``'s final norm with an identity :class:`Translator` (returned)."""
    norm = model.model.norm
    width = int(model.config.hidden_size)
    translator = Translator(width).to(dtype=norm.weight.dtype, device=norm.weight.device)
    model.model.norm = HealedNorm(translator, norm)
    return translator


def heal(
    full: PreTrainedModel, n_layers: int, tokens: torch.Tensor, ridge: float = RIDGE
) -> dict[str, torch.Tensor]:
    """Fit the translator of the first ``n_layers`` layers of ``full`` (see module docstring).

    Returns ``{"norm.translator.linear.weight", "norm.translator.linear.bias",
    "norm.norm.weight"}`` for the :class:`HealedNorm` of the truncated model.
    ``full`` is left unchanged.
    """
    width = int(full.config.hidden_size)
    norm_weight = full.model.norm.weight.detach().double()
    xtx = torch.zeros(width + 1, width + 1, dtype=torch.float64)
    xtu = torch.zeros(width + 1, width, dtype=torch.float64)
    full.eval()
    starts = range(0, len(tokens), HEAL_BATCH)
    for start in tqdm(starts, desc=f"healing smollm2-{n_layers}l", unit="batch",
                      disable=None, leave=False):
        with torch.no_grad():
            out = full(input_ids=tokens[start:start + HEAL_BATCH], output_hidden_states=True,
                       use_cache=False)
        h = out.hidden_states[n_layers].double().reshape(-1, width)
        # transformers returns the last hidden state after the final norm: undo w
        u = out.hidden_states[-1].double().reshape(-1, width) / norm_weight
        x = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], dim=1)
        xtx += x.T @ x
        xtu += x.T @ u
    lam = ridge * torch.trace(xtx) / (width + 1)
    wb = torch.linalg.solve(xtx + lam * torch.eye(width + 1, dtype=xtx.dtype), xtu)
    dtype = full.model.norm.weight.dtype
    return {
        "norm.translator.linear.weight": wb[:width].T.contiguous().to(dtype),
        "norm.translator.linear.bias": wb[width].contiguous().to(dtype),
        "norm.norm.weight": full.model.norm.weight.detach().clone().contiguous(),
    }


def load_or_heal(
    full: PreTrainedModel, n_layers: int, cache_dir: Path, model_id: str
) -> dict[str, torch.Tensor]:
    """The healed tensors for ``n_layers``: from the cache, or healed now and cached."""
    tokens = healing_tokens()
    path = cache_dir / "healed" / f"{heal_key(n_layers, tokens, model_id)}.safetensors"
    if path.is_file():
        return load_file(str(path))
    from cosim.engine.model_loading import single_threaded

    with single_threaded():  # cached: the same bits whatever the first run's threads
        state = heal(full, n_layers, tokens)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    save_file(state, str(tmp))
    tmp.replace(path)
    return state


def apply_healing(model: PreTrainedModel, state: dict[str, torch.Tensor]) -> PreTrainedModel:
    """Install a translator on truncated ``model`` and load the healed tensors into it."""
    install_translator(model)
    model.model.norm.load_state_dict({k.removeprefix("norm."): v for k, v in state.items()})
    return model
