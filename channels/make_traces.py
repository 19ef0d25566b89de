"""Regenerate the traces shipped in ``channels/`` with cosim's own channel model.

Run from the repository root::

    .venv/bin/python channels/make_traces.py

Every trace is a pure function of the settings below (fixed seeds), so the
output is identical on every machine; ``channels/README.md`` carries one
provenance line per file. SNRs are the uplink wideband SNR [dB] of
:func:`cosim.wireless.simulated.simulated_pair` (path loss + shadowing +
Jakes fading), sampled at slot starts and rounded to 0.01 dB to keep the files
small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cosim.channels.formats import write_trace
from cosim.channels.mahimahi import trace_to_timestamps
from cosim.channels.series import ChannelTrace
from cosim.wireless.config import MacConfig, WirelessConfig
from cosim.wireless.fading.config import FadingConfig
from cosim.wireless.pathloss.uma import UMaPathLoss
from cosim.wireless.pathloss.umi import UMiPathLoss
from cosim.wireless.simulated import simulated_pair

HERE = Path(__file__).resolve().parent


def snr_trace(
    cfg: WirelessConfig,
    distances_m: list[float],
    speeds_mps: list[float],
    *,
    seed: int,
    duration_s: float,
    every_slots: int,
    provenance: str,
) -> ChannelTrace:
    """Uplink SNR [dB] of each client every ``every_slots`` slots for ``duration_s``."""
    rng = np.random.default_rng(seed)
    up, _, _ = simulated_pair(cfg, np.array(distances_m), np.array(speeds_mps), rng)
    slot = cfg.mac.slot_s
    n_slots = round(duration_s / slot)
    slots = np.arange(0, n_slots, every_slots)
    snr = up.block(0, n_slots).snr_db[slots, :, 0]
    return ChannelTrace(
        np.round(slots * slot, 9), np.round(snr, 2), "snr_db", duration_s,
        tuple(str(c) for c in range(len(distances_m))), provenance=provenance,
    )


def shannon_rate(snr_db: np.ndarray, bandwidth_hz: float, max_eff: float = 6.0) -> np.ndarray:
    """``B · min(log2(1 + γ), η_max)`` [bit/s], zero below 0 dB (no MCS decodes there)."""
    eff = np.minimum(np.log2(1 + 10 ** (snr_db / 10)), max_eff)
    return np.where(snr_db >= 0.0, bandwidth_hz * eff, 0.0)


def main(out: Path = HERE) -> None:
    """Write the four shipped traces into ``out``."""
    # Pedestrians in a UMi street canyon at 3.5 GHz: 17.8 Hz Doppler (17.5 Hz of
    # motion, 3 Hz environmental), 5 ms samples.
    umi = WirelessConfig(path_loss=UMiPathLoss(), fading=FadingConfig(correlation="jakes"))
    ped = snr_trace(umi, [50.0, 150.0], [1.5, 1.5], seed=1, duration_s=30.0, every_slots=5,
                    provenance="cosim: UMi 3.5 GHz, 2 pedestrians (50 m, 150 m) at 1.5 m/s, "
                    "seed 1")
    write_trace(ped, out / "ped_umi_3p5ghz.csv", "native_csv")

    # A car at 30 m/s in UMa at 3.5 GHz: 350 Hz Doppler, so every 1 ms slot.
    uma = WirelessConfig(path_loss=UMaPathLoss(), fading=FadingConfig(correlation="jakes"))
    car = snr_trace(uma, [150.0], [30.0], seed=2, duration_s=10.0, every_slots=1,
                    provenance="cosim: UMa 3.5 GHz, vehicle at 150 m and 30 m/s, seed 2")
    write_trace(car, out / "vehicular_30mps.csv", "native_csv")

    # A static terminal at the edge of a 500 m UMa cell, NLOS; scatterers moving
    # around it give a slow 2 Hz Doppler.
    edge_cfg = WirelessConfig(
        path_loss=UMaPathLoss(los="nlos"),
        fading=FadingConfig(correlation="jakes", doppler_hz=2.0),
    )
    edge = snr_trace(edge_cfg, [480.0], [0.0], seed=3, duration_s=60.0, every_slots=20,
                     provenance="cosim: UMa NLOS 3.5 GHz, static at 480 m, 2 Hz Doppler, seed 3")
    write_trace(edge, out / "cell_edge_static.csv", "native_csv")

    # Mahimahi-style bursty link: a 30 m/s vehicle at 420 m on a 5 MHz carrier; the
    # Shannon rate of each 1 ms slot (0 in outage below 0 dB) becomes packet opportunities.
    narrow = WirelessConfig(
        path_loss=UMaPathLoss(), bandwidth_hz=5e6, mac=MacConfig(num_rbs=25),
        fading=FadingConfig(correlation="jakes"),
    )
    burst = snr_trace(narrow, [420.0], [30.0], seed=4, duration_s=10.0, every_slots=1,
                      provenance="")
    rate = ChannelTrace(burst.time_s, shannon_rate(burst.values, 5e6), "rate_bps", 10.0)
    stamps = trace_to_timestamps(rate)
    (out / "bursty_vehicular.mahi").write_text("".join(f"{s}\n" for s in stamps))


if __name__ == "__main__":
    main()
