"""One strategy class per method (DESIGN.md 1.6), behind :data:`METHODS`.

Adding a method: a module here with a :class:`Strategy` subclass, and its
entry in :data:`METHODS` (and in ``DistillationConfig.method``'s choices).
"""

from __future__ import annotations

from cosim.engine.config import DistillationConfig
from cosim.engine.strategies.adaptive import Adaptive
from cosim.engine.strategies.base import Strategy
from cosim.engine.strategies.fd_full import FdFull
from cosim.engine.strategies.fd_topk import FdTopk
from cosim.engine.strategies.fedavg_lora import FedAvgLora
from cosim.engine.strategies.local_only import LocalOnly

METHODS: dict[str, type[Strategy]] = {
    "local_only": LocalOnly,
    "fedavg_lora": FedAvgLora,
    "fd_full": FdFull,
    "fd_topk": FdTopk,
    "adaptive": Adaptive,
}


def build_strategy(config: DistillationConfig) -> Strategy:
    """The strategy of ``config.method``."""
    try:
        cls = METHODS[config.method]
    except KeyError:
        raise ValueError(
            f"method: must be one of {', '.join(METHODS)}, got {config.method!r}"
        ) from None
    return cls(config)


__all__ = ["METHODS", "Strategy", "build_strategy"]
