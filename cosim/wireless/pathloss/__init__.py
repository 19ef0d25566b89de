"""Large-scale path-loss models, one per file, each with its config and build.

A model file holds the config dataclass (``wireless.path_loss`` in a scenario,
``model:`` naming it), the formulas and ``build(carrier_hz)``; this package
lists the configs (:data:`PATH_LOSS_MODELS`, the ``PathLossConfig`` union the
YAML mapping discriminates by ``model``). Adding a model: one file and one entry
in the union below.
"""

from __future__ import annotations

from typing import get_args

from cosim.wireless.pathloss.base import PathLossModel
from cosim.wireless.pathloss.free_space import FreeSpace, FreeSpacePathLoss
from cosim.wireless.pathloss.log_distance import LogDistance, LogDistancePathLoss
from cosim.wireless.pathloss.rma import RMa, RMaPathLoss
from cosim.wireless.pathloss.uma import UMa, UMaPathLoss
from cosim.wireless.pathloss.umi import UMi, UMiPathLoss

__all__ = [
    "PATH_LOSS_MODELS",
    "FreeSpace",
    "FreeSpacePathLoss",
    "LogDistance",
    "LogDistancePathLoss",
    "PathLossConfig",
    "PathLossModel",
    "RMa",
    "RMaPathLoss",
    "UMa",
    "UMaPathLoss",
    "UMi",
    "UMiPathLoss",
    "make_path_loss",
]

PathLossConfig = FreeSpacePathLoss | LogDistancePathLoss | UMaPathLoss | UMiPathLoss | RMaPathLoss
PATH_LOSS_MODELS: tuple[type, ...] = get_args(PathLossConfig)


def make_path_loss(cfg: PathLossConfig, carrier_hz: float | None) -> PathLossModel:
    """The model ``cfg`` describes (config validation guarantees ``carrier_hz`` where needed)."""
    if not isinstance(cfg, PATH_LOSS_MODELS):
        raise TypeError(f"unknown path loss config {cfg!r}")
    return cfg.build(carrier_hz)
