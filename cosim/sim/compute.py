"""Compute model: how long a client's local work takes in simulated time.

Deterministic (default)::

    t [s] = FLOPs / effective_flops_per_s(device)

Measured: ``t [s] = wall_time_s × wall_time_scale`` — the engine's measured
wall-clock time, scaled (e.g. by the ratio of this host to the target
device). Measured times differ between machines and runs, so they break
bit-for-bit reproducibility; use them for calibration only.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosim.sim.config import ComputeConfig, DeviceProfile


@dataclass(frozen=True)
class ComputeCost:
    """Simulated duration [s] and energy [J] of one piece of client work."""

    duration_s: float
    energy_j: float


class ComputeModel:
    """Turns the engine's reported work into simulated time per client.

    Args:
        config: the scenario's ``compute`` section.
        device_names: each client's device profile name, by client index.
    """

    def __init__(self, config: ComputeConfig, device_names: list[str]) -> None:
        self.config = config
        self.profiles: list[DeviceProfile] = [config.profile(name) for name in device_names]

    def cost(self, client: int, flops: float, wall_time_s: float) -> ComputeCost:
        """Duration and energy of ``flops`` of work that took ``wall_time_s`` here."""
        if flops < 0 or wall_time_s < 0:
            raise ValueError(f"negative work: flops={flops}, wall_time_s={wall_time_s}")
        profile = self.profiles[client]
        if self.config.mode == "measured":
            duration = wall_time_s * self.config.wall_time_scale
        else:
            duration = flops / profile.effective_flops_per_s
        return ComputeCost(duration_s=duration, energy_j=duration * profile.power_w)

    def server_duration_s(self, flops: float) -> float:
        """Simulated time of server-side work (aggregation) [s]."""
        return flops / self.config.server_flops_per_s
