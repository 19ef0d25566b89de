"""Client models: one frozen base per architecture, one LoRA adapter per client.

Clients whose :class:`ModelSpec` has the same :func:`base_key` share ONE base
model in memory, wrapped once by ``peft`` with one named adapter per client
(``add_adapter``). Before a client computes anything, :meth:`ClientModel.activate`
makes its adapter the active one and only its LoRA weights trainable. The
extra memory per client is therefore its adapter, its hidden projection and
their AdamW state (2 fp32 moments per parameter), not a model copy.

Per-call cost independent of the number of clients. peft's own
``set_adapter``, ``model.train()``/``eval()``, ``named_parameters`` and
``get_peft_model_state_dict`` walk every module or tensor of the shared model,
i.e. every client's adapter: O(N) per call and O(N²) per round for N clients.
So each client looks up its own pieces once, when it is added (adapter
parameters, their state-dict keys, its adapter's sub-modules), and the base
keeps the list of its peft layers and of the modules no adapter owns.
:meth:`ClientModel.activate` then sets the active adapter on those layers and
flips ``requires_grad`` of the previous and the new client's weights only;
:meth:`ClientModel.set_training` flips ``training`` on the shared modules and
the client's own; :meth:`ClientModel.adapter_state` reads its own tensors.
The resulting model state is the one peft's calls would leave for the
active client (tested against them), so results are unchanged.

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
from contextlib import nullcontext
from typing import TYPE_CHECKING

import torch

from cosim.engine.config import ModelSpec
from cosim.engine.model_loading import (
    TINY_PRESETS,
    base_key,
    default_lora_targets,
    default_modules_to_save,
    is_truncated_preset,
    load_base_model,
)
from cosim.engine.shared_base import SharedBase

if TYPE_CHECKING:  # peft and transformers' model classes cost seconds to import
    from peft import LoraConfig, PeftModel
    from transformers import PretrainedConfig, PreTrainedModel


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
        index: int,
    ) -> None:
        self.name = name
        self.index = index  # the client's index (position in the scenario's client list)
        self.spec = spec
        self.shared = shared
        self.adapter = adapter
        self.device = device
        self.extra_modules: list[torch.nn.Module] = []
        # Looked up once (O(all adapters)); every later call touches only these.
        marker = f".{adapter}."
        self._params = [p for n, p in self.model.named_parameters() if marker in n + "."]
        by_ptr = {p.data_ptr(): p for p in self._params}
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.model, adapter_name=adapter)
        missing = [k for k, v in state.items() if v.data_ptr() not in by_ptr]
        if missing or len(state) != len(self._params):
            raise RuntimeError(f"adapter {adapter}: state keys {missing} are not its parameters")
        self._state_params = {k: by_ptr[v.data_ptr()] for k, v in state.items()}
        self._modules = shared.index()[adapter]
        shared.owned[adapter] = self._params

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
        """Make this client's adapter the active (and only trainable) one.

        The state peft's ``set_adapter`` leaves, at O(layers + own weights)
        instead of O(all adapters): each peft layer's active adapter is this
        one (wrappers without it: none), the previous active client's weights
        stop requiring grad and this client's start; this client's modules
        take the shared modules' ``training`` flag.
        """
        shared = self.shared
        name = self.adapter
        if shared.active != name:
            for p in shared.owned.get(shared.active, ()) if shared.active else ():
                p.requires_grad_(False)
            for layer in shared.tuner_layers:
                layer._active_adapter = [name]
            for wrapper in shared.wrappers:
                wrapper._active_adapter = name if name in wrapper._adapters else []
            self.model.active_adapter = name  # PeftModel.set_adapter sets both
            self.model.base_model.active_adapter = name
            for p in self._params:
                p.requires_grad_(True)
            shared.active = name
        mode = self.model.training
        for module in self._modules:
            module.training = mode

    @property
    def training(self) -> bool:
        """Whether the shared base (and the active adapter) is in training mode."""
        return bool(self.model.training)

    def set_training(self, mode: bool) -> None:
        """``model.train(mode)`` for this client: the shared modules and its own.

        Other adapters' modules keep their flag (they take the shared one when
        activated); O(base + own modules) instead of O(all adapters).
        """
        for module in self.shared.shared_modules:
            module.training = mode
        for module in self._modules:
            module.training = mode

    def adapter_parameters(self) -> list[torch.nn.Parameter]:
        """This client's LoRA weights (whatever adapter is active), in
        ``named_parameters`` order."""
        return list(self._params)

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
        """This client's LoRA tensors, keys without the adapter name (for FedAvg).

        Keys, order and values as ``peft``'s ``get_peft_model_state_dict``.
        """
        return {k: p.detach().clone() for k, p in self._state_params.items()}

    def load_adapter_state(self, state: dict[str, torch.Tensor]) -> None:
        """Overwrite this client's LoRA tensors with ``state`` (keys of
        :meth:`adapter_state`, same shapes; keys it lacks are left alone)."""
        unknown = sorted(set(state) - set(self._state_params))
        if unknown:
            raise ValueError(f"adapter state of {self.name!r}: unknown keys {unknown[:3]}")
        with torch.no_grad():
            for key, value in state.items():
                param = self._state_params[key]
                if param.shape != value.shape:
                    raise ValueError(f"adapter state of {self.name!r}: {key} has shape "
                                     f"{tuple(value.shape)}, expected {tuple(param.shape)}")
                param.copy_(value)


class ModelPool:
    """Loads each base once and hands out per-client adapters on it."""

    def __init__(self, seed: int, device: torch.device, *, isolate_adds: bool = True) -> None:
        self.seed = seed
        self.device = device
        self.isolate_adds = isolate_adds
        self._bases: dict[tuple[str, str], SharedBase] = {}
        self._count = 0

    @property
    def bases(self) -> dict[tuple[str, str], SharedBase]:
        return self._bases

    def add_client(
        self, name: str, spec: ModelSpec, *, index: int | None = None,
        init_index: int | None = None,
    ) -> ClientModel:
        """Create ``name``'s adapter on the (possibly new) shared base of ``spec``.

        ``index`` (default: the number of clients added so far) names the
        adapter; ``init_index`` (default ``index``) seeds LoRA's A matrices, so
        clients given the same ``init_index`` start from the same adapter (the
        global initial model FedAvg broadcasts) and distinct ones independently.

        peft sees only the new and the active adapter while it adds one
        (:meth:`SharedBase.only`), so adding costs the same for the 200th
        client as for the 2nd; ``isolate_adds=False`` lets it see all (the
        reference the tests compare with).
        """
        import peft  # deferred (seconds to import); only model building needs it

        key = base_key(spec)
        index = self._count if index is None else index
        init_index = index if init_index is None else init_index
        adapter = f"client{index}"  # peft adapter names must not contain dots
        lora = self._lora_config(spec, key)
        shared = self._bases.get(key)
        keep = {adapter} if shared is None or shared.active is None else {adapter, shared.active}
        isolate = shared.only(keep) if shared is not None and self.isolate_adds else nullcontext()
        with isolate:
            # LoRA's A matrices are drawn from torch's global RNG: fork it and seed
            # from (seed, init index) so adapters are reproducible, and independent
            # unless the caller asks for a shared start.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed * 1_000_003 + 7919 * (init_index + 1))
                if shared is None:
                    base = load_base_model(spec, seed=self.seed).to(self.device)
                    n_base = _unique_numel(base)
                    with warnings.catch_warnings():
                        # peft calls a transformers API deprecated in v5; not ours to fix.
                        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                        peft_model = peft.get_peft_model(base, lora, adapter_name=adapter)
                    # Inference mode (no dropout) unless a trainer switches it on.
                    peft_model.eval()
                    shared = self._bases[key] = SharedBase(peft_model, n_base, [adapter])
                else:
                    shared.peft_model.add_adapter(adapter, lora)
                    shared.adapters.append(adapter)
                shared.peft_model.to(self.device)
            self._count = max(self._count, index + 1)
            # peft's own set_adapter once: the state ClientModel.activate keeps up
            # from here on (hidden adapters' weights already do not require grad).
            shared.peft_model.set_adapter(adapter)
            shared.active = adapter
            client = ClientModel(name, spec, shared, adapter, self.device, index)
        client.set_training(shared.peft_model.training)
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
        from peft import LoraConfig

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
