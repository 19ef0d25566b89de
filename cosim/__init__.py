"""cosim: co-simulator for federated LLM distillation over wireless networks.

``cosim.run(...)`` and ``cosim.study(...)`` (:mod:`cosim.api`) are loaded on
first use, so ``import cosim`` stays light (no torch, no pandas).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "read_trace", "run", "study"]

_LAZY = {"run": "cosim.api", "read_trace": "cosim.trace.reader"}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "study":  # the subpackage, callable as cosim.api.study (see its docstring)
        return importlib.import_module("cosim.study")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cosim' has no attribute {name!r}")
