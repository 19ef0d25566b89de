"""Where clients sit in the cell: distances from the base station.

The cell is the annulus ``[min_distance_m, cell_radius_m]`` of
:class:`cosim.wireless.config.WirelessConfig`. A client with a fixed distance
keeps it; the others are placed uniformly in area over the annulus.
"""

from __future__ import annotations

import math

import numpy as np

from cosim.wireless.config import WirelessConfig


def place_distances(
    cfg: WirelessConfig, fixed_m: list[float | None], rng: np.random.Generator
) -> np.ndarray:
    """Distances [m]; ``None`` entries uniform in area over the annulus:
    ``d = sqrt(U (R² − r0²) + r0²)``, U ~ U(0, 1), r0 = min_distance_m, R = cell_radius_m."""
    out = np.empty(len(fixed_m))
    r0, r1 = cfg.min_distance_m, cfg.cell_radius_m
    for i, d in enumerate(fixed_m):
        out[i] = d if d is not None else math.sqrt(rng.uniform() * (r1**2 - r0**2) + r0**2)
    return out
