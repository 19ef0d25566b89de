"""The names of the built-in model presets: the one list, free of torch.

:mod:`cosim.engine.model_loading` builds them; the scenario front end
(:mod:`cosim.scenario_paths`, :mod:`cosim.scenario_checks`) tells a preset from
a local directory or a hub id with :func:`is_builtin_preset` without loading
torch or transformers.

- ``smollm2-135m``: the pretrained SmolLM2-135M-Instruct (``SMOLLM2_LAYERS`` = 30 layers);
- ``smollm2-<n>l``: its first n layers (:data:`TRUNCATED_PRESET`; n in [1, 30] is
  checked when the model loads);
- ``tiny-gpt2``, ``tiny-llama``, ``tiny-qwen2``: 2-layer models built from the seed.
"""

from __future__ import annotations

import re

SMOLLM2_PRESET = "smollm2-135m"
SMOLLM2_LAYERS = 30
#: ``smollm2-<n>l``; group 1 is n.
TRUNCATED_PRESET = re.compile(r"smollm2-(\d+)l")
TINY_PRESETS = ("tiny-gpt2", "tiny-llama", "tiny-qwen2")
#: Names offered in "did you mean" (``smollm2-<n>l`` stands for any depth).
PRESET_EXAMPLES = (SMOLLM2_PRESET, "smollm2-4l", "smollm2-8l", *TINY_PRESETS)


def is_builtin_preset(name: str) -> bool:
    """Whether ``name`` is a built-in preset (any ``smollm2-<n>l`` depth counts)."""
    if name == SMOLLM2_PRESET or name in TINY_PRESETS:
        return True
    return TRUNCATED_PRESET.fullmatch(name) is not None
