"""Helpers for the wireless tests: channel sources with known values."""

from __future__ import annotations

import numpy as np

from cosim.wireless.channel import ChannelBlock, ChannelSource


class ConstantSource(ChannelSource):
    """Every slot, client ``c`` has SNR ``snr_db[c]`` (a deterministic channel)."""

    kind = "snr"

    def __init__(self, snr_db: list[float] | np.ndarray, n_subbands: int = 1) -> None:
        self.snr = np.asarray(snr_db, dtype=np.float64)
        self.n_clients = int(self.snr.shape[0])
        self.n_subbands = n_subbands
        self.requests: list[tuple[int, int]] = []

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        self.requests.append((first_slot, n_slots))
        vals = np.broadcast_to(self.snr[None, :, None], (n_slots, self.n_clients, self.n_subbands))
        return ChannelBlock(first_slot, snr_db=vals.copy())


class ArraySource(ChannelSource):
    """Replays ``values[slot, client(, subband)]`` (SNR [dB] or rate [bit/s])."""

    def __init__(self, values: np.ndarray, kind: str = "snr") -> None:
        v = np.asarray(values, dtype=np.float64)
        self.values = v if v.ndim == 3 else v[:, :, None]
        self.n_clients = int(self.values.shape[1])
        self.n_subbands = int(self.values.shape[2])
        self.kind = kind

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        v = self.values[first_slot : first_slot + n_slots]
        if v.shape[0] != n_slots:
            raise IndexError(f"slots {first_slot}+{n_slots} beyond {self.values.shape[0]}")
        if self.kind == "snr":
            return ChannelBlock(first_slot, snr_db=v)
        return ChannelBlock(first_slot, rate_bps=v)


def grid_config(**overrides: object):
    """A 1 MHz channel of 10 RBs × 100 kHz, 1 ms slots, Shannon capped at 2 bit/s/Hz.

    At high SNR every RB carries 100e3 Hz · 1e-3 s · 2 = 200 bits, so a slot with
    all 10 RBs carries 2000 bits = 250 bytes. Packets are 100 bytes.
    """
    from dataclasses import replace

    from cosim.wireless.config import (
        FadingConfig,
        MacConfig,
        PacketConfig,
        ShannonLink,
        WirelessConfig,
    )

    cfg = WirelessConfig(
        bandwidth_hz=1e6,
        mac=MacConfig(slot_s=1e-3, num_rbs=10, rb_bandwidth_hz=100e3, scheduler="max_rate"),
        link=ShannonLink(max_spectral_efficiency=2.0),
        fading=FadingConfig(distribution="none", correlation="block"),
        packets=PacketConfig(mtu_bytes=100),
        channel_sample_every_slots=1,
    )
    return replace(cfg, **overrides)


def make_network(cfg, source, downlink_source=None, seed: int = 0):
    """A network over ``source`` with clients 100 m away (geometry unused by the source)."""
    import simpy

    from cosim.wireless.network import WirelessNetwork

    env = simpy.Environment()
    n = source.n_clients
    net = WirelessNetwork(
        env, cfg, np.full(n, 100.0), np.zeros(n), np.random.default_rng(seed),
        uplink_source=source, downlink_source=downlink_source,
    )  # fmt: skip
    return env, net
