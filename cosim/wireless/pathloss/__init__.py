"""Large-scale path-loss models, one per file, and a factory from config."""

from __future__ import annotations

from cosim.wireless.config import (
    FreeSpacePathLoss,
    LogDistancePathLoss,
    PathLossConfig,
    RMaPathLoss,
    UMaPathLoss,
    UMiPathLoss,
)
from cosim.wireless.pathloss.base import PathLossModel
from cosim.wireless.pathloss.free_space import FreeSpace
from cosim.wireless.pathloss.log_distance import LogDistance
from cosim.wireless.pathloss.rma import RMa
from cosim.wireless.pathloss.uma import UMa
from cosim.wireless.pathloss.umi import UMi

__all__ = ["FreeSpace", "LogDistance", "PathLossModel", "RMa", "UMa", "UMi", "make_path_loss"]


def make_path_loss(cfg: PathLossConfig, carrier_hz: float | None) -> PathLossModel:
    """The model ``cfg`` describes (config validation guarantees ``carrier_hz`` where needed)."""
    if isinstance(cfg, LogDistancePathLoss):
        return LogDistance(
            cfg.exponent, cfg.reference_distance_m, cfg.reference_loss_db, carrier_hz
        )
    if carrier_hz is None:
        raise ValueError(f"path loss model {cfg.model!r} needs carrier_hz")
    if isinstance(cfg, FreeSpacePathLoss):
        return FreeSpace(carrier_hz)
    if isinstance(cfg, UMaPathLoss):
        return UMa(carrier_hz, cfg.bs_height_m, cfg.ut_height_m)
    if isinstance(cfg, UMiPathLoss):
        return UMi(carrier_hz, cfg.bs_height_m, cfg.ut_height_m)
    if isinstance(cfg, RMaPathLoss):
        return RMa(
            carrier_hz, cfg.bs_height_m, cfg.ut_height_m, cfg.building_height_m, cfg.street_width_m
        )
    raise TypeError(f"unknown path loss config {cfg!r}")
