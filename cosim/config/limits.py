"""Plausible ranges of every numeric scenario setting, checked when a scenario is loaded.

A scenario is a file people share. A value can pass a config's own checks
(``slot_s > 0``) and still be absurd (``slot_s: 1e308`` overflows the fading
model; ``rounds: 1e15`` never ends). So every ``int`` and ``float`` field of
every config dataclass a scenario maps onto has a range here, inclusive at
both ends, that generously covers physical and practical use. The mapper
(:mod:`cosim.config.mapping`) checks each value against it *before* the
dataclass is built, and reports ``file:line path: must be in [low, high]
(plausible range), got value``. A config's ``__post_init__`` then applies its
own, finer rules (strict bounds, relations between fields).

Keys are ``ClassName.field``; ``tests/reliability/test_limits.py`` checks that
every numeric field reachable from :class:`cosim.scenario.Scenario` has one, so
a new field needs a range here.
"""

from __future__ import annotations

import math

from cosim.errors import ConfigFieldError

BIG = 10**9  # counts: rounds, tokens, slots (a run of more is not a simulation we can do)

# Total clients over all groups (the trace, the engine and the network allocate per client).
MAX_CLIENTS = 10_000

LIMITS: dict[str, tuple[float, float]] = {
    # scenario, clients, output
    "Scenario.seed": (0, 2**63 - 1),
    "ClientGroup.count": (1, MAX_CLIENTS),
    "ClientGroup.distance_m": (0.1, 1e5),
    "ClientGroup.speed_mps": (0.0, 500.0),  # faster than high-speed rail (~100 m/s)
    "ModelSpec.lora_rank": (1, 1024),
    "ModelSpec.lora_alpha": (0.0, 1e4),
    "ModelSpec.lora_dropout": (0.0, 1.0),
    "OutputConfig.flush_every_rounds": (1, BIG),
    "OutputConfig.checkpoint_every_rounds": (0, BIG),
    # wireless
    "WirelessConfig.carrier_hz": (1e8, 1e11),
    "WirelessConfig.bandwidth_hz": (1e3, 1e10),
    "WirelessConfig.noise_psd_dbm_per_hz": (-250.0, -100.0),
    "WirelessConfig.noise_figure_db": (0.0, 30.0),
    "WirelessConfig.ue_noise_figure_db": (0.0, 30.0),
    "WirelessConfig.uplink_tx_power_dbm": (-50.0, 60.0),
    "WirelessConfig.downlink_tx_power_dbm": (-50.0, 80.0),
    "WirelessConfig.min_distance_m": (0.1, 1e5),
    "WirelessConfig.cell_radius_m": (0.1, 1e5),
    "WirelessConfig.shadowing_std_db": (0.0, 30.0),
    "WirelessConfig.channel_sample_every_slots": (1, BIG),
    "LogDistancePathLoss.exponent": (1.0, 8.0),
    "LogDistancePathLoss.reference_distance_m": (1e-3, 1e4),
    "LogDistancePathLoss.reference_loss_db": (0.0, 200.0),
    "UMaPathLoss.bs_height_m": (1.0, 150.0),
    "UMaPathLoss.ut_height_m": (1.0, 22.5),
    "UMiPathLoss.bs_height_m": (1.0, 150.0),
    "UMiPathLoss.ut_height_m": (1.0, 22.5),
    "RMaPathLoss.bs_height_m": (1.0, 150.0),
    "RMaPathLoss.ut_height_m": (1.0, 22.5),
    "RMaPathLoss.building_height_m": (5.0, 50.0),
    "RMaPathLoss.street_width_m": (5.0, 50.0),
    "FadingConfig.k_db": (-40.0, 40.0),
    "FadingConfig.m": (0.5, 100.0),
    "FadingConfig.block_s": (1e-6, 3600.0),
    "FadingConfig.num_sinusoids": (4, 256),
    "FadingConfig.doppler_hz": (0.0, 1e5),
    "FadingConfig.environment_doppler_hz": (0.0, 1000.0),
    "FadingConfig.subbands": (1, 10_000),
    "ShannonLink.snr_gap_db": (0.0, 30.0),
    "ShannonLink.max_spectral_efficiency": (0.0, 100.0),
    "ShannonLink.bler": (0.0, 1.0),
    "CqiTableLink.target_bler": (1e-6, 0.5),
    "CqiTableLink.bler_slope_per_db": (0.1, 20.0),
    "McsTableLink.ber_target": (1e-12, 0.1),
    "McsTableLink.decoding_gap_db": (0.0, 20.0),
    "McsTableLink.bler_slope_per_db": (0.1, 20.0),
    "McsTableLink.dmrs_re_per_rb": (0, 72),
    "McsTableLink.overhead_re_per_rb": (0, 18),
    "McsTableLink.csi_step_db": (0.0, 10.0),
    "UplinkPowerConfig.p0_dbm_per_rb": (-202.0, 24.0),
    "UplinkPowerConfig.alpha": (0.0, 1.0),
    "MacConfig.slot_s": (1e-6, 1.0),
    "MacConfig.num_rbs": (1, 10_000),
    "MacConfig.rb_bandwidth_hz": (1e3, 1e9),
    "MacConfig.pf_beta": (0.0, 1.0),
    "MacConfig.min_rbs_per_ue": (1, 10_000),
    "MacConfig.max_ues_per_slot": (1, MAX_CLIENTS),
    "PacketConfig.mtu_bytes": (1, 1 << 20),
    "PacketConfig.harq_rtt_slots": (1, 1024),
    "PacketConfig.harq_max_tx": (1, 64),
    "PacketConfig.header_bytes": (0, 65_535),
    "PacketConfig.tb_header_bytes": (0, 65_535),
    "TrafficConfig.payload_bytes": (1, 10**12),
    "TrafficConfig.period_s": (1e-6, 1e7),
    "TrafficConfig.rounds": (1, BIG),
    "TrafficConfig.duration_s": (1e-6, 1e7),
    "TrafficConfig.deadline_s": (1e-6, 1e7),
    # recorded channel traces
    "TraceReplayConfig.client_columns": (0, 10**6),
    "TraceReplayConfig.offsets_s": (0.0, 1e9),
    "TraceReplayConfig.offset_step_s": (0.0, 1e7),
    "TraceReplayConfig.snr_scale": (0.0, 1e3),
    "TraceReplayConfig.snr_offset_db": (-300.0, 300.0),
    "TraceReplayConfig.rate_scale": (0.0, 1e9),
    # data and distillation
    "DataConfig.public_tokens": (1, BIG),
    "DataConfig.dirichlet_alpha": (0.0, 1e6),
    "DataConfig.seq_len": (4, 8192),
    "DataConfig.shard_tokens": (4, BIG),
    "DataConfig.test_fraction": (0.0, 0.9),
    "DataConfig.eval_tokens": (4, BIG),
    "DistillationConfig.rounds": (1, 10**6),
    "DistillationConfig.public_tokens_per_round": (1, 10**7),
    "DistillationConfig.local_steps": (0, 10**6),
    "DistillationConfig.batch_size": (1, 65_536),
    "DistillationConfig.lr": (0.0, 10.0),
    "DistillationConfig.weight_decay": (0.0, 10.0),
    "DistillationConfig.grad_clip": (0.0, 1e6),
    "DistillationConfig.temperature": (1e-3, 1e3),
    "DistillationConfig.alpha": (0.0, 1e3),
    "DistillationConfig.beta": (0.0, 1e3),
    "DistillationConfig.k": (1, 1 << 20),
    "DistillationConfig.k_min": (1, 1 << 20),
    "DistillationConfig.k_max": (1, 1 << 20),
    "DistillationConfig.safety_factor": (0.0, 1.0),
    "DistillationConfig.likelihood_temperature_nats": (1e-6, 1e6),
    "DistillationConfig.downlink_k": (1, 1 << 20),
    "DistillationConfig.coverage": (0.0, 1.0),
    "DistillationConfig.default_budget_bytes": (1, 10**12),
    "DistillationConfig.hidden_layer": (-1024.0, 1.0),
    "DistillationConfig.hidden_rank": (1, 4096),
    "ParallelConfig.workers": (1, 4096),
    "ParallelConfig.threads": (1, 4096),
    # server and compute
    "ServerConfig.fraction": (0.0, 1.0),
    "ServerConfig.m": (1, MAX_CLIENTS),
    "ServerConfig.round_deadline_s": (1e-6, 1e7),
    "ServerConfig.evaluate_every_rounds": (1, 10**6),
    "ComputeConfig.wall_time_scale": (1e-9, 1e9),
    "ComputeConfig.server_flops_per_s": (1e3, 1e21),
    "DeviceProfile.effective_flops_per_s": (1e3, 1e21),
    "DeviceProfile.power_w": (0.0, 1e5),
}


def _show(value: float) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_limit(cls_name: str, field: str, value: object) -> None:
    """Check ``value`` (a number, or a tuple of them) against ``LIMITS[cls.field]``.

    Fields without an entry, non-numbers and ``None`` pass (the mapper has
    already checked the type).

    Raises:
        ConfigFieldError: naming the field (with the index of a bad tuple
            item), the value and the range.
    """
    limits = LIMITS.get(f"{cls_name}.{field}")
    if limits is None:
        return
    items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
    low, high = limits
    for index, item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            continue  # the config's own check says "must be finite"
        if not low <= item <= high:
            name = field if index is None else f"{field}.{index}"
            raise ConfigFieldError(
                name, f"must be in [{_show(low)}, {_show(high)}] (plausible range), "
                f"got {_show(item)}"
            )
