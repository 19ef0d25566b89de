"""Server logic and compute-model configuration of a co-simulation.

Device profiles turn the engine's FLOP counts into simulated compute time::

    t_compute [s] = FLOPs / effective_flops_per_s

``effective_flops_per_s`` is a sustained training throughput, i.e. the peak
figure times a utilisation; each preset says where its numbers come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cosim.config.checks import check_int_range, check_literals, check_positive, check_range


@dataclass(frozen=True)
class DeviceProfile:
    """A client device's compute capability.

    Attributes:
        effective_flops_per_s: sustained FLOP/s for LoRA fine-tuning [FLOP/s].
        power_w: average power while computing [W] (for the energy estimate).
        source: where the figures come from.
    """

    effective_flops_per_s: float
    power_w: float = 5.0
    source: str = ""

    def __post_init__(self) -> None:
        check_positive("effective_flops_per_s", self.effective_flops_per_s)
        check_positive("power_w", self.power_w)


# Utilisation of 10–30 % of peak is typical for small-batch fine-tuning on
# edge devices (memory-bound); we use the low end to stay conservative.
DEVICE_PRESETS: dict[str, DeviceProfile] = {
    "phone": DeviceProfile(
        effective_flops_per_s=2.0e11,
        power_w=4.0,
        source="Snapdragon 8 Gen 2 Adreno 740 GPU, ~2.0 TFLOP/s FP32 peak (vendor spec), "
        "10% utilisation; ~4 W sustained SoC power",
    ),
    "laptop": DeviceProfile(
        effective_flops_per_s=7.0e11,
        power_w=20.0,
        source="Apple M2 10-core GPU, ~3.6 TFLOP/s FP32 peak (vendor spec), 20% utilisation; "
        "~20 W package power under load",
    ),
    "edge_gpu": DeviceProfile(
        effective_flops_per_s=1.6e12,
        power_w=40.0,
        source="NVIDIA Jetson AGX Orin 64GB, ~5.3 TFLOP/s FP32 CUDA-core peak (datasheet), "
        "30% utilisation; 40 W power mode",
    ),
}


@dataclass(frozen=True)
class ComputeConfig:
    """How local-update time is simulated.

    ``deterministic``: FLOPs ÷ the client's profile FLOP/s (same seed, same
    times). ``measured``: the engine's measured wall time × ``wall_time_scale``
    (not reproducible across machines; for calibration studies).
    """

    mode: Literal["deterministic", "measured"] = "deterministic"
    wall_time_scale: float = 1.0
    # Extra or overriding profiles by name, e.g. {my_board: {effective_flops_per_s: 3e11}}.
    profiles: dict[str, DeviceProfile] = field(default_factory=dict)
    server_flops_per_s: float = 1.0e13

    def __post_init__(self) -> None:
        check_literals(self)
        check_positive("wall_time_scale", self.wall_time_scale)
        check_positive("server_flops_per_s", self.server_flops_per_s)

    def profile(self, name: str) -> DeviceProfile:
        """The named profile: scenario-defined first, then the presets."""
        if name in self.profiles:
            return self.profiles[name]
        return DEVICE_PRESETS[name]

    def profile_names(self) -> tuple[str, ...]:
        """Every profile name a client may use."""
        return tuple(sorted(set(DEVICE_PRESETS) | set(self.profiles)))


@dataclass(frozen=True)
class ServerConfig:
    """Round protocol at the server/base station (DESIGN.md 1.1, 4).

    Attributes:
        selection: ``all`` clients, a ``random_fraction`` of them, or the
            ``best_m`` by current uplink SNR (channel-aware).
        round_deadline_s: uplink deadline measured from the round start [s];
            null for no deadline (the round waits for everyone).
        late_policy: late uploads are recorded then discarded.
        rate_estimator: how a client predicts its uplink rate R̂ for the
            adaptive Top-k budget ``B = η · R̂ · (deadline − t0)``: ``csi``
            (current SNR × an equal share of the resource blocks) or ``ewma``
            (EWMA of its past uplink throughput; ``csi`` until it has one).
        evaluate_every_rounds: evaluation cadence (the last round is always
            evaluated); evaluation takes no simulated time.
    """

    selection: Literal["all", "random_fraction", "best_m"] = "all"
    fraction: float = 1.0
    m: int = 1
    round_deadline_s: float | None = 10.0
    late_policy: Literal["discard"] = "discard"
    rate_estimator: Literal["csi", "ewma"] = "csi"
    evaluate_every_rounds: int = 1

    def __post_init__(self) -> None:
        check_range("fraction", self.fraction, 0.0, 1.0, low_inclusive=False)
        check_int_range("m", self.m, 1)
        check_int_range("evaluate_every_rounds", self.evaluate_every_rounds, 1)
        if self.round_deadline_s is not None:
            check_positive("round_deadline_s", self.round_deadline_s)
        check_literals(self)
