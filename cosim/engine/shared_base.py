"""One frozen base shared by many clients' LoRA adapters, indexed for O(1) per-client work.

peft keeps every client's adapter inside the shared model: each LoRA layer
holds one entry per adapter in its ``lora_A`` / ``lora_B`` / ``lora_dropout``
containers, each ``modules_to_save`` wrapper one copy of its module per
adapter. peft's calls that walk the model (``set_adapter``, ``add_adapter``,
``model.train()``, ``named_parameters``, ``get_peft_model_state_dict``) are
therefore O(N) for N adapters, and a round that makes each of them per
client O(N²). :class:`SharedBase` keeps what a client needs to avoid them:

- ``tuner_layers`` / ``wrappers``: peft's layers, to set the active adapter;
- ``shared_modules``: every module that no adapter owns (their ``training``
  flag is the model's);
- ``owned``: each adapter's parameters (which require grad iff active);
- :meth:`SharedBase.only`: a context in which the model shows peft only the
  named adapters, so that adding an adapter costs O(1), not O(N).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # peft costs seconds to import; index() imports it when a model exists
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import AuxiliaryTrainingWrapper


@dataclass
class SharedBase:
    """One frozen base wrapped by peft, with the names of the adapters on it.

    ``active``: the adapter whose weights require grad (the one peft's layers
    run); the other fields are described in the module docstring and are
    refreshed by :meth:`index` (called whenever an adapter is added).
    """

    peft_model: PeftModel
    n_base_params: int
    adapters: list[str]
    active: str | None = None
    tuner_layers: list[BaseTunerLayer] = field(default_factory=list)
    wrappers: list[AuxiliaryTrainingWrapper] = field(default_factory=list)
    shared_modules: list[torch.nn.Module] = field(default_factory=list)
    owned: dict[str, list[torch.nn.Parameter]] = field(default_factory=dict)

    def index(self) -> dict[str, list[torch.nn.Module]]:
        """Walk the model once: refresh the layer lists; the visible adapters' own modules.

        A module belongs to adapter ``a`` when ``a`` is a component of its
        dotted name (``...lora_A.a``, ``...modules_to_save.a``); adapter names
        (``client<i>``) never occur in the base's own module names. The shared
        modules are the same whether or not :meth:`only` hides adapters.
        """
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils.other import AuxiliaryTrainingWrapper

        names = set(self.adapters)
        self.tuner_layers, self.wrappers, self.shared_modules = [], [], []
        owned: dict[str, list[torch.nn.Module]] = {}
        for path, module in self.peft_model.named_modules():
            hit = names.intersection(path.split("."))
            if len(hit) > 1:
                raise RuntimeError(f"module {path!r} belongs to adapters {sorted(hit)}")
            if hit:
                owned.setdefault(hit.pop(), []).append(module)
                continue
            self.shared_modules.append(module)
            if isinstance(module, BaseTunerLayer):
                self.tuner_layers.append(module)
            elif isinstance(module, AuxiliaryTrainingWrapper):
                self.wrappers.append(module)
        return owned

    def _containers(self) -> list[torch.nn.ModuleDict]:
        """Every per-adapter module container of the peft layers (keys: adapter names)."""
        out = []
        for layer in [*self.tuner_layers, *self.wrappers]:
            for attr in (*layer.adapter_layer_names, *getattr(layer, "other_param_names", ())):
                value = getattr(layer, attr, None)
                if isinstance(value, torch.nn.ModuleDict):
                    out.append(value)
                elif isinstance(value, torch.nn.ParameterDict) and len(value):
                    raise RuntimeError(f"{type(layer).__name__}.{attr}: parameter containers "
                                       "are not supported")
        return out

    @contextmanager
    def only(self, keep: set[str]) -> Iterator[None]:
        """Within the block, the model's containers hold only the adapters in ``keep``.

        Entries of the other adapters are taken out and put back afterwards,
        in their original order, before anything added within the block
        (which is where peft appends a new adapter's entries). Their
        parameters stay where they are (the optimizers hold them). Use it for
        peft calls that walk the model and concern ``keep`` only.
        """
        saved = []
        for container in self._containers():
            modules = container._modules
            before = list(modules.items())
            saved.append((modules, before))
            for key, _ in before:
                if key not in keep:
                    del modules[key]
        try:
            yield
        finally:
            for modules, before in saved:
                known = {key for key, _ in before}
                added = [(k, v) for k, v in modules.items() if k not in known]
                modules.clear()
                modules.update(before)
                modules.update(added)
