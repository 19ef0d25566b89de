"""The simulated channel source: path loss + shadowing + small-scale fading.

``SNR[s, c, b] [dB] = P_tx − PL(d_c) − X_c − N + 10 log10 g[s, c, b]`` where
PL is the configured path-loss model (LOS state drawn with the model's LOS
probability when ``los: auto``), X_c ~ N(0, σ²) log-normal shadowing [dB]
(σ = ``shadowing_std_db`` or the model's default), N the noise power over the
channel bandwidth [dBm] and g the small-scale power gain (E[g] = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.errors import ConfigFieldError
from cosim.wireless.channel import ChannelBlock, ChannelSource
from cosim.wireless.config import FadingConfig, WirelessConfig
from cosim.wireless.counter_rng import new_key
from cosim.wireless.fading import make_process, power_gain
from cosim.wireless.pathloss import make_path_loss
from cosim.wireless.pathloss.base import SPEED_OF_LIGHT_MPS
from cosim.wireless.shadowing import LogNormalShadowing


@dataclass(frozen=True)
class LargeScale:
    """Per-client large-scale state, arrays ``[n_clients]``."""

    path_loss_db: np.ndarray
    los: np.ndarray
    shadowing_db: np.ndarray
    #: TR 38.901 effective environment height h_E [m] (UMa draws it; 1 m otherwise).
    env_height_m: np.ndarray | None = None


def check_geometry(distances_m: np.ndarray, speeds_mps: np.ndarray) -> None:
    """Raise :class:`ConfigFieldError` naming the client for a bad distance or speed."""
    for i, d in enumerate(np.asarray(distances_m, dtype=np.float64)):
        if not np.isfinite(d) or d <= 0:
            raise ConfigFieldError(f"clients[{i}].distance_m", f"must be > 0, got {d!r}")
    for i, v in enumerate(np.asarray(speeds_mps, dtype=np.float64)):
        if not np.isfinite(v) or v < 0:
            raise ConfigFieldError(f"clients[{i}].speed_mps", f"must be >= 0, got {v!r}")


def draw_large_scale(
    cfg: WirelessConfig, distances_m: np.ndarray, rng: np.random.Generator
) -> LargeScale:
    """Path loss, LOS state, shadowing and h_E of each client (drawn once per run).

    Draw order from ``rng``: LOS uniforms, shadowing normals, then h_E uniforms
    (UMa with h_UT > 13 m only), so a seed fixes all of them.
    """
    d = np.asarray(distances_m, dtype=np.float64)
    model = make_path_loss(cfg.path_loss, cfg.carrier_hz)
    los_mode = getattr(cfg.path_loss, "los", "los")
    u = rng.random(d.shape)
    if los_mode == "auto":
        los = u < model.los_probability(d)
    else:
        los = np.full(d.shape, los_mode == "los")
    std = (
        model.shadowing_std_db(los)
        if cfg.shadowing_std_db is None
        else np.full(d.shape, cfg.shadowing_std_db)
    )
    shadow = LogNormalShadowing(std).draw(rng)
    h_e = model.draw_environment_height_m(d, rng)
    return LargeScale(model.loss_db(d, los, h_e), los, shadow, h_e)


def doppler_hz(cfg: WirelessConfig, speeds_mps: np.ndarray) -> np.ndarray:
    """Maximum Doppler per client [Hz], or the fixed ``fading.doppler_hz``.

    ``f_d = sqrt((v f_c / c)² + f_env²)``: the client's motion (speed v [m/s],
    carrier f_c [Hz]) and the scatterers' (``fading.environment_doppler_hz``),
    combined root-sum-square as independent Doppler spreads add in variance.
    """
    v = np.asarray(speeds_mps, dtype=np.float64)
    fading = cfg.fading
    if fading.doppler_hz is not None:
        return np.full(v.shape, fading.doppler_hz)
    if cfg.carrier_hz is None:
        if np.any(v > 0) and fading.correlation != "block":
            raise ConfigFieldError("carrier_hz", "is needed to turn client speed into Doppler")
        return np.full(v.shape, fading.environment_doppler_hz)
    return np.hypot(v * cfg.carrier_hz / SPEED_OF_LIGHT_MPS, fading.environment_doppler_hz)


class SimulatedChannel(ChannelSource):
    """Mean SNR per client [dB] plus a small-scale fading process; ``kind = "snr"``."""

    kind = "snr"

    def __init__(
        self,
        mean_snr_db: np.ndarray,
        fading: FadingConfig,
        fd_hz: np.ndarray,
        slot_s: float,
        rng: np.random.Generator,
    ) -> None:
        self._mean = np.asarray(mean_snr_db, dtype=np.float64)
        self.n_clients = int(self._mean.shape[0])
        self.n_subbands = fading.subbands
        self.fading = fading
        self.process = make_process(fading, fd_hz, slot_s, new_key(rng))
        self.los_key = new_key(rng)

    def mean_snr_db(self) -> np.ndarray:
        return self._mean.copy()

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        f = self.fading
        if f.distribution == "none":
            g_db = np.zeros((n_slots, self.n_clients, self.n_subbands))
        else:
            h = self.process.samples(first_slot, n_slots)
            g = power_gain(h, f.distribution, f.k_db, f.m, self.los_key)
            with np.errstate(divide="ignore"):
                g_db = 10 * np.log10(g)
        return ChannelBlock(first_slot, snr_db=self._mean[None, :, None] + g_db)


def simulated_pair(
    cfg: WirelessConfig,
    distances_m: np.ndarray,
    speeds_mps: np.ndarray,
    rng: np.random.Generator,
) -> tuple[SimulatedChannel, SimulatedChannel, LargeScale]:
    """Uplink and downlink channels sharing large-scale state; independent fading (FDD)."""
    check_geometry(distances_m, speeds_mps)
    large = draw_large_scale(cfg, distances_m, rng)
    loss = large.path_loss_db + large.shadowing_db
    fd = doppler_hz(cfg, speeds_mps)
    slot = cfg.mac.slot_s
    up = SimulatedChannel(cfg.uplink_tx_power_dbm - loss - cfg.noise_dbm, cfg.fading, fd, slot, rng)
    down_mean = cfg.downlink_tx_power_dbm - loss - cfg.ue_noise_dbm
    down = SimulatedChannel(down_mean, cfg.fading, fd, slot, rng)
    return up, down, large
