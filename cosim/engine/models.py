"""Client models: one frozen base per architecture, one LoRA adapter per client.

Clients whose :class:`ModelSpec` has the same :func:`base_key` share ONE base
model in memory, wrapped once by ``peft`` with one named adapter per client
(``add_adapter``). Before a client computes anything, :meth:`ClientModel.activate`
calls ``set_adapter``, which also makes only that adapter's LoRA weights
trainable. The extra memory per client is therefore its adapter, its hidden
projection and their AdamW state (2 fp32 moments per parameter), not a model
copy.

FLOP model (used by the co-simulator's compute time; per token, N = base +
adapter parameters, N_train = trainable parameters, tied embeddings counted
once because the output head is the matmul that uses them)::

    forward   = 2·N
    training  = 2·N (forward) + 2·N (activation gradients) + 2·N_train (weight gradients)
              = 4·N + 2·N_train        (≈ 6·N when everything is trainable)

Attention-score FLOPs (∝ sequence length) are ignored, as in the usual 6·N·D rule.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from transformers import PretrainedConfig, PreTrainedModel

from cosim.engine.config import ModelSpec
from cosim.engine.model_loading import (
    TINY_PRESETS,
    base_key,
    default_lora_targets,
    default_modules_to_save,
    is_truncated_preset,
    load_base_model,
)


def resolve_device(name: str) -> torch.device:
    """``cpu`` | ``cuda`` | ``auto`` (cuda when available) as a torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def hidden_layer_index(setting: float, n_layers: int) -> int:
    """Index into ``output_hidden_states`` (length n_layers + 1) for a config value.

    Negative integers count from the end (-1: the last hidden state); a
    fraction f in (0, 1] means layer round(f·n_layers).
    """
    if setting < 0:
        return max(0, n_layers + 1 + int(setting))
    return max(1, min(n_layers, round(setting * n_layers)))


@dataclass
class SharedBase:
    """One frozen base wrapped by peft, with the names of the adapters on it."""

    peft_model: PeftModel
    n_base_params: int
    adapters: list[str]


def _unique_numel(module: torch.nn.Module) -> int:
    # parameters() already de-duplicates tied weights.
    return sum(p.numel() for p in module.parameters())


class ClientModel:
    """A client's view of a shared base: its adapter name, projection and optimizer."""

    def __init__(
        self,
        name: str,
        spec: ModelSpec,
        shared: SharedBase,
        adapter: str,
        device: torch.device,
    ) -> None:
        self.name = name
        self.spec = spec
        self.shared = shared
        self.adapter = adapter
        self.device = device
        self.extra_modules: list[torch.nn.Module] = []

    @property
    def model(self) -> PeftModel:
        return self.shared.peft_model

    @property
    def config(self) -> PretrainedConfig:
        return self.model.base_model.model.config

    @property
    def n_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        cfg = self.config
        return int(getattr(cfg, "hidden_size", None) or cfg.n_embd)

    def activate(self) -> None:
        """Make this client's adapter the active (and only trainable) one."""
        self.model.set_adapter(self.adapter)

    def adapter_parameters(self) -> list[torch.nn.Parameter]:
        """This client's LoRA weights (whatever adapter is active)."""
        marker = f".{self.adapter}."
        return [p for n, p in self.model.named_parameters() if marker in n + "."]

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Adapter weights plus any attached modules (e.g. the hidden projection)."""
        params = self.adapter_parameters()
        for module in self.extra_modules:
            params.extend(module.parameters())
        return params

    def n_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def n_params(self) -> int:
        """N of the FLOP model: base plus this client's trainable parameters."""
        return self.shared.n_base_params + self.n_trainable()

    def train_flops(self, tokens: int) -> float:
        """Training FLOPs for ``tokens`` token positions: (4·N + 2·N_train)·tokens."""
        return float((4 * self.n_params() + 2 * self.n_trainable()) * tokens)

    def forward_flops(self, tokens: int) -> float:
        """Forward-only FLOPs for ``tokens`` token positions: 2·N·tokens."""
        return float(2 * self.n_params() * tokens)

    def forward(
        self, input_ids: torch.Tensor, hidden_index: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits [B, L, V] and, if asked, hidden states [B, L, d] of one layer.

        The caller must have called :meth:`activate`.
        """
        out = self.model(
            input_ids=input_ids.to(self.device),
            output_hidden_states=hidden_index is not None,
            use_cache=False,
        )
        hidden = out.hidden_states[hidden_index] if hidden_index is not None else None
        return out.logits, hidden

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """This client's LoRA tensors, keys without the adapter name (for FedAvg)."""
        state = get_peft_model_state_dict(self.model, adapter_name=self.adapter)
        return {k: v.detach().clone() for k, v in state.items()}

    def load_adapter_state(self, state: dict[str, torch.Tensor]) -> None:
        """Overwrite this client's LoRA tensors with ``state`` (same keys/shapes)."""
        with torch.no_grad():
            set_peft_model_state_dict(self.model, state, adapter_name=self.adapter)


class ModelPool:
    """Loads each base once and hands out per-client adapters on it."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed = seed
        self.device = device
        self._bases: dict[tuple[str, str], SharedBase] = {}
        self._count = 0

    @property
    def bases(self) -> dict[tuple[str, str], SharedBase]:
        return self._bases

    def add_client(self, name: str, spec: ModelSpec) -> ClientModel:
        """Create ``name``'s adapter on the (possibly new) shared base of ``spec``."""
        key = base_key(spec)
        adapter = f"client{self._count}"  # peft adapter names must not contain dots
        lora = self._lora_config(spec, key)
        # LoRA's A matrices are drawn from torch's global RNG: fork it and seed
        # from (seed, client index) so adapters are reproducible and independent.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + 7919 * (self._count + 1))
            if key not in self._bases:
                base = load_base_model(spec, seed=self.seed).to(self.device)
                n_base = _unique_numel(base)
                with warnings.catch_warnings():
                    # peft calls a transformers API deprecated in v5; not ours to fix.
                    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                    peft_model = get_peft_model(base, lora, adapter_name=adapter)
                # Inference mode (no dropout) unless a trainer switches it on.
                peft_model.eval()
                self._bases[key] = SharedBase(peft_model, n_base, [adapter])
            else:
                shared = self._bases[key]
                shared.peft_model.add_adapter(adapter, lora)
                shared.adapters.append(adapter)
            self._bases[key].peft_model.to(self.device)
        self._count += 1
        client = ClientModel(name, spec, self._bases[key], adapter, self.device)
        client.activate()
        return client

    def _lora_config(self, spec: ModelSpec, key: tuple[str, str]) -> LoraConfig:
        if key in self._bases:
            model: PreTrainedModel = self._bases[key].peft_model.base_model.model
            model_type = model.config.model_type
        else:
            model_type = _model_type_hint(spec)
        targets = spec.lora_targets or default_lora_targets(
            model_type,
            all_linear=spec.preset in TINY_PRESETS or is_truncated_preset(spec.preset),
        )
        trained = default_modules_to_save(model_type) if spec.preset in TINY_PRESETS else None
        return LoraConfig(
            r=spec.lora_rank,
            lora_alpha=spec.lora_alpha,
            lora_dropout=spec.lora_dropout,
            target_modules=list(targets),
            fan_in_fan_out=model_type == "gpt2",
            modules_to_save=list(trained) if trained else None,
            bias="none",
            task_type="CAUSAL_LM",
        )


def _model_type_hint(spec: ModelSpec) -> str:
    """The architecture of ``spec`` before its base is loaded (for LoRA defaults)."""
    if spec.preset.startswith("smollm2-"):
        return "llama"
    if spec.preset in TINY_PRESETS:
        return spec.preset.removeprefix("tiny-")
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(
        spec.preset, trust_remote_code=spec.trust_remote_code
    ).model_type
